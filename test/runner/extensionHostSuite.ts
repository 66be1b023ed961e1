/**
 * Runs the mocha suite in test/integration inside the real Node extension host of code-server, the
 * way VS Code's own browser integration tests run: the smoke-test driver loads the suite from the
 * payload, and its log and exit code come back through two exposed functions.
 */
import { format } from 'node:util';
import type { Browser } from 'playwright-core';
import type { CodeServer } from './codeServer';
import { openWorkbench } from './workbench';

export interface SuiteResult {
  exitCode: number;
  log: string[];
}

export async function runExtensionHostSuite(
  browser: Browser,
  server: CodeServer,
  options: { folder: string; extensionPath?: string; testsPath: string; timeoutMs: number; onLog?: (line: string) => void },
): Promise<SuiteResult> {
  const page = await browser.newPage();
  const log: string[] = [];
  try {
    let finish: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => {
      finish = resolve;
    });
    await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      // The extension host forwards console calls with their format string first (mocha: "%d passing").
      const line = `[${type}] ${format(...(args as [unknown, ...unknown[]]))}`;
      log.push(line);
      options.onLog?.(line);
    });
    await page.exposeFunction('codeAutomationExit', (code: number) => finish(code));
    await openWorkbench(page, server, options);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        log.push(`[runner] the extension-host suite did not finish within ${options.timeoutMs} ms`);
        resolve(124);
      }, options.timeoutMs);
    });
    const exitCode = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    return { exitCode, log };
  } finally {
    await page.close();
  }
}
