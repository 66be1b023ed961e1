/**
 * Temporary folders for a test file: private (mkdtemp), and removed when the file's tests end,
 * whether they passed or not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';

const made: string[] = [];
let registered = false;

export function tempFolder(prefix: string): string {
  if (!registered) {
    registered = true;
    after(() => {
      for (const folder of made) rmSync(folder, { recursive: true, force: true });
    });
  }
  const folder = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(folder);
  return folder;
}
