// Writes the validation report (JSON) as findings stream in: errors and warnings go to two temporary
// files, one finding a line, and are joined under the report's header at the end — the report is never
// built as one string. The finished file replaces the old one in one rename.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Finding } from './findings.js';
import { makeDirectory } from '../make-directory.js';

const INDENT = '      ';

class FindingList {
  private readonly out: WriteStream;
  count = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path);
  }

  async add(finding: Finding): Promise<void> {
    const { severity: _severity, ...shown } = finding;
    const text = `${this.count > 0 ? ',\n' : ''}${INDENT}${JSON.stringify(shown)}`;
    this.count++;
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    this.out.end();
    await finished(this.out);
  }
}

export class ValidationReportWriter {
  private readonly errors: FindingList;
  private readonly warnings: FindingList;

  private constructor(readonly path: string) {
    this.errors = new FindingList(`${path}.errors.partial`);
    this.warnings = new FindingList(`${path}.warnings.partial`);
  }

  static async open(path: string): Promise<ValidationReportWriter> {
    await makeDirectory(dirname(path));
    return new ValidationReportWriter(path);
  }

  async add(findings: readonly Finding[]): Promise<void> {
    for (const finding of findings) await (finding.severity === 'error' ? this.errors : this.warnings).add(finding);
  }

  /** Writes the report: `header`'s fields, then `findings: { errors: [...], warnings: [...] }`. */
  async finish(header: Record<string, unknown>): Promise<void> {
    await this.errors.close();
    await this.warnings.close();
    const partial = `${this.path}.partial`;
    const out = createWriteStream(partial);
    const write = async (text: string): Promise<void> => {
      if (!out.write(text)) await once(out, 'drain');
    };
    const head = JSON.stringify(header, null, 2);
    await write(`${head.slice(0, head.lastIndexOf('}')).trimEnd()},\n  "findings": {\n    "errors": [\n`);
    await this.copyInto(this.errors, write);
    await write(`${this.errors.count > 0 ? '\n' : ''}    ],\n    "warnings": [\n`);
    await this.copyInto(this.warnings, write);
    await write(`${this.warnings.count > 0 ? '\n' : ''}    ]\n  }\n}\n`);
    out.end();
    await finished(out);
    await rename(partial, this.path);
    await this.discard();
  }

  /** Removes the temporary files (after finish, or when the report is abandoned). */
  async discard(): Promise<void> {
    await Promise.all([this.errors.close(), this.warnings.close()]).catch(() => undefined);
    await rm(this.errors.path, { force: true });
    await rm(this.warnings.path, { force: true });
    await rm(`${this.path}.partial`, { force: true });
  }

  private async copyInto(list: FindingList, write: (text: string) => Promise<void>): Promise<void> {
    for await (const chunk of createReadStream(list.path, { encoding: 'utf8' })) await write(chunk as string);
  }
}
