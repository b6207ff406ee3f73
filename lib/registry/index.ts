/** lib/registry: THE etcd key schema of fleet-ts, its typed records, writes and streams. */
export * from './errors.js';
export * from './keys.js';
export * from './records.js';
export * from './registry.js';
export * from './stream.js';
export * from './txn.js';
export { defaultUnitBodyCheck } from './unit-check.js';
export * from './leadership.js';
export * from './range.js';
