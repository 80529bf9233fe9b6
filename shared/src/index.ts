/**
 * @trisentry/shared — the one layer the three sentries stand on.
 * Everything public is re-exported here; other workspaces import only from this entry point.
 */
export * from './errors.js';
export * from './net/index.js';
export * from './config/index.js';
export * from './syslog/index.js';
export * from './exec/index.js';
export * from './fs/index.js';
export * from './lifecycle/index.js';
export * from './logread/index.js';
