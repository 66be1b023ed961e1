/**
 * What a person does in VS Code, as playwright steps on the web workbench: open a file, select
 * text, open the editor's context menu, run a command, read the webview, take screenshots.
 * Every UI test uses these helpers, so a change in VS Code's DOM is fixed in one place.
 */
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';

/** Screenshots land here (gitignored). */
export const ARTIFACTS_DIR = path.resolve(__dirname, '../../.artifacts/ui');

/** The text editor of the editor area (not the quick-input or SCM input boxes, which are Monaco editors too). */
const EDITOR = '.editor-instance .monaco-editor';

export async function openFile(page: Page, fileName: string): Promise<void> {
  // Quick Open's file search is slow on a loaded machine, and a focus change can close the widget:
  // try again with a fresh widget rather than fail on the first wait.
  for (let attempt = 1; ; attempt++) {
    await page.locator('.monaco-workbench').click({ position: { x: 5, y: 5 } }).catch(() => undefined);
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(fileName);
    try {
      // Enter before the file's row appears does nothing: a file not opened before is found by the
      // file search a moment after the (already shown) recently-opened rows.
      await page.locator('.quick-input-list .monaco-list-row', { hasText: fileName }).first().waitFor({ state: 'visible', timeout: 20_000 });
      break;
    } catch (error) {
      if (attempt === 3) throw error;
      await page.keyboard.press('Escape');
    }
  }
  await page.keyboard.press('Enter');
  await page.locator(`.tab[aria-label^="${fileName}"], .tab:has-text("${fileName}")`).first().waitFor({ timeout: 20_000 });
  await page.locator(`${EDITOR} .view-lines`).first().waitFor({ state: 'visible' });
}

/** The painted selection of the editor (Monaco keeps empty, zero-size .selected-text nodes around). */
function selectionHighlight(page: Page) {
  return page.locator(`${EDITOR} .view-overlays .selected-text`).filter({ visible: true }).first();
}

/** Focuses the editor text and moves the cursor to the very start, leaving no selection. */
export async function placeCursorAtStart(page: Page): Promise<void> {
  await page.locator(`${EDITOR} .view-lines`).first().click();
  await page.keyboard.press('Control+Home');
}

/** Selects the first line of the active editor (Home, then Shift+End). */
export async function selectFirstLine(page: Page): Promise<void> {
  await placeCursorAtStart(page);
  await page.keyboard.press('Shift+End');
  await selectionHighlight(page).waitFor({ state: 'visible' });
}

/**
 * Opens the editor context menu and returns its entries' labels. It right-clicks near the start of
 * the first line, which is inside any selection made by selectFirstLine (Monaco keeps a selection
 * when the right-click lands on it).
 */
export async function openEditorContextMenu(page: Page): Promise<string[]> {
  const firstLine = page.locator(`${EDITOR} .view-line`).filter({ visible: true }).first();
  const box = await firstLine.boundingBox();
  if (!box) throw new Error('the editor shows no text line to right-click');
  await page.mouse.click(box.x + 8, box.y + box.height / 2, { button: 'right' });
  const labels = page.locator('.monaco-menu .action-label:not(.separator)');
  await labels.first().waitFor({ state: 'visible', timeout: 10_000 });
  return (await labels.allTextContents()).map((label) => label.trim()).filter((label) => label.length > 0);
}

export async function closeMenus(page: Page): Promise<void> {
  await page.keyboard.press('Escape');
  await page.locator('.monaco-menu').first().waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
}

export async function clickContextMenuItem(page: Page, label: string): Promise<void> {
  await page.locator('.monaco-menu .action-label', { hasText: label }).first().click();
}

/** Runs a command by its palette title ("Attention Lens: Explain Attention"). */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ state: 'visible' });
  await page.keyboard.press('Enter');
}

/** The content frame of the (single) visible webview. */
export function webviewFrame(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
}

export async function screenshot(page: Page, name: string, clip?: { x: number; y: number; width: number; height: number }): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name.replace(/[^\w.-]+/g, '_')}.png`);
  await page.screenshot({ path: file, ...(clip ? { clip } : {}) });
  return file;
}

/** Picks the quick-pick row whose label contains `label` (the quick pick must be open). */
export async function pickQuickItem(page: Page, label: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(label);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
  await row.waitFor({ state: 'visible', timeout: 20_000 });
  await row.click();
}

/**
 * Answers an open-file dialog with a path. In the web workbench it is VS Code's "simple file
 * dialog", a quick input that completes a path as it is typed (a filled-in value is overwritten
 * by its completion, so the path is typed key by key).
 */
export async function answerOpenDialog(page: Page, absolutePath: string): Promise<void> {
  await typePathIntoDialog(page, absolutePath);
  // The dialog lists the folder of the typed path; accepting before it has settled on the file
  // answers "Please select a file.", so wait for the file's row, then accept it.
  const fileRow = page.locator('.quick-input-list .monaco-list-row', { hasText: path.basename(absolutePath) }).first();
  await fileRow.waitFor({ state: 'visible', timeout: 20_000 });
  await page.waitForTimeout(300);
  await page.keyboard.press('Enter');
  try {
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 3_000 });
  } catch {
    await fileRow.click();
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 20_000 });
  }
}

/** Types a whole path over what the simple file dialog suggests (clearing it makes it refill). */
async function typePathIntoDialog(page: Page, absolutePath: string): Promise<void> {
  const input = page.locator('.quick-input-widget input').filter({ visible: true }).first();
  await input.waitFor();
  await waitUntil(page, async () => (await input.inputValue()).startsWith('/'), 'the file dialog to show a path');
  await input.click();
  await page.keyboard.press('Control+A');
  await input.pressSequentially(absolutePath, { delay: 5 });
  await waitUntil(page, async () => (await input.inputValue()) === absolutePath, `the file dialog to hold ${absolutePath}`);
}

/** Polls `condition` every 100 ms until it holds, or fails after `timeoutMs` naming `what`. */
async function waitUntil(page: Page, condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(100);
  }
}

/**
 * Switches the workbench to a light or dark theme with "Toggle between Light/Dark Themes" (the
 * theme picker of code-server searches a marketplace this machine cannot reach).
 */
export async function setThemeKind(page: Page, kind: 'light' | 'dark'): Promise<void> {
  const wanted = kind === 'light' ? 'vs' : 'vs-dark';
  const isWanted = (): Promise<boolean> => page.evaluate((themeClass) => document.querySelector('.monaco-workbench')?.classList.contains(themeClass) ?? false, wanted);
  if (await isWanted()) return;
  await runCommand(page, 'Preferences: Toggle between Light/Dark Themes');
  await waitUntil(page, isWanted, `the ${kind} theme`);
}

/**
 * Texts of the notifications, read from the notification center (toasts are not always shown to a
 * page without window focus, but every notification lands in the center).
 */
export async function notificationTexts(page: Page): Promise<string[]> {
  await runCommand(page, 'Notifications: Show Notifications');
  const messages = page.locator('.notifications-center .notification-list-item-message');
  await messages.first().waitFor({ state: 'visible', timeout: 10_000 }).catch(() => undefined);
  const texts = await messages.allTextContents();
  await runCommand(page, 'Notifications: Hide Notifications').catch(() => undefined);
  return texts;
}

/**
 * Answers a save dialog with a path: in the web workbench, the "simple file dialog" again, which
 * takes the whole path typed over its suggestion.
 */
export async function answerSaveDialog(page: Page, absolutePath: string): Promise<void> {
  await typePathIntoDialog(page, absolutePath);
  // As with opening, the dialog may still be completing the typed path: give it a moment, and if
  // Enter did not take, accept with its OK button.
  await page.waitForTimeout(300);
  await page.keyboard.press('Enter');
  const widget = page.locator('.quick-input-widget');
  try {
    await widget.waitFor({ state: 'hidden', timeout: 3_000 });
  } catch {
    // Its validation can lag behind the typing ("The folder already exists" for the full file
    // path): edit the end of the value to make it validate again, then accept.
    const input = page.locator('.quick-input-widget input').filter({ visible: true }).first();
    if ((await input.inputValue().catch(() => '')) !== absolutePath) await typePathIntoDialog(page, absolutePath);
    await input.press('End');
    await input.press('x');
    await input.press('Backspace');
    await waitUntil(page, async () => (await input.inputValue()) === absolutePath, `the save dialog to hold ${absolutePath}`);
    await page.waitForTimeout(500);
    await page.keyboard.press('Enter');
    await widget.waitFor({ state: 'hidden', timeout: 20_000 });
  }
}

/** Waits until a file the page saves exists, then a moment more for its last bytes. */
export async function waitForFile(file: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} was not written`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}

/** "Select Model...": a quick-pick item by its label, or "Browse for ONNX file..." answered with `file`. */
export async function selectModel(page: Page, label: string, file?: string): Promise<void> {
  await runCommand(page, 'Attention Lens: Select Model...');
  if (file) {
    await pickQuickItem(page, 'Browse for ONNX file...');
    await answerOpenDialog(page, file);
  } else {
    await pickQuickItem(page, label);
  }
}
