// The progress display when stderr is not a terminal: a line every few seconds, and the last state at
// the end (a short run used to show only its opening all-zero line before "completed").
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProgressDisplay } from '../../src/cli/progress-display.js';
import type { StageProgress } from '../../src/ledger/chunks.js';

const stage = (done: number): StageProgress => ({ stage: 'projects', chunks: 1, done: done > 0 ? 1 : 0, failed: 0, records: 20, doneRecords: done, legacyRecords: done, migrated: done, rejected: 0 });

describe('progress lines (stderr not a terminal)', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('prints the first state at once, then at most every few seconds, and the last state when stopped', async () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { written.push(String(chunk)); return true; });
    const display = await createProgressDisplay('lines', 'run-x');
    display.update([stage(0)]);
    display.update([stage(7)]);
    display.update([stage(20)]);
    display.stop();
    expect(written).toEqual(['[run-x] projects 0/20\n', '[run-x] projects 20/20\n']);
  });

  it('prints nothing more when stopped on the state it last printed', async () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { written.push(String(chunk)); return true; });
    const display = await createProgressDisplay('lines', 'run-x');
    display.update([stage(20)]);
    display.stop();
    expect(written).toEqual(['[run-x] projects 20/20\n']);
  });
});
