/**
 * @file Showing only what the host can do (ConfigureMessage.capabilities). A control that runs a
 * host command carries `data-command`; text that promises editor highlights carries
 * `data-needs="editor-highlights"`. In VS Code everything shows; in the HTML report, whose host
 * cannot pick a model or run the model, those controls are not drawn at all.
 */
import type { PanelCapabilities, PanelCommand } from '../src/shared/protocol';
import { PANEL_COMMANDS } from '../src/shared/protocol';

/** What VS Code's hosts do: every command, and editor highlights. */
export const FULL_CAPABILITIES: PanelCapabilities = { commands: [...PANEL_COMMANDS], editorHighlights: true };

/** The attribute a command's control carries, so applyCapabilities can find it. */
export function markCommand(element: HTMLElement, command: PanelCommand): void {
  element.dataset.command = command;
}

/** Hides, under `root`, every control the host cannot serve, and shows the others. */
export function applyCapabilities(root: ParentNode, capabilities: PanelCapabilities = FULL_CAPABILITIES): void {
  for (const element of root.querySelectorAll<HTMLElement>('[data-command]')) {
    element.hidden = !(capabilities.commands as readonly string[]).includes(element.dataset.command ?? '');
  }
  for (const element of root.querySelectorAll<HTMLElement>('[data-needs="editor-highlights"]')) {
    element.hidden = !capabilities.editorHighlights;
  }
}
