// What every job handler receives: explicit dependencies, built once per worker process.
import type { Logger } from '../logger.js';
import type { Pool } from '../store/pool.js';
import type { RunContextCache } from './run-context.js';

export interface JobContext {
  db: Pool;
  logger: Logger;
  signal: AbortSignal;
  /** host:pid of the worker, recorded on each chunk it completes. */
  workerName: string;
  runs: RunContextCache;
}

export interface ChunkJobResult {
  skipped: boolean;
  migrated: number;
  rejected: number;
}
