// discoverLegacyFiles: which files of a legacy directory are its data, and the mistakes it names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverLegacyFiles } from '../../src/legacy/files.js';
import { tempDir, type TempDir } from './support.js';

let dir: TempDir;
beforeAll(() => {
  dir = tempDir('files');
});
afterAll(() => dir.remove());

describe('discoverLegacyFiles', () => {
  it('names a file whose name differs only in case (a Windows export): it is neither missing nor skipped', async () => {
    dir.file('projects.jsonl', '');
    dir.file('phases.jsonl', '');
    dir.file('TASKS.CSV', 'id\n');
    await expect(discoverLegacyFiles(dir.path)).rejects.toThrow(/has TASKS\.CSV: file names are case-sensitive, rename it to tasks\.csv$/);
    dir.file('tasks.csv', 'id\n');
    // An optional kind would otherwise be skipped without a word.
    dir.file('Task_Dependencies.json', '[]');
    await expect(discoverLegacyFiles(dir.path)).rejects.toThrow(/has Task_Dependencies\.json: .*rename it to task_dependencies\.json$/);
  });
});
