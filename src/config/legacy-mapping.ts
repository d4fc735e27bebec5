// The legacy field mapping (config/legacy-mapping.yaml, and --mapping FILE laid over it): renames fields,
// translates enumerated values and states defaults. It is stored with the run, so every worker maps alike.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LEGACY_KINDS, type LegacyKind } from '../legacy/kinds.js';
import { EXTRA_PREFIX, fieldValueProblem, KNOWN_FIELDS } from '../legacy/normalize.js';
import { ConfigError } from './errors.js';
import { PACKAGE_ROOT } from './package-root.js';
import { describeYamlError } from './yaml-error.js';

const perKind = <T extends z.ZodType>(inner: T) =>
  z.object({ projects: inner, phases: inner, tasks: inner, task_dependencies: inner }).partial().strict();

// A file as written: in a file laid over the defaults, null removes a default value or a translation
// (a rename has nothing to remove: the shipped file renames nothing).
const mappingFileSchema = z.object({
  fields: perKind(z.record(z.string(), z.string())).default({}),
  values: perKind(z.record(z.string(), z.record(z.string(), z.string()).nullable())).default({}),
  defaults: perKind(z.record(z.string(), z.string().nullable())).default({}),
  timezone: z.literal('UTC').optional(),
  maxRecordBytes: z.number().int().min(1024).max(64 * 1024 * 1024).optional(),
  // \N is MySQL's NULL in a CSV export; "" already is no value.
  nullText: z.array(z.string().min(1, 'an empty field already means no value')
    // YAML reads "\N" in double quotes as the escape for U+0085 (next line), not as backslash-N.
    .refine((text) => !text.includes('\u0085'), 'this is U+0085: in YAML\'s double quotes \\N is an escape; write \'\\N\' in single quotes'))
    .max(20).nullable().optional(),
}).strict();

type PerKind<T> = Partial<Record<LegacyKind, T>>;

export interface LegacyMapping {
  /** Legacy field name -> taskfleet field name. */
  fields: PerKind<Record<string, string>>;
  /** Per taskfleet field: legacy value -> taskfleet value. */
  values: PerKind<Record<string, Record<string, string>>>;
  /** Per taskfleet field: the value of a missing or empty field. */
  defaults: PerKind<Record<string, string>>;
  timezone: 'UTC';
  maxRecordBytes: number;
  /**
   * CSV field texts read as no value, besides the empty field (e.g. MySQL's \N). Absent when none: the
   * mapping is part of a run's fingerprint, and runs planned before this setting must keep theirs.
   */
  nullText?: string[];
}

const EMPTY: LegacyMapping = { fields: {}, values: {}, defaults: {}, timezone: 'UTC', maxRecordBytes: 1024 * 1024 };

export const DEFAULT_MAPPING_FILE = join(PACKAGE_ROOT, 'config', 'legacy-mapping.yaml');

/** Entries of `over` replace those of `base`; a null entry removes it. */
function overlay<T>(base: Record<string, T> | undefined, over: Record<string, T | null> | undefined): Record<string, T> {
  const out: Record<string, T> = { ...base };
  for (const [key, value] of Object.entries(over ?? {})) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return out;
}

/**
 * A mapping document (`source` names it in errors) laid over `base` (none: a mapping of its own).
 * Every taskfleet field it names must exist: a misspelt target would otherwise reject every record.
 */
export function parseLegacyMapping(doc: unknown, source: string, base: LegacyMapping = EMPTY): LegacyMapping {
  const parsed = mappingFileSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`Mapping ${source}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  const file = parsed.data;
  const mapping: LegacyMapping = {
    fields: {}, values: {}, defaults: {},
    timezone: file.timezone ?? base.timezone,
    maxRecordBytes: file.maxRecordBytes ?? base.maxRecordBytes,
  };
  // null in a file laid over another removes its nullText, like any other entry.
  const nullText = file.nullText === null ? undefined : file.nullText ?? base.nullText;
  if (nullText && nullText.length > 0) mapping.nullText = nullText;
  for (const kind of LEGACY_KINDS) {
    const known = KNOWN_FIELDS[kind];
    const unknown = (section: string, field: string, what: string): never => {
      throw new ConfigError(`Mapping ${source}: ${section}.${kind}.${what}: ${field} is not a ${kind} field (one of: ${[...known].join(', ')})`);
    };
    for (const [legacy, target] of Object.entries(file.fields[kind] ?? {})) {
      if (target.startsWith(EXTRA_PREFIX)) {
        // Moved aside, into legacy_extra under another name (Jira's own id, when its key gives the id).
        if (target === EXTRA_PREFIX) throw new ConfigError(`Mapping ${source}: fields.${kind}.${legacy}: name the field after ${EXTRA_PREFIX}`);
        if (kind === 'task_dependencies') throw new ConfigError(`Mapping ${source}: fields.${kind}.${legacy}: dependency edges have no legacy_extra to move a field into`);
      } else if (!known.has(target)) unknown('fields', target, legacy);
    }
    for (const section of ['values', 'defaults'] as const) {
      for (const field of Object.keys(file[section][kind] ?? {})) {
        if (!known.has(field)) unknown(section, field, field);
        const why = AS_WRITTEN[kind]?.[field];
        if (why) throw new ConfigError(`Mapping ${source}: ${section}.${kind}.${field}: ${why}, so a ${section === 'values' ? 'translation' : 'default'} of it would not reach them; change it in the export instead`);
      }
    }
    // A kind either file lists is kept, even empty: the stored mapping is part of a run's fingerprint,
    // so the shipped file must give the same mapping as before files were laid over it.
    if (kind in base.fields || file.fields[kind]) mapping.fields[kind] = overlay(base.fields[kind], file.fields[kind]);
    if (kind in base.values || file.values[kind]) mapping.values[kind] = overlay(base.values[kind], file.values[kind]);
    if (kind in base.defaults || file.defaults[kind]) mapping.defaults[kind] = overlay(base.defaults[kind], file.defaults[kind]);
    checkMappedValues(mapping, kind, source);
  }
  return mapping;
}

function inKeyOrder<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const object = value as Record<string, unknown>;
  return Object.fromEntries(Object.keys(object).sort().map((key) => [key, inKeyOrder(object[key])])) as T;
}

/**
 * Fields read as written, past the mapping's values and defaults: a task's dependency edges are taken from
 * its id and depends_on before the record is normalized (src/legacy/declared-edges.ts), and a translation
 * the edges did not see would tie them to ids no task has.
 */
const AS_WRITTEN: Partial<Record<LegacyKind, Record<string, string>>> = {
  tasks: {
    id: 'a task\'s dependency edges are read with the task id as written',
    depends_on: 'dependency edges are read from depends_on as written',
  },
};

/**
 * What the mapping makes of a record must itself be valid: two renames onto one field would drop one
 * of the two values, and a default or translation the field does not accept would reject every record
 * it applies to, quoting the mapping's value as if the record held it.
 */
function checkMappedValues(mapping: LegacyMapping, kind: LegacyKind, source: string): void {
  const renamedFrom = new Map<string, string>();
  for (const [legacy, target] of Object.entries(mapping.fields[kind] ?? {})) {
    const other = renamedFrom.get(target);
    if (other !== undefined) throw new ConfigError(`Mapping ${source}: fields.${kind}: ${other} and ${legacy} both rename to ${target}; keep one`);
    renamedFrom.set(target, legacy);
  }
  for (const [field, value] of Object.entries(mapping.defaults[kind] ?? {})) {
    const problem = fieldValueProblem(kind, field, value);
    if (problem) throw new ConfigError(`Mapping ${source}: defaults.${kind}.${field}: the default ${JSON.stringify(value)} ${problem.replace(/; got .*$/, '')}`);
  }
  for (const [field, table] of Object.entries(mapping.values[kind] ?? {})) {
    for (const [from, to] of Object.entries(table)) {
      const problem = fieldValueProblem(kind, field, to);
      if (problem) throw new ConfigError(`Mapping ${source}: values.${kind}.${field}: ${JSON.stringify(from)} becomes ${JSON.stringify(to)}, which ${problem.replace(/^must/, 'is not valid: it must').replace(/; got .*$/, '')}`);
    }
  }
}

function readMappingFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read mapping file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseYaml(text, { logLevel: 'error' }); // no warnings on stderr: they quote the line
  } catch (err) {
    throw new ConfigError(`Mapping file ${describeYamlError(file, err)}`, { cause: err });
  }
}

/**
 * What identifies a mapping for prepare's gate (prepare and migrate must agree on it): the SHA-256 of its
 * JSON with keys in one order at every level, so that the order a file lists its entries in does not count.
 */
export function mappingSha256(mapping: LegacyMapping): string {
  return createHash('sha256').update(JSON.stringify(inKeyOrder(mapping))).digest('hex');
}

/** The default mapping, or `file` laid over it: a file lists only what differs from the defaults. */
export function loadLegacyMapping(file: string = DEFAULT_MAPPING_FILE): LegacyMapping {
  const defaults = parseLegacyMapping(readMappingFile(DEFAULT_MAPPING_FILE), DEFAULT_MAPPING_FILE);
  if (resolve(file) === DEFAULT_MAPPING_FILE) return defaults;
  return parseLegacyMapping(readMappingFile(file), file, defaults);
}
