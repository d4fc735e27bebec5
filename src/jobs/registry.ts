// Stage -> job handler. The producer and the workers share this one map (and the one payload type).
import type { Stage } from '../legacy/kinds.js';
import type { ChunkJobResult, JobContext } from './context.js';
import { migrateDependencyChunk } from './migrate-dependencies.js';
import { migrateEntityChunk } from './migrate-entities.js';
import type { ChunkJobPayload } from './payload.js';
import { rejectDependencyCycles } from './reject-dependency-cycles.js';

export type ChunkHandler = (ctx: JobContext, payload: ChunkJobPayload) => Promise<ChunkJobResult>;

export const CHUNK_HANDLERS: Record<Stage, ChunkHandler> = {
  projects: migrateEntityChunk,
  phases: migrateEntityChunk,
  tasks: migrateEntityChunk,
  dependencies: migrateDependencyChunk,
  dependency_cycles: rejectDependencyCycles,
};
