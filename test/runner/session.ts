/**
 * What the runner hands to the UI test files: the running code-server, the browser, the workspace
 * and the extension folder. Kept on globalThis because mocha loads the test files through its own
 * module loader, which may not share this module instance with the runner.
 */
import type { Browser } from 'playwright-core';
import type { CodeServer } from './codeServer';

export interface UiSession {
  server: CodeServer;
  browser: Browser;
  workspace: string;
  extensionPath: string;
  verbose: boolean;
}

const KEY = Symbol.for('attention-lens.ui-session');

export function setUiSession(session: UiSession): void {
  (globalThis as Record<symbol, unknown>)[KEY] = session;
}

export function uiSession(): UiSession {
  const session = (globalThis as Record<symbol, unknown>)[KEY] as UiSession | undefined;
  if (!session) throw new Error('UI tests must be started by test/runner/run.ts (npm run test:vscode)');
  return session;
}
