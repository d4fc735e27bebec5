// The legacy field mapping (config/legacy-mapping.yaml or --mapping FILE): renames fields, translates
// enumerated values and states defaults. It is stored with the run, so every worker maps alike.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { PACKAGE_ROOT } from './package-root.js';

const perKind = <T extends z.ZodType>(inner: T) =>
  z.object({ projects: inner, phases: inner, tasks: inner, task_dependencies: inner }).partial().strict();

const mappingSchema = z.object({
  fields: perKind(z.record(z.string(), z.string())).default({}),
  values: perKind(z.record(z.string(), z.record(z.string(), z.string()))).default({}),
  defaults: perKind(z.record(z.string(), z.string())).default({}),
  timezone: z.literal('UTC').default('UTC'),
  maxRecordBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
}).strict();

export type LegacyMapping = z.infer<typeof mappingSchema>;

export const DEFAULT_MAPPING_FILE = join(PACKAGE_ROOT, 'config', 'legacy-mapping.yaml');

export function parseLegacyMapping(doc: unknown, source: string): LegacyMapping {
  const parsed = mappingSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`Mapping ${source}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export function loadLegacyMapping(file: string = DEFAULT_MAPPING_FILE): LegacyMapping {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read mapping file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseLegacyMapping(parseYaml(text), file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`Mapping file ${file} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
}
