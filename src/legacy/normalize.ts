// Turns a parsed legacy record into validated, typed values: applies the mapping (renames, value
// translations, stated defaults), checks every field, and keeps unknown fields as extras.
// A bad record yields the first failing field and a reason; nothing is coerced silently.
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { canonicalDecimal, canonicalTimestamp, hasSubMicrosecondDigits, utcMillis } from './canonical-values.js';
import { ExactDecimal, type ExactValue } from './exact-numbers.js';
import type { LegacyKind } from './kinds.js';

export interface ProjectValues {
  legacyId: string; key: string | null; name: string; description: string | null; owner: string | null;
  status: string; createdAt: string | null; updatedAt: string | null; extra: Record<string, unknown> | null;
}
export interface PhaseValues {
  legacyId: string; projectLegacyId: string; name: string; position: number | null; status: string;
  startsOn: string | null; endsOn: string | null; createdAt: string | null; updatedAt: string | null;
  extra: Record<string, unknown> | null;
}
export interface TaskValues {
  legacyId: string; projectLegacyId: string; phaseLegacyId: string | null; title: string; description: string | null;
  status: string; priority: string; type: string; assignee: string | null; reporter: string | null;
  estimateHours: string | null; dueOn: string | null; tags: string[] | null; dependsOn: string[] | null;
  createdAt: string | null; updatedAt: string | null; extra: Record<string, unknown> | null;
}
export interface DependencyValues { taskLegacyId: string; dependsOnLegacyId: string }

export interface KindValues { projects: ProjectValues; phases: PhaseValues; tasks: TaskValues; task_dependencies: DependencyValues }

export type Normalized<T> = { ok: true; value: T } | { ok: false; field: string | null; reason: string; legacyId: string | null };

// ---- field types -------------------------------------------------------------------------------
// Each field is one check that validates and converts in a single pass. This runs for every legacy
// record (millions), so the checks are plain functions: through zod's object machinery the same
// checks cost 7 µs a task record, as plain calls under 1 µs (measured; see README "Performance").

class Invalid {
  constructor(readonly message: string) {}
}
const invalid = (message: string) => new Invalid(message);

type FieldCheck<T> = (value: unknown) => T | Invalid;
const field = <T>(check: FieldCheck<T>): FieldCheck<T> => check;

const NUL = '\u0000';
const NUL_MESSAGE = 'contains a NUL character, which Postgres text cannot store';
const SURROGATE_MESSAGE = 'contains an unpaired UTF-16 surrogate (a character cut in half), which is not valid Unicode';
const NUMBER_RANGE_MESSAGE = 'holds a number beyond the range of a double (JSON readers make it Infinity), which jsonb cannot store';
const isBlank = (v: unknown) => v === undefined || v === null;
/** Of two legacy fields giving one field, one holding this gives way to the other (JSON's "" is no value in most fields, and at most empty text). */
export const givesWay = (v: unknown) => v === undefined || v === null || v === '';

/** Why a text cannot be stored as it is, or null. */
function textProblem(s: string): string | null {
  if (s.includes(NUL)) return NUL_MESSAGE;
  return s.isWellFormed() ? null : SURROGATE_MESSAGE;
}

/**
 * How deep an extra value may nest. Far deeper than any real export, yet bounded: code that walks a value
 * recursively (JSON.stringify, Postgres's jsonb parser, comparisons on read-back) overflows its stack on a
 * 10 KB value of 5000 nested arrays, and that failed the record's whole chunk, every attempt.
 */
export const MAX_NESTING = 100;
const NESTING_MESSAGE = `nests arrays or objects more than ${MAX_NESTING} levels deep, which is not stored (no real export nests so deep)`;

/** The first extra value (walking into objects and arrays, without recursion) that cannot be stored, with the reason. */
function extraProblem(value: unknown): string | null {
  // [value, its depth, the key it is under]: popped in document order, a key checked before its value.
  const pending: [unknown, number, string | null][] = [[value, 1, null]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, depth, key] = next;
    const keyProblem = key === null ? null : textProblem(key);
    if (keyProblem) return keyProblem;
    if (typeof item === 'string') {
      const p = textProblem(item);
      if (p) return p;
    } else if (typeof item === 'number') {
      if (!Number.isFinite(item)) return NUMBER_RANGE_MESSAGE;
    } else if (item instanceof ExactDecimal) {
      if (item.canonical === null) return `holds a number with an exponent beyond ±1000 (${item.text.length > 40 ? `${item.text.slice(0, 40)}…` : item.text}), which is not stored`;
    } else if (item !== null && typeof item === 'object') {
      if (depth > MAX_NESTING) return NESTING_MESSAGE;
      if (Array.isArray(item)) {
        for (let i = item.length - 1; i >= 0; i--) pending.push([item[i], depth + 1, null]);
      } else {
        const entries = Object.entries(item);
        for (let i = entries.length - 1; i >= 0; i--) pending.push([entries[i]![1], depth + 1, entries[i]![0]]);
      }
    }
  }
  return null;
}

/** Optional text, refused for the reason `problemOf` gives. */
const optionalTextChecked = (problemOf: (s: string) => string | null) => field((v) => {
  if (isBlank(v)) return null;
  if (typeof v !== 'string') return invalid(`must be text, got ${describe(v)}`);
  const problem = problemOf(v);
  return problem ? invalid(problem) : v;
});
const optionalText = optionalTextChecked(textProblem);
/** Optional text the new system indexes (assignee). */
const optionalIndexedText = optionalTextChecked((v) => textProblem(v) ?? indexedLengthProblem(v));
const requiredText = field((v) => {
  if (isBlank(v)) return invalid('is required');
  if (typeof v !== 'string') return invalid(`must be text, got ${describe(v)}`);
  if (v.trim() === '') return invalid('is required (it is empty)');
  const problem = textProblem(v);
  return problem ? invalid(problem) : v;
});
// A numeric id beyond 2^53 has already been rounded by JSON.parse (9007199254740993 reads as ...992):
// taking it would silently merge two records or attach a child to the wrong parent.
const UNSAFE_ID_MESSAGE = 'is a number too large to be read exactly (above 2^53, JSON readers round it); export ids as strings';

/**
 * The longest value (UTF-8 bytes) the new system indexes: ids (the legacy_id indexes) and assignee (a
 * user's open tasks). A btree entry holds at most 2704 bytes, so a longer value migrated fine and then
 * made `optimize` fail; it is a reject here, where prepare predicts it.
 */
export const MAX_INDEXED_BYTES = 2048;
/** Why a value the new system indexes is too long, or null. Cheap for the usual short values. */
function indexedLengthProblem(s: string): string | null {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most values need no count.
  if (s.length * 3 <= MAX_INDEXED_BYTES) return null;
  const bytes = Buffer.byteLength(s, 'utf8');
  return bytes > MAX_INDEXED_BYTES ? `is ${bytes} bytes long; the new system indexes it, and takes at most ${MAX_INDEXED_BYTES} bytes there` : null;
}

function idText(v: unknown): string | Invalid | null {
  if (isBlank(v)) return null;
  if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) return invalid(`${UNSAFE_ID_MESSAGE}, got ${describe(v)}`);
  if (typeof v !== 'string' && !(typeof v === 'number' && Number.isInteger(v))) return invalid(`must be a string or an integer, got ${describe(v)}`);
  const id = String(v).trim();
  const problem = textProblem(id) ?? indexedLengthProblem(id);
  if (problem) return invalid(problem);
  return id === '' ? null : id;
}
const legacyId = field((v) => {
  const id = idText(v);
  return id === null ? invalid(isBlank(v) ? 'is required' : 'is required (it is empty)') : id;
});
const optionalLegacyId = field(idText);

const enumOf = (values: readonly string[]) => field((v) => {
  if (isBlank(v)) return invalid('is required');
  return typeof v === 'string' && values.includes(v) ? v : invalid(`must be one of ${values.join(', ')}; got ${describe(v)}`);
});

const timestamp = field((v) => {
  if (isBlank(v)) return null;
  const canonical = typeof v === 'string' ? canonicalTimestamp(v) : null;
  if (canonical === null && typeof v === 'string' && hasSubMicrosecondDigits(v)) {
    // .NET writes 7 fractional digits: rounding the last away would change the value without a word.
    return invalid(`has more fractional second digits than the 6 (microseconds) Postgres keeps, got ${describe(v)}`);
  }
  return canonical ?? invalid(`must be an ISO 8601 timestamp, got ${describe(v)}`);
});

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const date = field((v) => {
  if (isBlank(v)) return null;
  return typeof v === 'string' && isCalendarDate(v) ? v : invalid(`must be a date YYYY-MM-DD, got ${describe(v)}`);
});

const NUMERIC_MAX_WHOLE_DIGITS = 131_072;
const NUMERIC_MAX_FRACTION_DIGITS = 16_383;
const nonNegativeNumber = field((v) => {
  if (isBlank(v)) return null;
  const canonical = typeof v === 'number' ? (Number.isFinite(v) ? canonicalDecimal(String(v)) : null) : typeof v === 'string' ? canonicalDecimal(v) : null;
  if (canonical === null) return invalid(`must be a number, got ${describe(v)}`);
  if (canonical.startsWith('-')) return invalid('must not be negative');
  // Postgres numeric's own bounds: beyond them the INSERT fails, and with it the record's whole chunk.
  const point = canonical.indexOf('.');
  const whole = point < 0 ? canonical.length : point;
  const fraction = point < 0 ? 0 : canonical.length - point - 1;
  if (whole > NUMERIC_MAX_WHOLE_DIGITS || fraction > NUMERIC_MAX_FRACTION_DIGITS) {
    return invalid(`has ${whole} digits before the decimal point and ${fraction} after; Postgres numeric stores at most ${NUMERIC_MAX_WHOLE_DIGITS} and ${NUMERIC_MAX_FRACTION_DIGITS}`);
  }
  return canonical;
});

/** An integer written as a float with a zero fraction ("3.0"). */
const FLOAT_INTEGER = /^([+-]?\d+)\.0+$/;
const integer = field((v) => {
  if (isBlank(v)) return null;
  // "3.0" is an integer as pandas writes one (a float column): JSON's 3.0 already reads as 3.
  const text = typeof v === 'number' || typeof v === 'string' ? String(v).trim().replace(FLOAT_INTEGER, '$1') : '';
  if (!/^[+-]?\d+$/.test(text)) return invalid(`must be an integer, got ${describe(v)}`);
  const n = Number(text);
  return Math.abs(n) < 2 ** 31 ? n : invalid('is out of the integer range');
});

// Lists are JSON arrays of strings, or (CSV) one text with ';' between items.
const stringList = (what: string) => field((v) => {
  if (isBlank(v)) return null;
  if (Array.isArray(v)) {
    const unsafe = (v as unknown[]).find((item) => typeof item === 'number' && Number.isInteger(item) && !Number.isSafeInteger(item));
    if (unsafe !== undefined) return invalid(`holds ${describe(unsafe)}, which ${UNSAFE_ID_MESSAGE}`);
  }
  const list = parseList(v);
  if (list === null) return invalid(`must be a list of ${what}, got ${describe(v)}`);
  for (const item of list) { const problem = textProblem(item); if (problem) return invalid(problem); }
  return list;
});

/** A list field as items: an array of strings or ids, or a ';'-separated text. Null if neither. */
export function parseList(v: unknown): string[] | null {
  const items = typeof v === 'string' ? v.split(';') : Array.isArray(v) ? (v as unknown[]) : null;
  if (!items) return null;
  const out: string[] = [];
  for (const item of items) {
    // A null item is an empty one (`[null]` is what a SQL json_agg over an outer join gives for none).
    if (item === null) continue;
    // An integer beyond 2^53 is kept (as read): the task is rejected for it (stringList), and its edges
    // are counted and rejected with it, like every edge a parseable task declares.
    if (typeof item !== 'string' && !(typeof item === 'number' && Number.isInteger(item))) return null;
    const text = String(item).trim();
    if (text !== '') out.push(text);
  }
  return out;
}

// ---- record schemas (keys are taskfleet field names, after the mapping's renames) ---------------

const common = { created_at: timestamp, updated_at: timestamp };
const SCHEMAS = {
  projects: ({
    id: legacyId, key: optionalText, name: requiredText, description: optionalText, owner: optionalText,
    status: enumOf(['active', 'on_hold', 'archived']), ...common,
  }),
  phases: ({
    id: legacyId, project_id: legacyId, name: requiredText, position: integer,
    status: enumOf(['planned', 'active', 'completed']), starts_on: date, ends_on: date, ...common,
  }),
  tasks: ({
    id: legacyId, project_id: legacyId, phase_id: optionalLegacyId, title: requiredText, description: optionalText,
    status: enumOf(['todo', 'in_progress', 'blocked', 'review', 'done', 'cancelled']),
    priority: enumOf(['low', 'medium', 'high', 'critical']), type: requiredText,
    assignee: optionalIndexedText, reporter: optionalText, estimate_hours: nonNegativeNumber, due_on: date,
    tags: stringList('tags'), depends_on: stringList('task ids'), ...common,
  }),
  task_dependencies: ({ task_id: legacyId, depends_on_id: legacyId }),
} as const satisfies Record<LegacyKind, Record<string, FieldCheck<unknown>>>;

/** Why `value` (a mapping's default or translation) is not a valid value of this field, or null. */
export function fieldValueProblem(kind: LegacyKind, field: string, value: string): string | null {
  const check = (SCHEMAS[kind] as Record<string, FieldCheck<unknown> | undefined>)[field];
  const result = check?.(value);
  return result instanceof Invalid ? result.message : null;
}

export const KNOWN_FIELDS: Record<LegacyKind, ReadonlySet<string>> = {
  projects: new Set(Object.keys(SCHEMAS.projects)),
  phases: new Set(Object.keys(SCHEMAS.phases)),
  tasks: new Set(Object.keys(SCHEMAS.tasks)),
  task_dependencies: new Set(Object.keys(SCHEMAS.task_dependencies)),
};

// ---- the normalizer -------------------------------------------------------------------------------

/**
 * A rename onto `legacy_extra.NAME` moves a legacy field aside: kept in legacy_extra as NAME, so it gives
 * no taskfleet field (e.g. Jira's numeric id when its key gives the id: `key: id, id: legacy_extra.jira_id`).
 */
export const EXTRA_PREFIX = 'legacy_extra.';

/**
 * `exact`: the members whose numbers JSON.parse changed, re-read as written (RawRecord.exactNumbers): read
 * in their place in numeric fields and in legacy_extra.
 */
export type Normalizer<K extends LegacyKind> = (raw: Record<string, unknown>, exact?: ReadonlyMap<string, ExactValue>) => Normalized<KindValues[K]>;

export function createNormalizer<K extends LegacyKind>(kind: K, mapping: LegacyMapping): Normalizer<K> {
  const renames: Record<string, string> = mapping.fields[kind] ?? {};
  // Maps, not the mapping's plain objects: a legacy value or field name such as "constructor" must not
  // find Object.prototype's members.
  const renameOf = new Map(Object.entries(renames));
  const tables: Record<string, Record<string, string>> = mapping.values[kind] ?? {};
  const translations: [string, Map<string, string>][] = Object.entries(tables).map(([f, table]) => [f, new Map(Object.entries(table))]);
  const defaults: [string, string][] = Object.entries(mapping.defaults[kind] ?? {});
  const known = KNOWN_FIELDS[kind];
  const checks = Object.entries(SCHEMAS[kind] as Record<string, FieldCheck<unknown>>);
  const idField = kind === 'task_dependencies' ? 'task_id' : 'id';
  const build = BUILDERS[kind] as (v: Record<string, unknown>, extra: Record<string, unknown> | null) => KindValues[K];

  const names = checks.map(([name]) => name);
  const fns = checks.map(([, check]) => check);
  // The numeric fields, which read a number's exact text where JSON.parse changed it (exact-numbers.ts).
  const exactFields = new Set(checks.filter(([, check]) => check === integer || check === nonNegativeNumber).map(([name]) => name));
  const defaultOf = new Map(defaults);
  const hasRenames = renameOf.size > 0;
  // Fields moved aside (legacy name -> its name in legacy_extra), and those names: only a move, or a field
  // of the record under a moved-to name, can meet another field in legacy_extra.
  const movedTo = new Map<string, string>();
  for (const [legacyName, target] of renameOf) if (target.startsWith(EXTRA_PREFIX)) movedTo.set(legacyName, target.slice(EXTRA_PREFIX.length));
  const movedNames = new Set(movedTo.values());
  const hasMoves = movedTo.size > 0;

  // Hot path (every legacy record): plain loops, no intermediate arrays.
  return (raw, exact) => {
    const fields: Record<string, unknown> = {};
    let extra: Record<string, unknown> | null = null;
    /** Two legacy fields giving one target: [the first, the second, what they give]. */
    let conflict: [string, string, string] | null = null;
    // With renames, the legacy name each field was read from (for rejects): see sourceNames.
    const from: Record<string, string> | null = hasRenames ? {} : null;
    let movedFrom: Map<string, string> | null = null;
    for (const legacyName in raw) {
      const name = hasRenames ? renameOf.get(legacyName) ?? legacyName : legacyName;
      if (known.has(name)) {
        if (from && name in fields) {
          // Two legacy fields giving one field (a renamed one and one already of that name): keeping
          // either would silently drop the other. One with no value (or empty text) gives way to the other.
          if (!givesWay(raw[legacyName]) && !givesWay(fields[name])) conflict ??= [from[name]!, legacyName, `the ${kind} field ${name}`];
          if (givesWay(raw[legacyName])) continue;
        }
        const exactValue = exact !== undefined && exactFields.has(name) ? exact.get(legacyName) : undefined;
        fields[name] = exactValue instanceof ExactDecimal ? exactValue.text : raw[legacyName];
        if (from) from[name] = legacyName;
      } else if (hasMoves && (movedTo.has(legacyName) || movedNames.has(legacyName))) {
        // Two legacy fields onto one name in legacy_extra (a moved one and one of that name): as above.
        const extraName = movedTo.get(legacyName) ?? legacyName;
        if (extra && Object.hasOwn(extra, extraName)) {
          if (givesWay(raw[legacyName])) continue;
          if (!givesWay(extra[extraName])) conflict ??= [movedFrom!.get(extraName)!, legacyName, `${EXTRA_PREFIX}${extraName}`];
        }
        (movedFrom ??= new Map()).set(extraName, legacyName);
        setOwn((extra ??= {}), extraName, exact?.get(legacyName) ?? raw[legacyName]);
      } else setOwn((extra ??= {}), legacyName, exact?.get(legacyName) ?? raw[legacyName]);
    }
    for (const [field, table] of translations) {
      const value = fields[field];
      // Only a scalar can match a table's key: an array or object goes on to its field's check (as
      // JSON text, a value nested deep enough overflowed JSON.stringify's stack here).
      if (value != null && typeof value !== 'object') {
        const text = scalarText(value).trim();
        // "3.0" is 3, as pandas writes an integer column with gaps (JSON's 3.0 already reads as 3).
        const translated = table.get(text) ?? (FLOAT_INTEGER.test(text) ? table.get(text.replace(/\.0+$/, '')) : undefined);
        if (translated !== undefined) fields[field] = translated;
      }
    }
    const rawId = fields[idField];
    const legacyIdText = rawId == null || typeof rawId === 'object' ? null : scalarText(rawId);
    if (conflict) {
      const [a, b, target] = conflict;
      return { ok: false, field: b, reason: `${a} and ${b} both give ${target} (see the mapping's fields): which one holds it is ambiguous`, legacyId: legacyIdText };
    }
    if (extra) {
      for (const [name, value] of Object.entries(extra)) {
        const problem = textProblem(name) ?? extraProblem(value);
        if (problem) return { ok: false, field: name, reason: `${name} ${problem}`, legacyId: legacyIdText };
      }
    }
    const checked: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      // Absent fields are "no value" (null), like JSON null and empty CSV fields; then the stated default.
      let value = fields[name] ?? null;
      if (value === null || value === '') value = defaultOf.get(name) ?? value;
      const result = fns[i]!(value);
      if (result instanceof Invalid) {
        const legacyField = from?.[name] ?? legacyNameOf(name, renames);
        // A field the record lacks, next to fields nobody knows: most likely a misspelt column or key.
        const hint = extra && fields[name] === undefined ? unknownFieldsHint(extra, movedNames)
          : fields[name] === MYSQL_NULL ? NULL_TEXT_HINT : '';
        return { ok: false, field: legacyField, reason: `${legacyField} ${result.message}${hint}`, legacyId: legacyIdText };
      }
      checked[name] = result;
    }
    return { ok: true, value: build(checked, extra) };
  };
}

// MySQL writes NULL as \N in a CSV export: a reject for it says how to read it as no value.
const MYSQL_NULL = '\\N';
const NULL_TEXT_HINT = "; \\N is MySQL's NULL: list it in the mapping (nullText: ['\\N']) to read it as no value";

function unknownFieldsHint(extra: Record<string, unknown>, moved: ReadonlySet<string>): string {
  // Fields the mapping moved aside are known to it.
  const names = Object.keys(extra).filter((name) => !moved.has(name));
  if (names.length === 0) return '';
  // Bounded: a key can be as long as the record.
  const shown = names.slice(0, 5).map((n) => (n.length > 40 ? `${n.slice(0, 40)}…` : n));
  const listed = shown.join(', ') + (names.length > 5 ? `, and ${names.length - 5} more` : '');
  return `; the record has fields the mapping does not know: ${listed} (a misspelt name, or one for --mapping to rename?)`;
}

const s = (v: unknown): string => v as string;
const sn = (v: unknown): string | null => (v ?? null) as string | null;

const BUILDERS: { [K in LegacyKind]: (v: Record<string, unknown>, extra: Record<string, unknown> | null) => KindValues[K] } = {
  projects: (v, extra) => ({
    legacyId: s(v.id), key: sn(v.key), name: s(v.name), description: sn(v.description), owner: sn(v.owner),
    status: s(v.status), createdAt: sn(v.created_at), updatedAt: sn(v.updated_at), extra,
  }),
  phases: (v, extra) => ({
    legacyId: s(v.id), projectLegacyId: s(v.project_id), name: s(v.name), position: (v.position ?? null) as number | null,
    status: s(v.status), startsOn: sn(v.starts_on), endsOn: sn(v.ends_on), createdAt: sn(v.created_at),
    updatedAt: sn(v.updated_at), extra,
  }),
  tasks: (v, extra) => ({
    legacyId: s(v.id), projectLegacyId: s(v.project_id), phaseLegacyId: sn(v.phase_id), title: s(v.title),
    description: sn(v.description), status: s(v.status), priority: s(v.priority), type: s(v.type),
    assignee: sn(v.assignee), reporter: sn(v.reporter), estimateHours: sn(v.estimate_hours), dueOn: sn(v.due_on),
    tags: (v.tags ?? null) as string[] | null, dependsOn: (v.depends_on ?? null) as string[] | null,
    createdAt: sn(v.created_at), updatedAt: sn(v.updated_at), extra,
  }),
  task_dependencies: (v) => ({ taskLegacyId: s(v.task_id), dependsOnLegacyId: s(v.depends_on_id) }),
};

/**
 * The legacy names a taskfleet field is read from under this mapping, in order: the one renamed onto it
 * (at most one: the mapping refuses two), then its own name unless that is renamed to another field.
 * A record where two of them hold a value is rejected (normalize); otherwise the one with a value gives
 * the field. Readers of raw records (declared edges, prepare's warnings) read through it alike.
 */
export function sourceNames(mapping: LegacyMapping, kind: LegacyKind, field: string): string[] {
  const renames = mapping.fields[kind] ?? {};
  const names = Object.entries(renames).filter(([, target]) => target === field).map(([legacy]) => legacy);
  if (!Object.hasOwn(renames, field)) names.push(field);
  return names;
}

/** A field of a raw record read through its source names: the first that holds a value (else undefined). */
export function rawFieldValue(raw: Record<string, unknown>, names: readonly string[]): unknown {
  if (names.length === 1) return raw[names[0]!];
  let value: unknown;
  for (const name of names) {
    const v = raw[name];
    if (!givesWay(v)) return v;
    value ??= v;
  }
  return value;
}

/** The name a taskfleet field has in the legacy files under this mapping. */
export function legacyFieldName(mapping: LegacyMapping, kind: LegacyKind, field: string): string {
  return legacyNameOf(field, mapping.fields[kind] ?? {});
}

function legacyNameOf(field: string, renames: Record<string, string>, except?: string): string {
  for (const [legacyName, name] of Object.entries(renames)) if (name === field && legacyName !== except) return legacyName;
  return field;
}

/** obj[key] = value, also for the key "__proto__" (an assignment would set the object's prototype instead). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** A JSON scalar as text (objects and arrays as JSON). */
function scalarText(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return 'a number beyond the range of a double';
  let shown: string;
  try {
    shown = JSON.stringify(value);
  } catch {
    // Nested deeper than JSON.stringify's stack: the field's check rejects it all the same.
    return Array.isArray(value) ? 'an array nested too deep to show' : 'an object nested too deep to show';
  }
  return shown.length > 60 ? `${shown.slice(0, 57)}...` : shown;
}

function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1) return false; // ISO year 0000 is 1 BC: Postgres has no year 0
  const dt = new Date(utcMillis(y, mo, d, 0, 0, 0));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === mo - 1 && dt.getUTCDate() === d;
}
