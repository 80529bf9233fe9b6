/** Response adapters: the native firewall backends (see firewall.ts for the contract). */
export * from './firewall.js';
export * from './fastpath.js';
