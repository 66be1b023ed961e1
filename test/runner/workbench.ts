/**
 * Opening the VS Code workbench of a running code-server in a browser page, with this extension
 * loaded from its folder (as "Extension Development Host") and optionally a test suite to run in
 * the real Node extension host.
 */
import type { Page } from 'playwright-core';
import type { CodeServer } from './codeServer';

export interface WorkbenchOptions {
  /** Folder to open as the workspace. */
  folder: string;
  /** The extension's folder, loaded as the development extension; absent: only installed extensions run. */
  extensionPath?: string;
  /** Compiled mocha suite folder (its index.js exports run()), to run inside the extension host. */
  testsPath?: string;
}

export function workbenchUrl(server: CodeServer, options: WorkbenchOptions): string {
  const remote = (absolute: string): string => `vscode-remote://127.0.0.1:${server.port}${absolute}`;
  const payload: Array<[string, string]> = [['skipWelcome', 'true']];
  if (options.extensionPath) payload.push(['extensionDevelopmentPath', remote(options.extensionPath)]);
  if (options.testsPath) payload.push(['extensionTestsPath', remote(options.testsPath)]);
  return `${server.url}/?folder=${encodeURIComponent(options.folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export async function openWorkbench(page: Page, server: CodeServer, options: WorkbenchOptions): Promise<void> {
  await page.goto(workbenchUrl(server, options));
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
}
