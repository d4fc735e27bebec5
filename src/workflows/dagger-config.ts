// The Dagger runner settings (config/dagger.yaml or --dagger-config FILE): which runner, how many
// workflow runs at once, the default step timeout, the retry policy for transient engine errors, the
// cache policy and the allowlist of images a template may use. Validated once, with errors naming the setting.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import { PACKAGE_ROOT } from '../config/package-root.js';

export const DEFAULT_DAGGER_CONFIG_FILE = join(PACKAGE_ROOT, 'config', 'dagger.yaml');

/** A step's timeout when neither the step nor dagger.yaml states one. */
export const DEFAULT_STEP_TIMEOUT_SECONDS = 300;

// An image reference, or a prefix pattern ending in `*` (`node:*`, `ghcr.io/acme/*`); `*` alone allows any image.
const imagePattern = z.string().trim().min(1, 'must not be empty').regex(/^[^\s*]*\*?$/, 'must be an image reference, or a prefix ending in a single trailing *');

const daggerConfigSchema = z.object({
  runner: z.enum(['dagger', 'local', 'auto']).default('auto'),
  concurrency: z.number().int().min(1).max(256).default(4),
  defaultTimeoutSeconds: z.number().int().min(1).max(24 * 3600).default(DEFAULT_STEP_TIMEOUT_SECONDS),
  retry: z.object({
    attempts: z.number().int().min(1).max(100).default(3),
    backoffMs: z.number().int().min(0).max(10 * 60_000).default(1000),
  }).strict().default({ attempts: 3, backoffMs: 1000 }),
  cache: z.object({ enabled: z.boolean().default(true) }).strict().default({ enabled: true }),
  allowedImages: z.array(imagePattern).default([]),
}).strict();

export interface DaggerConfig {
  /** `auto`: Dagger when an engine is reachable, else the local runner. */
  runner: 'dagger' | 'local' | 'auto';
  /** Workflow runs at once per worker process. */
  concurrency: number;
  /** A step's timeout when its template does not state one. */
  defaultTimeoutSeconds: number;
  /** Transient engine errors: attempts in all, and the first backoff (doubled per attempt). */
  retry: { attempts: number; backoffMs: number };
  /** Reuse the result of an earlier successful run with the same definition hash. */
  cache: { enabled: boolean };
  /** Exact image references, or prefix patterns ending in `*`. */
  allowedImages: string[];
}

function settingName(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(top level)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

export function parseDaggerConfig(doc: unknown, source: string): DaggerConfig {
  const parsed = daggerConfigSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`Dagger config ${source}: ${settingName(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`);
  }
  return Object.freeze({ ...parsed.data, allowedImages: Object.freeze([...parsed.data.allowedImages]) as string[] });
}

export function loadDaggerConfig(file: string = DEFAULT_DAGGER_CONFIG_FILE): DaggerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read Dagger config ${file} (--dagger-config): ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`Dagger config ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  return parseDaggerConfig(doc, file);
}

/** An image is allowed when it equals an entry, or starts with an entry's text before its trailing `*`. */
export function isImageAllowed(config: Pick<DaggerConfig, 'allowedImages'>, image: string): boolean {
  return config.allowedImages.some((entry) => (entry.endsWith('*') ? image.startsWith(entry.slice(0, -1)) : image === entry));
}
