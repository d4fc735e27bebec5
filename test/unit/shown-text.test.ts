// shownText: legacy text printed on a terminal or a line-per-entry file keeps to its line and cannot
// drive the terminal (found by the exports probe: prepare printed a field name's raw NUL).
import { describe, expect, it } from 'vitest';
import { shownText } from '../../src/shown-text.js';
import { formatValidationSummary } from '../../src/validation/report-summary.js';
import type { ValidationSummary } from '../../src/validation/validate-legacy-data.js';

describe('shownText', () => {
  it('escapes control characters as JSON does, and leaves other text (unicode included) alone', () => {
    expect(shownText('no\u0000te')).toBe('no\\u0000te');
    expect(shownText('a\tb\nc\r\u001b[2J\u007f\u0085')).toBe('a\\u0009b\\u000ac\\u000d\\u001b[2J\\u007f\\u0085');
    expect(shownText('Überprüfung — 任务 ✓')).toBe('Überprüfung — 任务 ✓');
    // Called twice in a row (a global regex keeps state between calls).
    expect([shownText('x\u0001'), shownText('x\u0001')]).toEqual(['x\\u0001', 'x\\u0001']);
  });

  it('prepare\'s summary shows a finding with a NUL in its field name escaped', () => {
    const finding = { ref: 'tasks.jsonl:3', kind: 'tasks', legacyId: 'T\u001b1', field: 'no\u0000te', reason: 'no\u0000te must not hold NUL', cls: 'bad_text' };
    const perKind = { records: 1, valid: 0, errors: 1, warnings: 0 };
    const summary = {
      legacyDir: '/d', durationMs: 1, errors: 1, warnings: 0, warningFindings: 0, errorsByClass: { bad_text: 1 }, warningsByClass: {},
      firstErrors: [finding], firstWarnings: [], perKind: { projects: perKind, phases: perKind, tasks: perKind, task_dependencies: perKind },
    } as unknown as ValidationSummary;
    const text = formatValidationSummary(summary, { manifestSha256: '0'.repeat(64), maxRejects: 0, passed: false, failure: 'x', reportPath: '/r.json', backup: null });
    expect(text.includes('\u0000') || text.includes('\u001b'), 'a raw NUL or ESC').toBe(false);
    expect(text).toContain('  tasks.jsonl:3  tasks T\\u001b1 [no\\u0000te]: no\\u0000te must not hold NUL');
  });
});
