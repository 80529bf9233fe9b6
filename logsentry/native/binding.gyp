{
  "targets": [
    {
      "target_name": "re2batch",
      "sources": ["re2batch.cc"],
      "cflags_cc": ["-O2", "-std=c++17"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-lre2"]
    }
  ]
}
