export { writeFileAtomic, writeJsonAtomic, readJsonState, acquireLock, isProcessAlive, type AtomicWriteOptions, type Lock } from './atomic.js';
