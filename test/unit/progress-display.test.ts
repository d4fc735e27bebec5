// The progress display when stderr is not a terminal: a line every few seconds, and the last state at
// the end (a short run used to show only its opening all-zero line before "completed"). On a terminal:
// log lines go above the bars (written straight to stderr, they tore the bars).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProgressDisplay } from '../../src/cli/progress-display.js';
import { createLogger } from '../../src/logger.js';
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

describe('progress bars (stderr a terminal)', () => {
  const wasTTY = process.stderr.isTTY;
  afterEach(() => {
    vi.restoreAllMocks();
    process.stderr.isTTY = wasTTY;
  });

  it('prints the process\'s log lines and its own above the bars, loses none at stop, and lets go of the log lines after', async () => {
    const written: string[] = [];
    process.stderr.isTTY = true;
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { written.push(String(chunk)); return true; });
    const logger = createLogger('info', { role: 'test' });
    const display = await createProgressDisplay('bars', 'run-x');
    display.update([stage(0)]);
    // Both are written just before stop(): no redraw in between would have printed them.
    logger.warn('a warning while the bars are drawn');
    display.log('a line of the display');
    display.stop();
    const out = written.join('');
    const warning = out.indexOf('a warning while the bars are drawn');
    expect(warning).toBeGreaterThan(-1);
    expect(JSON.parse(out.slice(out.lastIndexOf('{', warning), out.indexOf('\n', warning)))).toMatchObject({ level: 'warn', role: 'test' });
    expect(out.indexOf('a line of the display')).toBeGreaterThan(warning);
    // Above the bars: the final drawing of the bar comes after both lines.
    expect(out.lastIndexOf('0/20 records')).toBeGreaterThan(out.indexOf('a line of the display'));
    // Once stopped, the logger writes to stderr's file descriptor itself again, not through the display.
    written.length = 0;
    logger.info('after the bars (this line is expected on the test\'s stderr)');
    expect(written).toEqual([]);
  });
});
