/** Addresses and address sets: strict parsing, canonical printing, fast prefix matching. */
export { IpAddress, parseAddress, tryParseAddress, addressFromBytes, formatAddress, parsePrefix, tryParsePrefix, makePrefix, unmapPrefix, formatPrefix, prefixContains } from './ip.js';
export type { IpFamily, IpPrefix } from './ip.js';
export { AddressSet } from './addressset.js';
export type { ReadonlyAddressSet } from './addressset.js';
