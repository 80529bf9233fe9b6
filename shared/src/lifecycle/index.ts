export { installLifecycle, type Lifecycle, type LifecycleHooks } from './signals.js';
