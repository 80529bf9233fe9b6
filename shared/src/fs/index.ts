export { writeFileAtomic, writeJsonAtomic, readJsonState, acquireLock, type AtomicWriteOptions, type Lock } from './atomic.js';
