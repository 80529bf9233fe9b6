/**
 * Config loading: typed, frozen YAML configs with layering and source positions; the classic
 * PortSentry/HostSentry `KEY="value"` files; address list files; human durations; port lists.
 */
export { parseDuration, formatDuration } from './duration.js';
export { parsePortListText, mergeRanges, portListHas } from './ports.js';
export type { PortRange } from './ports.js';
export { parseClassic, loadClassicFile } from './classic.js';
export type { ClassicEntry, ClassicConfig } from './classic.js';
export { parseAddressList, loadAddressListFile } from './addresslist.js';
export type { AddressList, AddressListEntry } from './addresslist.js';
export { readConfigText } from './read.js';
export { parseYamlText } from './yaml.js';
export type { ConfigNode, ConfigMapEntry, YamlParseResult } from './yaml.js';
export { s, readWithSchema, deepFreeze, isInvalid } from './schema.js';
export type { Field, FieldKind, FieldOptions, Infer, ObjectOf, Shape, ParseContext } from './schema.js';
export { parseLayers, loadLayeredConfig, loadCheckedConfig, findKeyPosition, layerFiles, mergeNodes, applyFlag } from './layers.js';
export type { ConfigFlag, ConfigSource, LoadedConfig, ConfigProblem } from './layers.js';
