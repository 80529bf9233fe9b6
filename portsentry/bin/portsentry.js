#!/usr/bin/env node
// V8 compiles every function when its module loads (--no-lazy) instead of at its first call, so the
// first probe of a scan does not pay for compiling the detection and block path: the block lands
// ~0.7 ms sooner (bench/portsentry-reaction.mjs), for ~0.1 s more start-up and ~3 MB.
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--no-lazy');
const { main } = await import('../dist/src/cli.js');
process.exitCode = await main(process.argv.slice(2));
