/**
 * `npm run test:vscode`: the tests that need a real VS Code, on this offline machine and in CI.
 *   1. builds the extension and the extension-host suite (test/integration → out/test/integration)
 *   2. starts code-server (from the cache filled by `npm run setup:vscode`) and Debian's Chromium
 *   3. runs the mocha suite inside the real Node extension host
 *   4. runs the UI checks (test/ui/*.test.ts, mocha here, playwright driving the workbench)
 *   5. packages the linux-x64 .vsix, installs it in a second code-server and runs test/packaged in
 *      its extension host: a model on `native` from the installed copy (packaged.ts; linux-x64 only)
 * A missing server or browser is a failure, never a skip. Set ATTENTION_LENS_TEST_VERBOSE=1 for
 * code-server's own log; screenshots are written to .artifacts/ui/. While working on the panel,
 * ATTENTION_LENS_UI_ONLY=panel.test.ts,narrowPanel.test.ts runs only those UI files in stage 4
 * and skips stage 5 (the run says so: it is no substitute for the whole run).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Mocha from 'mocha';
import type { Browser } from 'playwright-core';
import { launchBrowser } from './browser';
import { buildExtensionHostSuite } from './buildSuite';
import { type CodeServer, startCodeServer } from './codeServer';
import { runExtensionHostSuite } from './extensionHostSuite';
import { runPackagedCheck } from './packaged';
import { setUiSession } from './session';

const root = path.resolve(__dirname, '../..');
const verbose = process.env.ATTENTION_LENS_TEST_VERBOSE === '1';
const uiOnly = (process.env.ATTENTION_LENS_UI_ONLY ?? '').split(',').map((name) => name.trim()).filter(Boolean);
/** Workbench log lines that are expected on an offline machine (shown with ATTENTION_LENS_TEST_VERBOSE=1). */
const KNOWN_NOISE = [/Canceled: Canceled/, /open-vsx\.org/, /^\s+at /, /Long running operations during shutdown/, /vsda/, /github/i, /DialogService: Dialog requested during smoke test/];

async function stage<T>(name: string, work: () => Promise<T> | T): Promise<T> {
  const start = Date.now();
  const result = await work();
  console.log(`--- ${name}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
  return result;
}

/**
 * The test workspace: the files of test/fixtures/workspace, plus an ONNX fixture exported by
 * another tool (DistilBERT, from ../shared/fixtures) with a BERT tokenizer.json beside it, a file
 * that only pretends to be a model, and a built-in model exported with a leaking causal mask.
 */
function prepareWorkspace(workspace: string): void {
  cpSync(path.join(root, 'test/fixtures/workspace'), workspace, { recursive: true });
  const models = path.join(workspace, 'models');
  const distilbert = path.join(models, 'distilbert');
  mkdirSync(distilbert, { recursive: true });
  copyFileSync(path.join(root, '../shared/fixtures/onnx/optimum_tiny-distilbert_pt1.10_op11.onnx'), path.join(distilbert, 'model.onnx'));
  const tokenizers = path.join(workspace, '.tokenizers');
  execFileSync(process.execPath, [path.join(root, 'scripts/make-tokenizers.mjs'), tokenizers], { stdio: 'pipe' });
  copyFileSync(path.join(tokenizers, 'bert-base-uncased', 'tokenizer.json'), path.join(distilbert, 'tokenizer.json'));
  rmSync(tokenizers, { recursive: true, force: true });
  writeFileSync(path.join(models, 'broken.onnx'), 'this file only pretends to be an ONNX model');
  // A model with a planted bug: its causal mask lets every token see the next one.
  const leaky = path.join(models, 'leaky-causal', 'model.onnx');
  mkdirSync(path.dirname(leaky), { recursive: true });
  execFileSync(process.execPath, [path.join(root, 'dist/cli.js'), '--model', 'builtin:tiny-decoder', '--export-onnx', leaky, '--fault', 'causal-off-by-one'], { stdio: 'pipe' });
}

/** "N passing" / "N failing" lines of a mocha spec report. */
function countResults(lines: string[]): { passed: number; failed: number } {
  const text = lines.join('\n');
  const passed = Number(/(\d+) passing/.exec(text)?.[1] ?? 0);
  const failed = Number(/(\d+) failing/.exec(text)?.[1] ?? 0);
  return { passed, failed };
}

async function runUiSuite(): Promise<{ passed: number; failed: number }> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 120_000, reporter: 'spec', color: false });
  const directory = path.join(root, 'test/ui');
  const files = readdirSync(directory).filter((name) => name.endsWith('.test.ts') && (uiOnly.length === 0 || uiOnly.includes(name))).sort();
  if (files.length === 0) throw new Error(uiOnly.length > 0 ? `no UI tests in test/ui named ${uiOnly.join(', ')}` : 'no UI tests found in test/ui');
  for (const file of files) mocha.addFile(path.join(directory, file));
  await mocha.loadFilesAsync();
  return new Promise((resolve) => {
    const runner = mocha.run(() => resolve({ passed: runner.stats?.passes ?? 0, failed: runner.stats?.failures ?? 0 }));
  });
}

async function main(): Promise<number> {
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  const workspace = mkdtempSync(path.join(tmpdir(), 'attention-lens-workspace-'));
  let passed = 0;
  let failed = 0;
  try {
    await stage('build extension', () => execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' }));
    const testsPath = await stage('build extension-host suite', () => buildExtensionHostSuite(root));
    await stage('prepare workspace', () => prepareWorkspace(workspace));
    server = await stage('start code-server', () => startCodeServer({ verbose }));
    browser = await stage('start chromium', launchBrowser);

    const suite = await stage('extension-host suite', () => runExtensionHostSuite(browser!, server!, {
      folder: workspace,
      extensionPath: root,
      testsPath,
      timeoutMs: 180_000,
      onLog: (line) => {
        if (verbose || !KNOWN_NOISE.some((pattern) => pattern.test(line))) console.log(line);
      },
    }));
    const counts = countResults(suite.log);
    passed += counts.passed;
    failed += counts.failed;
    if (suite.exitCode !== 0 && counts.failed === 0) failed += 1; // crashed or timed out before mocha reported
    console.log(`extension-host suite exit code ${suite.exitCode}`);
    if (uiOnly.length > 0) console.log(`ATTENTION_LENS_UI_ONLY: UI files ${uiOnly.join(', ')} only; the installed .vsix is skipped`);

    rmSync(path.join(root, '.artifacts/ui'), { recursive: true, force: true });
    setUiSession({ server, browser, workspace, extensionPath: root, verbose });
    const ui = await stage('UI checks', runUiSuite);
    passed += ui.passed;
    failed += ui.failed;

    if (uiOnly.length === 0) {
      // The installed .vsix gets a code-server of its own: this one is no longer needed.
      await server.stop();
      server = undefined;
      const packaged = await stage('installed .vsix (package, install, run on native)', () => runPackagedCheck(root, {
        browser: browser!,
        folder: workspace,
        verbose,
        onLog: (line) => {
          if (verbose || !KNOWN_NOISE.some((pattern) => pattern.test(line))) console.log(line);
        },
      }));
      if (packaged.skipped) {
        console.log(`installed .vsix: skipped, ${packaged.skipped}`);
      } else {
        const counts = countResults(packaged.log);
        passed += counts.passed;
        failed += counts.failed;
        if (packaged.exitCode !== 0 && counts.failed === 0) failed += 1;
        console.log(`installed .vsix suite exit code ${packaged.exitCode}`);
      }
    }
  } catch (error) {
    console.error(`The real-VS-Code tests could not run: ${(error as Error).message}`);
    failed += 1;
  } finally {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    rmSync(workspace, { recursive: true, force: true });
  }
  // The plain closing line CI reads.
  console.log(`vscode: ${passed} passed, ${failed} failed`);
  return failed > 0 || passed === 0 ? 1 : 0;
}

main().then((code) => {
  process.exitCode = code;
});
