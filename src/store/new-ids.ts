// Deterministic new ids: UUIDv5 (RFC 9562) of (kind, legacy id). The same legacy record always gets
// the same id, on any worker, in any run: this is what makes every write an idempotent upsert.
// Computed with node:crypto's one-shot hash (the uuid package re-parses the namespace on every call,
// 3x slower on this hot path); test/new-ids.test.ts checks the result against the uuid package.
import { hash } from 'node:crypto';
import type { EntityKind } from '../legacy/kinds.js';

const NAMESPACE = '6f1c2a8e-5b7d-4c1e-9a3f-7d2b8e4c6a10';

function namespaceBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export function uuidV5(name: string, namespace: Buffer): string {
  const digest = hash('sha1', Buffer.concat([namespace, Buffer.from(name, 'utf8')]), 'buffer');
  digest[6] = (digest[6]! & 0x0f) | 0x50;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = digest.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const ROOT = namespaceBytes(NAMESPACE);
const KIND_NAMESPACES: Record<EntityKind, Buffer> = {
  projects: namespaceBytes(uuidV5('projects', ROOT)),
  phases: namespaceBytes(uuidV5('phases', ROOT)),
  tasks: namespaceBytes(uuidV5('tasks', ROOT)),
};

export function newId(kind: EntityKind, legacyId: string): string {
  return uuidV5(legacyId, KIND_NAMESPACES[kind]);
}

// A task's workflow: one per task, so its id is the UUIDv5 of the task's legacy id in a namespace of its own.
const WORKFLOW_NAMESPACE = namespaceBytes(uuidV5('workflows', ROOT));

export function workflowId(taskLegacyId: string): string {
  return uuidV5(taskLegacyId, WORKFLOW_NAMESPACE);
}

// A stored workflow template (tms.workflow_templates): the UUIDv5 of its canonical JSON, so the same
// content gets the same id in every run and on every worker, and changed content a new one.
const TEMPLATE_NAMESPACE = namespaceBytes(uuidV5('workflow_templates', ROOT));

export function templateContentId(canonicalJson: string): string {
  return uuidV5(canonicalJson, TEMPLATE_NAMESPACE);
}

/** A per-chunk memo: parents repeat a lot within a chunk (every task of a project names it). */
export function idMemo(kind: EntityKind): (legacyId: string) => string {
  const memo = new Map<string, string>();
  return (legacyId) => {
    let id = memo.get(legacyId);
    if (id === undefined) { id = newId(kind, legacyId); memo.set(legacyId, id); }
    return id;
  };
}
