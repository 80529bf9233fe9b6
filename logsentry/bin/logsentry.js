#!/usr/bin/env -S node --max-semi-space-size=32
// --max-semi-space-size=32: a big run allocates a string and an answer per log line, most of them
// short-lived; V8's default young generation promoted and re-collected them (measured: 0.4-0.6 s of
// a million-line run). V8 grows the young generation only as far as a run needs, so small runs are
// unaffected. (env -S: coreutils 8.30 or later, Debian 10 on.)
import { main } from '../dist/src/cli.js';
process.exitCode = await main(process.argv.slice(2));
