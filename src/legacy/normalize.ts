// Turns a parsed legacy record into validated, typed values: applies the mapping (renames, value
// translations, stated defaults), validates every field with zod, and keeps unknown fields as extras.
// A bad record yields the first failing field and a reason; nothing is coerced silently.
import { z } from 'zod';
import type { LegacyMapping } from '../config/legacy-mapping.js';
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

const NUL = '\u0000';
const text = z.string({ error: (i) => `must be text, got ${describe(i.input)}` })
  .refine((s) => !s.includes(NUL), 'contains a NUL character, which Postgres text cannot store');
const optionalText = text.nullish().transform((v) => v ?? null);
const requiredText = z.string({ error: (i) => (i.input == null ? 'is required' : `must be text, got ${describe(i.input)}`) })
  .refine((s) => s.trim() !== '', 'is required (it is empty)')
  .refine((s) => !s.includes(NUL), 'contains a NUL character, which Postgres text cannot store');
const legacyId = z.union([z.string(), z.number().int()], { error: (i) => (i.input == null ? 'is required' : `must be a string id, got ${describe(i.input)}`) })
  .transform((v) => String(v).trim())
  .refine((s) => s !== '', 'is required (it is empty)')
  .refine((s) => !s.includes(NUL), 'contains a NUL character');
const optionalLegacyId = z.union([z.string(), z.number().int()], { error: (i) => `must be a string id, got ${describe(i.input)}` })
  .nullish()
  .transform((v) => (v == null || String(v).trim() === '' ? null : String(v).trim()));

const enumOf = (values: readonly [string, ...string[]]) =>
  z.string({ error: (i) => (i.input == null ? 'is required' : `must be one of ${values.join(', ')}; got ${describe(i.input)}`) })
    .refine((s) => (values as readonly string[]).includes(s), { error: (i) => `must be one of ${values.join(', ')}; got ${describe(i.input)}` });

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/;
const timestamp = z.string({ error: (i) => `must be an ISO 8601 timestamp, got ${describe(i.input)}` })
  .nullish()
  .refine((s) => s == null || (TIMESTAMP.test(s) && !Number.isNaN(Date.parse(withZone(s)))), { error: (i) => `must be an ISO 8601 timestamp, got ${describe(i.input)}` })
  .transform((s) => (s == null ? null : s));

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const date = z.string({ error: (i) => `must be a date YYYY-MM-DD, got ${describe(i.input)}` })
  .nullish()
  .refine((s) => s == null || isCalendarDate(s), { error: (i) => `must be a date YYYY-MM-DD, got ${describe(i.input)}` })
  .transform((s) => s ?? null);

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const nonNegativeNumber = z.union([z.number(), z.string()], { error: (i) => `must be a number, got ${describe(i.input)}` })
  .nullish()
  .refine((v) => v == null || (typeof v === 'number' ? Number.isFinite(v) : NUMERIC.test(v.trim())), { error: (i) => `must be a number, got ${describe(i.input)}` })
  .refine((v) => v == null || Number(v) >= 0, 'must not be negative')
  .transform((v) => (v == null ? null : typeof v === 'number' ? String(v) : v.trim()));

const integer = z.union([z.number(), z.string()], { error: (i) => `must be an integer, got ${describe(i.input)}` })
  .nullish()
  .refine((v) => v == null || /^[+-]?\d+$/.test(String(v).trim()), { error: (i) => `must be an integer, got ${describe(i.input)}` })
  .refine((v) => v == null || Math.abs(Number(v)) < 2 ** 31, 'is out of the integer range')
  .transform((v) => (v == null ? null : Number(v)));

// Lists are JSON arrays of strings, or (CSV) one text with ';' between items.
const stringList = (what: string) => z.union([z.array(z.union([z.string(), z.number().int()])), z.string()], { error: (i) => `must be a list of ${what}, got ${describe(i.input)}` })
  .nullish()
  .transform((v) => (v == null ? null : (typeof v === 'string' ? v.split(';') : v).map((item) => String(item).trim()).filter((item) => item !== '')))
  .refine((v) => v == null || v.every((item) => !item.includes(NUL)), 'contains a NUL character');

// ---- record schemas (keys are taskfleet field names, after the mapping's renames) ---------------

const common = { created_at: timestamp, updated_at: timestamp };
const SCHEMAS = {
  projects: z.object({
    id: legacyId, key: optionalText, name: requiredText, description: optionalText, owner: optionalText,
    status: enumOf(['active', 'on_hold', 'archived']), ...common,
  }),
  phases: z.object({
    id: legacyId, project_id: legacyId, name: requiredText, position: integer,
    status: enumOf(['planned', 'active', 'completed']), starts_on: date, ends_on: date, ...common,
  }),
  tasks: z.object({
    id: legacyId, project_id: legacyId, phase_id: optionalLegacyId, title: requiredText, description: optionalText,
    status: enumOf(['todo', 'in_progress', 'blocked', 'review', 'done', 'cancelled']),
    priority: enumOf(['low', 'medium', 'high', 'critical']), type: requiredText,
    assignee: optionalText, reporter: optionalText, estimate_hours: nonNegativeNumber, due_on: date,
    tags: stringList('tags'), depends_on: stringList('task ids'), ...common,
  }),
  task_dependencies: z.object({ task_id: legacyId, depends_on_id: legacyId }),
} as const;

export const KNOWN_FIELDS: Record<LegacyKind, ReadonlySet<string>> = {
  projects: new Set(Object.keys(SCHEMAS.projects.shape)),
  phases: new Set(Object.keys(SCHEMAS.phases.shape)),
  tasks: new Set(Object.keys(SCHEMAS.tasks.shape)),
  task_dependencies: new Set(Object.keys(SCHEMAS.task_dependencies.shape)),
};

// ---- the normalizer -------------------------------------------------------------------------------

export type Normalizer<K extends LegacyKind> = (raw: Record<string, unknown>) => Normalized<KindValues[K]>;

export function createNormalizer<K extends LegacyKind>(kind: K, mapping: LegacyMapping): Normalizer<K> {
  const renames: Record<string, string> = mapping.fields[kind] ?? {};
  const translations: [string, Record<string, string>][] = Object.entries(mapping.values[kind] ?? {});
  const defaults: [string, string][] = Object.entries(mapping.defaults[kind] ?? {});
  const known = KNOWN_FIELDS[kind];
  const schema = SCHEMAS[kind] as z.ZodType;
  const idField = kind === 'task_dependencies' ? 'task_id' : 'id';
  const build = BUILDERS[kind] as (v: Record<string, unknown>, extra: Record<string, unknown> | null) => KindValues[K];

  return (raw) => {
    const fields: Record<string, unknown> = {};
    let extra: Record<string, unknown> | null = null;
    for (const [legacyName, value] of Object.entries(raw)) {
      const name = renames[legacyName] ?? legacyName;
      if (known.has(name)) fields[name] = value;
      else (extra ??= {})[legacyName] = value;
    }
    for (const [field, table] of translations) {
      const value = fields[field];
      if (value != null) {
        const translated = table[String(value).trim()];
        if (translated !== undefined) fields[field] = translated;
      }
    }
    for (const [field, value] of defaults) {
      if (fields[field] == null || fields[field] === '') fields[field] = value;
    }
    const rawId = fields[idField];
    const legacyIdText = rawId == null || typeof rawId === 'object' ? null : String(rawId);
    if (extra && JSON.stringify(extra).includes('\\u0000')) {
      return { ok: false, field: Object.keys(extra)[0] ?? null, reason: 'contains a NUL character, which Postgres cannot store', legacyId: legacyIdText };
    }
    const parsed = schema.safeParse(fields);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path[0];
      const legacyField = typeof field === 'string' ? legacyNameOf(field, renames) : null;
      return { ok: false, field: legacyField, reason: `${legacyField ?? 'record'} ${issue?.message ?? 'is invalid'}`, legacyId: legacyIdText };
    }
    return { ok: true, value: build(parsed.data as Record<string, unknown>, extra) };
  };
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

function legacyNameOf(field: string, renames: Record<string, string>): string {
  for (const [legacyName, name] of Object.entries(renames)) if (name === field) return legacyName;
  return field;
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  const shown = JSON.stringify(value);
  return shown.length > 60 ? `${shown.slice(0, 57)}...` : shown;
}

/** Timestamps without an offset are read as UTC. */
export function withZone(ts: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(ts)) return `${ts}T00:00:00Z`;
  return /(Z|[+-]\d{2}(:?\d{2})?)$/.test(ts) ? ts.replace(' ', 'T') : `${ts.replace(' ', 'T')}Z`;
}

function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dt = new Date(Date.UTC(y, mo - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === mo - 1 && dt.getUTCDate() === d;
}
