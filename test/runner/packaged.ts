/**
 * The installed-.vsix check of `npm run test:vscode` (also alone: `node --import tsx
 * test/runner/packaged.ts`): packages the linux-x64 .vsix (scripts/package.mjs), installs it with
 * `--install-extension` into a fresh code-server's private extensions folder, opens the workbench
 * without this repository as development folder (so the installed copy is the one that runs), and runs the suite in
 * test/packaged inside its extension host: a model on `native`, whose trace must say native ran.
 * Only linux-x64 machines build and run that .vsix; elsewhere the check says it is skipped.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { launchBrowser } from './browser';
import { buildExtensionHostSuite } from './buildSuite';
import { type CodeServer, startCodeServer } from './codeServer';
import { runExtensionHostSuite } from './extensionHostSuite';

/** The one platform whose .vsix this check installs. */
export const PACKAGED_TARGET = 'linux-x64';

export interface PackagedResult {
  /** Why the check did not run here, if it did not. */
  skipped?: string;
  exitCode: number;
  log: string[];
}

/**
 * Packages, installs and runs. `browser` is reused when given; `folder` is the workspace to open.
 * Everything it makes (the .vsix, code-server's state) lives in temporary folders removed at the end.
 */
export async function runPackagedCheck(root: string, options: { browser?: Browser; folder: string; verbose?: boolean; onLog?: (line: string) => void }): Promise<PackagedResult> {
  const platform = `${process.platform}-${process.arch}`;
  if (platform !== PACKAGED_TARGET) return { skipped: `the ${PACKAGED_TARGET} .vsix is installed and run only on ${PACKAGED_TARGET} machines; this one is ${platform}`, exitCode: 0, log: [] };
  const outDir = mkdtempSync(path.join(tmpdir(), 'attention-lens-vsix-'));
  let server: CodeServer | undefined;
  let browser = options.browser;
  try {
    execFileSync(process.execPath, [path.join(root, 'scripts/package.mjs'), '--targets', PACKAGED_TARGET, '--out-dir', outDir], { cwd: root, stdio: options.verbose ? 'inherit' : 'pipe' });
    const vsix = path.join(outDir, `attention-lens-${PACKAGED_TARGET}.vsix`);
    const testsPath = await buildExtensionHostSuite(root, 'packaged');
    // VS Code runs extensionTestsPath only beside a development extension: the suite's folder
    // becomes an empty one (another id, nothing contributed), so Attention Lens itself is the
    // installed copy.
    writeFileSync(path.join(testsPath, 'package.json'), JSON.stringify({ name: 'installed-vsix-check', publisher: 'attention-lens-tests', version: '0.0.0', engines: { vscode: '^1.90.0' } }));
    server = await startCodeServer({ verbose: options.verbose, install: [vsix] });
    browser ??= await launchBrowser();
    return await runExtensionHostSuite(browser, server, { folder: options.folder, extensionPath: testsPath, testsPath, timeoutMs: 180_000, onLog: options.onLog });
  } finally {
    if (browser !== options.browser) await browser?.close().catch(() => undefined);
    await server?.stop();
    rmSync(outDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const root = path.resolve(__dirname, '../..');
  const folder = mkdtempSync(path.join(tmpdir(), 'attention-lens-workspace-'));
  const start = Date.now();
  runPackagedCheck(root, { folder, verbose: process.env.ATTENTION_LENS_TEST_VERBOSE === '1', onLog: (line) => console.log(line) })
    .then((result) => {
      console.log(result.skipped ? `installed .vsix: skipped (${result.skipped})` : `installed .vsix: exit code ${result.exitCode}, ${((Date.now() - start) / 1000).toFixed(1)} s`);
      process.exitCode = result.exitCode;
    }, (error: Error) => {
      console.error(`The installed-.vsix check could not run: ${error.message}`);
      process.exitCode = 1;
    })
    .finally(() => rmSync(folder, { recursive: true, force: true }));
}
