/**
 * What a person does in VS Code, as playwright steps on the web workbench: open a file, select
 * text, open the editor's context menu, run a command, read the webview, take screenshots.
 * Every UI test uses these helpers, so a change in VS Code's DOM is fixed in one place.
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';

/** Screenshots land here (gitignored). */
export const ARTIFACTS_DIR = path.resolve(__dirname, '../../.artifacts/ui');

/** The text editor of the editor area (not the quick-input or SCM input boxes, which are Monaco editors too). */
const EDITOR = '.editor-instance .monaco-editor';

export async function openFile(page: Page, fileName: string): Promise<void> {
  await page.locator('.monaco-workbench').click({ position: { x: 5, y: 5 } }).catch(() => undefined);
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(fileName);
  // Enter before the row appears does nothing.
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ state: 'visible', timeout: 20_000 });
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

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name.replace(/[^\w.-]+/g, '_')}.png`);
  await page.screenshot({ path: file });
  return file;
}
