// Matching many log lines against one RE2::Set per call (logsentry's hot loop). node-re2 answers
// one line per call: a quarter of a µs of binding overhead and a fresh JS array per line, then the
// garbage of a million arrays. Here one call runs the set over a block of lines lying in one
// buffer and writes the answers into a flat Int32Array the caller owns.
//
//   compile(patterns: string[], maxMem: number) -> handle       (throws, naming the pattern)
//   match(handle, bytes: Uint8Array, offs: Uint32Array, from, to, starts: Uint32Array, out: Int32Array) -> lines done
//
// Line k is bytes[offs[k], offs[k + 1] - 1) (each line followed by one separator byte). For the
// j-th line decided, its matching pattern indexes (ascending) are out[starts[j], starts[j + 1]).
// A call stops early when `out` has no room for the next line's answer; the caller calls again.
#include <node_api.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Batch {
  std::unique_ptr<re2::RE2::Set> set;
  int size = 0;
};

napi_value Throw(napi_env env, const std::string& message) {
  napi_throw_error(env, nullptr, message.c_str());
  return nullptr;
}

void Finalize(napi_env, void* data, void*) { delete static_cast<Batch*>(data); }

bool Text(napi_env env, napi_value v, bool latin1, std::string* out) {
  size_t len = 0;
  auto get = latin1 ? napi_get_value_string_latin1 : napi_get_value_string_utf8;
  if (get(env, v, nullptr, 0, &len) != napi_ok) return false;
  out->resize(len + 1);
  if (get(env, v, &(*out)[0], len + 1, &len) != napi_ok) return false;
  out->resize(len);
  return true;
}

napi_value Compile(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool latin1 = false;
  if (argc >= 3) napi_get_value_bool(env, argv[2], &latin1);
  bool isArray = false;
  if (argc < 2 || napi_is_array(env, argv[0], &isArray) != napi_ok || !isArray) return Throw(env, "compile(patterns, maxMem): patterns must be an array");
  double maxMem = 0;
  if (napi_get_value_double(env, argv[1], &maxMem) != napi_ok || maxMem < 1) return Throw(env, "compile(patterns, maxMem): maxMem must be a positive number");
  uint32_t n = 0;
  napi_get_array_length(env, argv[0], &n);
  re2::RE2::Options opts;
  opts.set_encoding(latin1 ? re2::RE2::Options::EncodingLatin1 : re2::RE2::Options::EncodingUTF8);
  opts.set_log_errors(false);
  opts.set_max_mem(static_cast<int64_t>(maxMem));
  auto batch = std::make_unique<Batch>();
  batch->set = std::make_unique<re2::RE2::Set>(opts, re2::RE2::UNANCHORED);
  std::string src;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_get_element(env, argv[0], i, &v);
    if (!Text(env, v, latin1, &src)) return Throw(env, "compile: pattern " + std::to_string(i) + " is not a string");
    std::string error;
    if (batch->set->Add(src, &error) < 0) return Throw(env, "compile: pattern " + std::to_string(i) + ": " + error);
  }
  if (!batch->set->Compile()) return Throw(env, "compile: the set's automaton does not fit in maxMem");
  batch->size = static_cast<int>(n);
  napi_value handle;
  Batch* raw = batch.release();
  if (napi_create_external(env, raw, Finalize, nullptr, &handle) != napi_ok) {
    delete raw;
    return Throw(env, "compile: cannot create the handle");
  }
  return handle;
}

template <typename T>
bool TypedArray(napi_env env, napi_value v, napi_typedarray_type want, T** data, size_t* length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  void* p = nullptr;
  napi_value ab;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &type, length, &p, &ab, &offset) != napi_ok || type != want) return false;
  *data = static_cast<T*>(p);
  return true;
}

napi_value Match(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 7) return Throw(env, "match(handle, bytes, offs, from, to, starts, out): 7 arguments");
  Batch* batch = nullptr;
  if (napi_get_value_external(env, argv[0], reinterpret_cast<void**>(&batch)) != napi_ok || batch == nullptr) return Throw(env, "match: not a compiled set");
  uint8_t* bytes;
  uint32_t* offs;
  uint32_t* starts;
  int32_t* out;
  size_t nBytes, nOffs, nStarts, nOut;
  if (!TypedArray(env, argv[1], napi_uint8_array, &bytes, &nBytes)) return Throw(env, "match: bytes must be a Uint8Array");
  if (!TypedArray(env, argv[2], napi_uint32_array, &offs, &nOffs)) return Throw(env, "match: offs must be a Uint32Array");
  if (!TypedArray(env, argv[5], napi_uint32_array, &starts, &nStarts)) return Throw(env, "match: starts must be a Uint32Array");
  if (!TypedArray(env, argv[6], napi_int32_array, &out, &nOut)) return Throw(env, "match: out must be an Int32Array");
  double fromD = 0, toD = 0;
  napi_get_value_double(env, argv[3], &fromD);
  napi_get_value_double(env, argv[4], &toD);
  if (!(fromD >= 0 && toD >= fromD && toD < static_cast<double>(nOffs))) return Throw(env, "match: from/to out of range");
  size_t from = static_cast<size_t>(fromD), to = static_cast<size_t>(toD);
  if (nStarts < to - from + 1) return Throw(env, "match: starts too short");
  std::vector<int> v;
  v.reserve(batch->size);
  size_t pos = 0;
  size_t k = from;
  starts[0] = 0;
  for (; k < to; k++) {
    uint32_t a = offs[k], b = offs[k + 1];
    if (b <= a || b > nBytes) return Throw(env, "match: line " + std::to_string(k) + " outside the bytes");
    v.clear();
    re2::RE2::Set::ErrorInfo error;
    if (!batch->set->Match(re2::StringPiece(reinterpret_cast<const char*>(bytes + a), b - 1 - a), &v, &error) && error.kind != re2::RE2::Set::kNoError) {
      return Throw(env, "match: RE2 failed on line " + std::to_string(k) + (error.kind == re2::RE2::Set::kOutOfMemory ? " (out of memory)" : ""));
    }
    if (pos + v.size() > nOut) break;
    std::sort(v.begin(), v.end());
    for (int i : v) out[pos++] = i;
    starts[k - from + 1] = static_cast<uint32_t>(pos);
  }
  napi_value done;
  napi_create_uint32(env, static_cast<uint32_t>(k - from), &done);
  return done;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "compile", NAPI_AUTO_LENGTH, Compile, nullptr, &fn);
  napi_set_named_property(env, exports, "compile", fn);
  napi_create_function(env, "match", NAPI_AUTO_LENGTH, Match, nullptr, &fn);
  napi_set_named_property(env, exports, "match", fn);
  return exports;
}
