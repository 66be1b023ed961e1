/**
 * Entry of the suite that runs inside a real VS Code extension host: the standard `run()` that
 * both runners call (our code-server runner, and @vscode/test-electron where VS Code can be
 * downloaded). Every compiled `*.test.js` beside this file is loaded; there is no hand-kept list.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  const files = readdirSync(__dirname).filter((name) => name.endsWith('.test.js')).sort();
  if (files.length === 0) throw new Error(`no *.test.js files in ${__dirname}`);
  for (const file of files) mocha.addFile(path.join(__dirname, file));
  await new Promise<void>((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension-host test(s) failed`)) : resolve()));
  });
}
