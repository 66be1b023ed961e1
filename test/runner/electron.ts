/**
 * `npm run test:electron`: the same extension-host suite under @vscode/test-electron, the
 * ecosystem's standard runner. It downloads VS Code from Microsoft, so it needs internet and cannot
 * run on the project's offline machines or CI; use it on a laptop. Pass a version with
 * VSCODE_TEST_VERSION (default: the oldest supported, from package.json engines).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { buildExtensionHostSuite } from './buildSuite';

const root = path.resolve(__dirname, '../..');

async function main(): Promise<void> {
  execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  const extensionTestsPath = await buildExtensionHostSuite(root);
  const engines = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines: { vscode: string } }).engines.vscode;
  await runTests({
    version: process.env.VSCODE_TEST_VERSION ?? engines.replace(/^[\^~>=]+/, ''),
    extensionDevelopmentPath: root,
    extensionTestsPath,
    launchArgs: [path.join(root, 'test/fixtures/workspace'), '--disable-extensions', '--disable-workspace-trust'],
  });
}

main().catch((error: unknown) => {
  console.error(`test:electron failed: ${(error as Error).message}`);
  process.exitCode = 1;
});
