// `_expected_rejects.jsonl`: every bad record and edge the generator wrote, in the fleet's order.
//
// Tasks and task_dependencies are written in the same pass, so entries go to one temporary file per
// section and are joined at the end: projects, phases, tasks, then edges in file order (the tasks'
// depends_on, then task_dependencies rows). Nothing is held in memory.

import { createReadStream, createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ExpectedReject } from './bad-records.js';
import type { Kind } from './records.js';
import { TextFile } from './writers.js';

export const EXPECTED_REJECTS_FILE = '_expected_rejects.jsonl';

const SECTIONS = ['projects', 'phases', 'tasks', 'edges-in-tasks', 'edges-in-rows'] as const;
export type RejectSection = (typeof SECTIONS)[number];

export class ExpectedRejectsWriter {
  readonly counts: Record<Kind, number> = { projects: 0, phases: 0, tasks: 0, task_dependencies: 0 };
  private readonly parts: Record<RejectSection, TextFile>;

  constructor(private readonly dir: string) {
    const part = (section: RejectSection): TextFile => new TextFile(join(dir, `_expected_rejects.${section}.tmp`));
    this.parts = {
      projects: part('projects'),
      phases: part('phases'),
      tasks: part('tasks'),
      'edges-in-tasks': part('edges-in-tasks'),
      'edges-in-rows': part('edges-in-rows'),
    };
  }

  add(section: RejectSection, reject: ExpectedReject): void {
    // Key order is part of the format: kind, ref, file, line, legacyId, class, field.
    const line = {
      kind: reject.kind,
      ref: reject.ref,
      file: reject.file,
      line: reject.line,
      legacyId: reject.legacyId,
      class: reject.class,
      field: reject.field,
    };
    this.parts[section].append(`${JSON.stringify(line)}\n`);
    this.counts[reject.kind]++;
  }

  get full(): boolean {
    return SECTIONS.some((section) => this.parts[section].full);
  }

  async flush(): Promise<void> {
    for (const section of SECTIONS) await this.parts[section].flush();
  }

  /** Joins the sections into `_expected_rejects.jsonl` and removes them. */
  async finish(): Promise<void> {
    for (const section of SECTIONS) await this.parts[section].close();
    const paths = SECTIONS.map((section) => this.parts[section].path);
    await pipeline(concatenate(paths), createWriteStream(join(this.dir, EXPECTED_REJECTS_FILE)));
    for (const section of SECTIONS) await unlink(this.parts[section].path);
  }
}

async function* concatenate(paths: readonly string[]): AsyncGenerator<Buffer> {
  for (const path of paths) {
    for await (const chunk of createReadStream(path)) yield chunk as Buffer;
  }
}
