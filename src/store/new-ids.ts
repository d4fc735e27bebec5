// Deterministic new ids: UUIDv5 of (kind, legacy id). The same legacy record always gets the same id,
// on any worker, in any run: this is what makes every write an idempotent upsert.
import { v5 as uuidv5 } from 'uuid';
import type { EntityKind } from '../legacy/kinds.js';

const NAMESPACE = '6f1c2a8e-5b7d-4c1e-9a3f-7d2b8e4c6a10';
const KIND_NAMESPACES: Record<EntityKind, string> = {
  projects: uuidv5('projects', NAMESPACE),
  phases: uuidv5('phases', NAMESPACE),
  tasks: uuidv5('tasks', NAMESPACE),
};

export function newId(kind: EntityKind, legacyId: string): string {
  return uuidv5(legacyId, KIND_NAMESPACES[kind]);
}
