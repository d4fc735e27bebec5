// The verify phase's settings (config/verification.yaml, or the file given with --thresholds): mismatch
// samples per check, sample sizes and the typical queries' latency thresholds. Read and validated
// once, at start-up; an invalid value is a ConfigError that names the file and the setting.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import { PACKAGE_ROOT } from '../config/package-root.js';
import type { TypicalQuery } from '../lifecycle/typical-queries.js';

const milliseconds = z.number({ error: 'must be a number of milliseconds' }).positive('must be more than 0');
const count = (max: number) => z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').max(max, `must be at most ${max}`);
const latency = z.object({ p50Ms: milliseconds, p95Ms: milliseconds }).strict();

const QUERY_NAMES = ['project_tasks', 'phase_board', 'user_open_tasks'] as const satisfies readonly TypicalQuery['name'][];

const configSchema = z.object({
  maxSamples: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(0, 'must not be negative').max(10_000, 'must be at most 10000'),
  workflows: z.object({ sampleSize: count(100_000) }).strict(),
  performance: z.object({
    runs: count(10_000),
    p50Ms: milliseconds,
    p95Ms: milliseconds,
    // A query's own limits; one it leaves out is the general one.
    queries: z.partialRecord(z.enum(QUERY_NAMES), latency.partial()).default({}),
  }).strict(),
}).strict();

export type VerificationConfig = Readonly<z.infer<typeof configSchema>>;
export type QueryLimits = z.infer<typeof latency>;

export const DEFAULT_VERIFICATION_CONFIG_FILE = join(PACKAGE_ROOT, 'config', 'verification.yaml');

export function parseVerificationConfig(doc: unknown, source: string): VerificationConfig {
  const parsed = configSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const setting = issue?.path.join('.') || '(top level)';
    throw new ConfigError(`Verification settings ${source}: ${setting}: ${issue?.message ?? 'invalid'}`);
  }
  return Object.freeze(parsed.data);
}

/**
 * The shipped settings, with `file` laid over them (like --mapping): a file lists only what differs,
 * e.g. `performance: { p95Ms: 2000 }`. Objects merge key by key; any other value replaces.
 */
export function loadVerificationConfig(file: string = DEFAULT_VERIFICATION_CONFIG_FILE): VerificationConfig {
  const defaults = readSettingsFile(DEFAULT_VERIFICATION_CONFIG_FILE);
  if (resolve(file) === DEFAULT_VERIFICATION_CONFIG_FILE) return parseVerificationConfig(defaults, file);
  return parseVerificationConfig(layOver(defaults, readSettingsFile(file)), file);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function layOver(base: unknown, over: unknown): unknown {
  if (over === null || over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = layOver(base[key], value);
  return out;
}

function readSettingsFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read verification settings ${file}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`Verification settings ${file} are not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  return doc;
}

/** The latency limits that apply to one typical query. */
export function limitsFor(config: VerificationConfig, query: TypicalQuery['name']): QueryLimits {
  const own = config.performance.queries[query];
  return { p50Ms: own?.p50Ms ?? config.performance.p50Ms, p95Ms: own?.p95Ms ?? config.performance.p95Ms };
}
