/**
 * The public API of units/: the unit-file model of fleet-ts. Pure: nothing here performs I/O.
 * Import from 'units/index.js' rather than from the files behind it.
 */
export type { ParsedUnit, ParseWarning, UnitOption } from './types.js';

// The grammar and the content hash.
export {
  DEFAULT_MAX_BYTES,
  LONG_LINE_MAX,
  UNIT_TYPES,
  UnitParseError,
  isUnitType,
  knownSections,
  lastValue,
  listValues,
  parseUnitFile,
  type ParseOptions,
  type ParseResult,
  type ParseWarningCode,
  type UnitParseErrorCode,
  type UnitType,
} from './parse.js';
export { canonicalUnitText, unitHash, type UnitHashAlgorithm } from './canonical.js';
export { isExtensionSection } from './sections.js';

// Names, escaping, specifiers.
export {
  InvalidUnitNameError,
  UNIT_NAME_MAX_LENGTH,
  UNIT_SUFFIXES,
  UnitEscapeError,
  escapeName,
  escapePath,
  instanceName,
  instanceOf,
  isInstance,
  isTemplate,
  isValidUnitName,
  parseUnitName,
  prefixOf,
  templateOf,
  unescapeName,
  unescapePath,
  unitNameProblem,
  validateUnitName,
  type UnitNameInfo,
  type UnitNameKind,
  type UnitSuffix,
} from './names.js';
export {
  SUPPORTED_SPECIFIERS,
  expandSpecifiers,
  expandWith,
  specifierValues,
  specifiersIn,
  type SpecifierExpansion,
  type SpecifierValues,
} from './specifiers.js';

// [X-Fleet] requirements and the pure matchers the scheduler uses.
export {
  X_FLEET_OPTIONS,
  X_FLEET_SECTION,
  emptyRequirements,
  isTruthy,
  readXFleet,
  splitMultiValue,
  type FleetRequirements,
  type RequirementSources,
  type XFleetResult,
} from './x-fleet.js';
export { checkCombinations } from './x-fleet-rules.js';
export { GlobPatternError, globMatch, globProblem } from './glob.js';
export {
  metadataMatches,
  parseMetadataPair,
  type MetadataPair,
  type MetadataRequirements,
  type MetadataVerdict,
} from './metadata.js';
export {
  SHORT_MACHINE_ID_LENGTH,
  conflictBetween,
  machineIdMatches,
  replaceBetween,
  type UnitGlobs,
} from './matchers.js';
export { ProblemCode, problem, type UnitProblem } from './problems.js';

// Everything at once.
export { loadUnit, type LoadOptions, type LoadedUnit } from './load.js';
export { socketTarget } from './socket.js';
