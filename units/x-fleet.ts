/**
 * The [X-Fleet] section read into typed requirements, with fleet's semantics (job/job.go,
 * unit/unit.go). Pure: no I/O.
 *
 * - Every value may be a quoted list: `"a=b" "c=d"` (only when it starts AND ends with `"`; spaces
 *   outside quotes separate items; quotes are dropped). Otherwise the value is one item.
 * - `%n %N %p %i %%` are expanded from the unit name (not for templates: they stay as written).
 * - MachineID: the first value wins, looking at MachineID, then X-ConditionMachineID, then the
 *   legacy X-ConditionMachineBootID. Full ID or 8-character short ID.
 * - MachineOf (+ X-ConditionMachineOf), Conflicts (+ X-Conflicts), Replaces: lists; Conflicts and
 *   Replaces are globs (see glob.ts).
 * - MachineMetadata (+ X-ConditionMachineMetadata): `key=value` pairs; same key = OR, different
 *   keys = AND; a malformed pair is ignored with a warning. Beyond fleet: `key!=value`.
 * - Global: the last value wins; true/yes/1/on/t (any case) mean true.
 * - Any other option in [X-Fleet] is refused, as fleet's ValidateRequirements does.
 * Which combinations fleet refuses is in x-fleet-rules.ts.
 */
import { globProblem } from './glob.js';
import { isValidUnitName, parseUnitName, unitNameProblem } from './names.js';
import { parseMetadataPair } from './metadata.js';
import { problem, ProblemCode, type UnitProblem } from './problems.js';
import { expandWith, type SpecifierValues } from './specifiers.js';
import type { UnitOption } from './types.js';
import { checkCombinations } from './x-fleet-rules.js';

export const X_FLEET_SECTION = 'X-Fleet';

/** What a unit asks of the scheduler. The shape of `fleetctl verify --json`'s "requirements". */
export interface FleetRequirements {
  global: boolean;
  /** A full machine ID or its 8-character short form; null when the unit may run anywhere. */
  machineId: string | null;
  /** Units this unit must run next to (exact names). */
  machineOf: string[];
  /** Globs of units this unit must not share a machine with. */
  conflicts: string[];
  /** Globs of units this unit displaces from the machine it is placed on. */
  replaces: string[];
  /** key -> accepted values (OR within a key, AND across keys). */
  machineMetadata: Record<string, string[]>;
  /** key -> excluded values (beyond fleet). */
  machineMetadataNot: Record<string, string[]>;
}

/** Where each requirement came from, for messages that point at a line. */
export interface RequirementSources {
  machineId: number | null;
  machineOf: ReadonlyMap<string, number>;
  conflicts: ReadonlyMap<string, number>;
  replaces: ReadonlyMap<string, number>;
  global: number | null;
}

/** RequirementSources while readXFleet fills them in. */
interface SourcesBeingRead extends RequirementSources {
  machineOf: Map<string, number>;
  conflicts: Map<string, number>;
  replaces: Map<string, number>;
}

export interface XFleetResult {
  requirements: FleetRequirements;
  sources: Readonly<RequirementSources>;
  errors: UnitProblem[];
  warnings: UnitProblem[];
}

type Target = 'machineId' | 'machineOf' | 'conflicts' | 'replaces' | 'machineMetadata' | 'global';

interface KeySpec {
  target: Target;
  /** Lower numbers are read first (fleet reads legacy names before modern ones for lists). */
  order: number;
  /** The modern name, for deprecated keys. */
  modern?: string;
  note?: string;
}

/** Every option name fleet accepts in [X-Fleet] (job.go validRequirements). */
export const X_FLEET_OPTIONS: Readonly<Record<string, KeySpec>> = {
  MachineID: { target: 'machineId', order: 0 },
  'X-ConditionMachineID': { target: 'machineId', order: 1, modern: 'MachineID' },
  'X-ConditionMachineBootID': {
    target: 'machineId',
    order: 2,
    modern: 'MachineID',
    note: 'a boot ID changes at every boot, so this rarely does what was meant',
  },
  'X-ConditionMachineOf': { target: 'machineOf', order: 0, modern: 'MachineOf' },
  MachineOf: { target: 'machineOf', order: 1 },
  'X-Conflicts': { target: 'conflicts', order: 0, modern: 'Conflicts' },
  Conflicts: { target: 'conflicts', order: 1 },
  Replaces: { target: 'replaces', order: 0 },
  'X-ConditionMachineMetadata': { target: 'machineMetadata', order: 0, modern: 'MachineMetadata' },
  MachineMetadata: { target: 'machineMetadata', order: 1 },
  Global: { target: 'global', order: 0 },
};

/** Used to scan a value for unsupported specifiers without expanding it. */
const KEEP_SPECIFIERS: SpecifierValues = { n: '%n', N: '%N', p: '%p', i: '%i' };
const TRUE_VALUES = new Set(['true', 'yes', '1', 'on', 't']);
const FALSE_VALUES = new Set(['false', 'no', '0', 'off', 'f']);
const MACHINE_ID = /^(?:[0-9a-f]{32}|[0-9a-f]{8})$/;

/** fleet's isTruthyValue: true/yes/1/on/t in any case. */
export function isTruthy(value: string): boolean {
  return TRUE_VALUES.has(value.toLowerCase());
}

/**
 * fleet's parseMultivalueLine: a value that starts and ends with `"` is a list of quoted items
 * separated by spaces; any other value is one item. Empty items (from repeated spaces) are dropped.
 */
export function splitMultiValue(value: string): string[] {
  if (!(value.startsWith('"') && value.endsWith('"'))) return [value];
  const items: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ' ' && !quoted) {
      items.push(current);
      current = '';
    } else current += ch;
  }
  items.push(current);
  return items.filter((item) => item !== '');
}

interface Item {
  option: string;
  spec: KeySpec;
  value: string;
  line: number;
}

export function emptyRequirements(): FleetRequirements {
  return {
    global: false,
    machineId: null,
    machineOf: [],
    conflicts: [],
    replaces: [],
    machineMetadata: {},
    machineMetadataNot: {},
  };
}

/** What a unit without [X-Fleet] options requires: nothing. Frozen, shared by all such units. */
const NO_REQUIREMENTS: FleetRequirements = Object.freeze({
  global: false,
  machineId: null,
  machineOf: Object.freeze([]) as unknown as string[],
  conflicts: Object.freeze([]) as unknown as string[],
  replaces: Object.freeze([]) as unknown as string[],
  machineMetadata: Object.freeze({}),
  machineMetadataNot: Object.freeze({}),
});

function emptySources(): SourcesBeingRead {
  return { machineId: null, machineOf: new Map(), conflicts: new Map(), replaces: new Map(), global: null };
}

/** The sources of NO_REQUIREMENTS: none (shared, read-only). */
const NO_SOURCES: Readonly<RequirementSources> = Object.freeze(emptySources());

/** An option of [X-Fleet], or of a section named so in another case (warned about below). */
function mayBeXFleet(opt: UnitOption): boolean {
  return (
    opt.section.length === X_FLEET_SECTION.length &&
    opt.section.toLowerCase() === X_FLEET_SECTION.toLowerCase()
  );
}

function pushUnique(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

/**
 * Reads the [X-Fleet] options of a unit named `unitName` (null when the name is unknown or
 * invalid: specifiers then stay as written). Never throws on any input.
 */
export function readXFleet(options: readonly UnitOption[], unitName: string | null): XFleetResult {
  if (!options.some(mayBeXFleet)) {
    // Most units have no [X-Fleet] section: nothing to read, and one shared empty requirement set.
    return { requirements: NO_REQUIREMENTS, sources: NO_SOURCES, errors: [], warnings: [] };
  }
  const errors: UnitProblem[] = [];
  const warnings: UnitProblem[] = [];
  const values: SpecifierValues | null = specifierSource(unitName);
  const items: Item[] = [];
  const warnedSections = new Set<string>();

  for (const opt of options) {
    if (opt.section !== X_FLEET_SECTION) {
      if (mayBeXFleet(opt) && !warnedSections.has(opt.section)) {
        warnedSections.add(opt.section);
        warnings.push(
          problem(
            ProblemCode.IgnoredLine,
            opt.line,
            `section [${opt.section}] is not [${X_FLEET_SECTION}] (section names are case-sensitive): fleet ignores its options; rename it [${X_FLEET_SECTION}]`,
          ),
        );
      }
      continue;
    }
    const spec = X_FLEET_OPTIONS[opt.name];
    if (spec === undefined || !Object.hasOwn(X_FLEET_OPTIONS, opt.name)) {
      errors.push(
        problem(
          ProblemCode.UnknownOption,
          opt.line,
          `unrecognized option ${JSON.stringify(opt.name)} in [${X_FLEET_SECTION}]; fleet knows MachineID, MachineOf, MachineMetadata, Conflicts, Global and Replaces (and the legacy X-ConditionMachineID, X-ConditionMachineOf, X-ConditionMachineMetadata, X-Conflicts); option names are case-sensitive`,
        ),
      );
      continue;
    }
    if (spec.modern !== undefined) {
      warnings.push(
        problem(
          ProblemCode.DeprecatedOption,
          opt.line,
          `${opt.name} is deprecated since fleet 0.8.0; use ${spec.modern}=` +
            (spec.note ? ` (${spec.note})` : ''),
        ),
      );
    }
    const parts = splitMultiValue(opt.value);
    if (parts.length === 0 || (parts.length === 1 && parts[0]?.trim() === '')) {
      if (spec.target === 'global') {
        items.push({ option: opt.name, spec, value: '', line: opt.line });
      } else {
        warnings.push(
          problem(ProblemCode.EmptyValue, opt.line, `${opt.name}= has an empty value and is ignored`),
        );
      }
      continue;
    }
    for (const part of parts) {
      // Templates keep their specifiers, but unsupported ones are reported all the same.
      const expanded = expandWith(part, values ?? KEEP_SPECIFIERS);
      for (const spec of expanded.unsupported) {
        warnings.push(
          problem(
            ProblemCode.Specifier,
            opt.line,
            `${spec} in ${opt.name}= is not expanded by fleet (only %n %N %p %i and %%); it is kept as written`,
          ),
        );
      }
      items.push({ option: opt.name, spec, value: values === null ? part : expanded.value, line: opt.line });
    }
  }
  // fleet groups values by option name; for each requirement it reads its names in a fixed order.
  items.sort((a, b) => a.spec.order - b.spec.order);

  const requirements = emptyRequirements();
  const sources = emptySources();
  const metadata = new Map<string, string[]>();
  const metadataNot = new Map<string, string[]>();
  const metadataLines = new Map<string, number>();

  for (const item of items) {
    switch (item.spec.target) {
      case 'machineId':
        if (requirements.machineId === null) {
          requirements.machineId = item.value;
          sources.machineId = item.line;
          if (!MACHINE_ID.test(item.value) && !/%/.test(item.value)) {
            warnings.push(
              problem(
                ProblemCode.Value,
                item.line,
                `${item.option}=${item.value} does not look like a machine ID (32 lowercase hex characters, or the first 8 of them); see /etc/machine-id or fleetctl list-machines -l`,
              ),
            );
          }
        } else if (requirements.machineId !== item.value) {
          warnings.push(
            problem(
              ProblemCode.Value,
              item.line,
              `${item.option}=${item.value} is ignored: the unit already requires machine ${requirements.machineId} (the first MachineID wins)`,
            ),
          );
        }
        break;
      case 'machineOf':
      case 'conflicts':
      case 'replaces': {
        const list = requirements[item.spec.target];
        if (!list.includes(item.value)) {
          list.push(item.value);
          sources[item.spec.target].set(item.value, item.line);
        }
        // Left unexpanded (a template), a value with specifiers cannot be judged yet.
        const judged = values !== null || !item.value.includes('%');
        if (item.spec.target === 'machineOf') {
          if (judged) checkPeerName(item, errors);
        } else {
          const bad = globProblem(item.value);
          if (bad !== null) {
            warnings.push(
              problem(
                ProblemCode.BadGlob,
                item.line,
                `${item.option}=${item.value} is not a valid glob (${bad}); it matches no unit`,
              ),
            );
          } else if (judged && !/[*?[\\]/.test(item.value) && !isValidUnitName(item.value)) {
            warnings.push(
              problem(
                ProblemCode.Value,
                item.line,
                `${item.option}=${item.value} matches no unit: ${JSON.stringify(item.value)} is not a valid unit name and has no wildcard; did you mean ${item.value}.service or ${item.value}*?`,
              ),
            );
          }
        }
        break;
      }
      case 'machineMetadata': {
        const pair = parseMetadataPair(item.value);
        if (!pair.ok) {
          const several = item.value.includes(' ') && item.value.split('=').length > 2;
          warnings.push(
            problem(
              ProblemCode.MetadataPair,
              item.line,
              `${item.option} pair ${JSON.stringify(item.value)} is ignored: ${pair.reason}` +
                (several ? '; to give several pairs on one line, quote each one: "a=b" "c=d"' : ''),
            ),
          );
          break;
        }
        if (pair.key.trim() !== pair.key || pair.value.trim() !== pair.value) {
          warnings.push(
            problem(
              ProblemCode.MetadataPair,
              item.line,
              `${item.option} pair ${JSON.stringify(item.value)} has blanks around its key or value; fleet compares them as written, so key ${JSON.stringify(pair.key)} will not match a machine's ${JSON.stringify(pair.key.trim())}`,
            ),
          );
        }
        pushUnique(pair.negated ? metadataNot : metadata, pair.key, pair.value);
        metadataLines.set(`${pair.negated ? '!' : '='}${pair.key}\0${pair.value}`, item.line);
        break;
      }
      case 'global':
        requirements.global = isTruthy(item.value);
        sources.global = requirements.global ? item.line : null;
        if (!requirements.global && !FALSE_VALUES.has(item.value.toLowerCase()) && item.value !== '') {
          warnings.push(
            problem(
              ProblemCode.Value,
              item.line,
              `Global=${item.value} is not a boolean; fleet reads it as false (use true/yes/1/on/t or false/no/0/off/f)`,
            ),
          );
        }
        break;
    }
  }
  requirements.machineMetadata = Object.fromEntries(metadata);
  requirements.machineMetadataNot = Object.fromEntries(metadataNot);

  for (const [key, excluded] of metadataNot) {
    for (const value of excluded) {
      if (metadata.get(key)?.includes(value)) {
        errors.push(
          problem(
            ProblemCode.Unresolvable,
            metadataLines.get(`!${key}\0${value}`) ?? null,
            `unresolvable requirements: MachineMetadata asks for ${key}=${value} and ${key}!=${value}; remove one of them`,
          ),
        );
      }
    }
  }

  errors.push(...checkCombinations(requirements, sources, unitName));
  errors.sort(byLine);
  warnings.sort(byLine);
  return { requirements, sources, errors, warnings };
}

/** A MachineOf target must be a unit that can exist and be scheduled, or the unit never runs. */
function checkPeerName(item: Item, errors: UnitProblem[]): void {
  const why = unitNameProblem(item.value);
  if (why !== null) {
    errors.push(
      problem(
        ProblemCode.Unresolvable,
        item.line,
        `unresolvable requirements: ${item.option}=${item.value} is not a valid unit name (${why}), so no unit can ever be its target`,
      ),
    );
  } else if (parseUnitName(item.value).kind === 'template') {
    errors.push(
      problem(
        ProblemCode.Unresolvable,
        item.line,
        `unresolvable requirements: ${item.option}=${item.value} is a template, and templates never run; name an instance such as ${item.value.replace('@.', '@1.')}`,
      ),
    );
  }
}

function byLine(a: UnitProblem, b: UnitProblem): number {
  return (a.line ?? 0) - (b.line ?? 0);
}

/** The specifier values for a unit name, or null for templates and unknown/invalid names. */
function specifierSource(unitName: string | null): SpecifierValues | null {
  if (unitName === null || !isValidUnitName(unitName)) return null;
  const info = parseUnitName(unitName);
  if (info.kind === 'template') return null;
  return { n: info.fullName, N: info.name, p: info.prefix, i: info.instance };
}
