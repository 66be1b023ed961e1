/**
 * @file "Ablate Head" on the overview's head cells: a small menu on right-click, or from the
 * keyboard on the focused cell (Shift+F10 or the context-menu key), with "Ablate Head" (or "Stop
 * Ablating Head" for a head already ablated) and "Open in Heatmap". Choosing one asks the host to
 * run the text again (AblationRequestMessage). Ablated heads' cells are outlined. It works on the
 * overview's DOM from outside (cells carry data-block-index and data-head), so the overview stays
 * unaware of ablation.
 */
import type { AblationHeadRef, AblationRequestMessage } from '../src/shared/protocol';
import { element } from './dom';
import type { PanelSession } from './session';

export class AblationMenu {
  readonly element = element('div', { id: 'ablation-menu', class: 'ablation-menu', role: 'menu', 'aria-label': 'Head actions' });
  /** The cell the menu is open for (focus goes back to it when the menu closes). */
  private cell: HTMLElement | null = null;

  constructor(
    private readonly overview: HTMLElement,
    private readonly session: PanelSession,
    private readonly post: (message: AblationRequestMessage) => void,
    private readonly open: (blockIndex: number, head: number) => void,
    /** Whether the host can run the model again (not in a trace file's editor or the HTML report). */
    private readonly enabled: () => boolean,
  ) {
    this.element.hidden = true;
    this.element.style.cssText = 'position:fixed;z-index:20;min-width:150px;padding:4px 0;display:flex;flex-direction:column;'
      + 'background:var(--vscode-menu-background, var(--vscode-editorWidget-background));color:var(--vscode-menu-foreground, inherit);'
      + 'border:1px solid var(--vscode-menu-border, var(--vscode-widget-border, transparent));box-shadow:0 2px 8px var(--vscode-widget-shadow, rgba(0,0,0,.36));border-radius:4px';
    overview.addEventListener('contextmenu', (event) => {
      const cell = (event.target as HTMLElement).closest<HTMLElement>('.overview-cell');
      if (!cell || !this.enabled()) return;
      // Also keeps VS Code's own webview context menu (Cut, Copy, Paste) from opening.
      event.preventDefault();
      event.stopPropagation();
      // A keyboard-opened context menu event carries no pointer position: the menu goes under the cell.
      const fromPointer = event.clientX !== 0 || event.clientY !== 0;
      const box = cell.getBoundingClientRect();
      this.show(cell, fromPointer ? event.clientX : box.left, fromPointer ? event.clientY : box.bottom);
    });
    overview.addEventListener('keydown', (event) => {
      const cell = (event.target as HTMLElement).closest<HTMLElement>('.overview-cell');
      if (!cell || !this.enabled() || !((event.key === 'F10' && event.shiftKey) || event.key === 'ContextMenu')) return;
      event.preventDefault();
      const box = cell.getBoundingClientRect();
      this.show(cell, box.left, box.bottom);
    });
    // A family change re-draws the grid: mark the new cells.
    overview.addEventListener('change', () => this.mark());
    this.element.addEventListener('keydown', (event) => this.onKey(event));
    this.element.addEventListener('focusout', (event) => {
      if (!this.element.contains(event.relatedTarget as Node | null)) this.close(false);
    });
    document.addEventListener('pointerdown', (event) => {
      if (!this.element.hidden && !this.element.contains(event.target as Node)) this.close(false);
    }, true);
    // The overview renders its grid on traceLoaded before this (it subscribed first): then mark it.
    session.subscribe((event) => {
      if (event.type === 'traceLoaded') {
        this.close(false);
        this.mark();
      }
    });
  }

  /** The head a cell shows, as the host names heads for ablation. */
  private headOf(cell: HTMLElement): { ref: AblationHeadRef; blockIndex: number } | null {
    const blockIndex = Number(cell.dataset.blockIndex);
    const head = Number(cell.dataset.head);
    const block = this.session.shown?.trace.blocks[blockIndex];
    return block && Number.isInteger(head) ? { ref: { kind: block.kind, layer: block.layer, head }, blockIndex } : null;
  }

  private isAblated(ref: AblationHeadRef): boolean {
    return (this.session.shown?.trace.ablation?.heads ?? []).some((head) => head.kind === ref.kind && head.layer === ref.layer && head.head === ref.head);
  }

  /** Outlines the cells of the heads the trace's ablation switched off. */
  mark(): void {
    for (const cell of Array.from(this.overview.querySelectorAll<HTMLElement>('.overview-cell'))) {
      const head = this.headOf(cell);
      const ablated = head !== null && this.isAblated(head.ref);
      cell.toggleAttribute('data-ablated', ablated);
      cell.style.outline = ablated ? '2px dashed var(--vscode-editorWarning-foreground, orange)' : '';
      cell.style.outlineOffset = ablated ? '-2px' : '';
    }
  }

  private show(cell: HTMLElement, x: number, y: number): void {
    const head = this.headOf(cell);
    if (!head) return;
    this.cell = cell;
    const ablated = this.isAblated(head.ref);
    const item = (text: string, action: () => void, id: string): HTMLButtonElement => {
      const button = element('button', { type: 'button', role: 'menuitem', id, class: 'ablation-menu-item', tabindex: '-1' }, text);
      button.style.cssText = 'background:none;border:none;color:inherit;font:inherit;text-align:left;padding:4px 14px;cursor:pointer';
      button.addEventListener('mouseenter', () => button.focus());
      button.addEventListener('focus', () => {
        button.style.background = 'var(--vscode-menu-selectionBackground, var(--vscode-list-activeSelectionBackground))';
        button.style.color = 'var(--vscode-menu-selectionForeground, inherit)';
      });
      button.addEventListener('blur', () => {
        button.style.background = 'none';
        button.style.color = 'inherit';
      });
      button.addEventListener('click', () => {
        this.close(false);
        action();
      });
      return button;
    };
    this.element.replaceChildren(
      ablated
        ? item('Stop Ablating Head', () => this.post({ type: 'ablation', action: 'remove', head: head.ref }), 'ablation-menu-remove')
        : item('Ablate Head', () => this.post({ type: 'ablation', action: 'add', head: head.ref }), 'ablation-menu-ablate'),
      item('Open in Heatmap', () => this.open(head.blockIndex, head.ref.head), 'ablation-menu-open'),
    );
    this.element.hidden = false;
    // Kept inside the window.
    const width = this.element.offsetWidth;
    const height = this.element.offsetHeight;
    this.element.style.left = `${Math.max(0, Math.min(x, window.innerWidth - width - 2))}px`;
    this.element.style.top = `${Math.max(0, Math.min(y, window.innerHeight - height - 2))}px`;
    this.items()[0]?.focus();
  }

  private items(): HTMLButtonElement[] {
    return Array.from(this.element.querySelectorAll<HTMLButtonElement>('[role="menuitem"]'));
  }

  private onKey(event: KeyboardEvent): void {
    const items = this.items();
    const here = items.indexOf(document.activeElement as HTMLButtonElement);
    if (event.key === 'Escape') this.close(true);
    else if (event.key === 'ArrowDown') items[(here + 1) % items.length]?.focus();
    else if (event.key === 'ArrowUp') items[(here - 1 + items.length) % items.length]?.focus();
    else if (event.key === 'Tab') this.close(true);
    else return;
    event.preventDefault();
    event.stopPropagation();
  }

  private close(refocus: boolean): void {
    if (this.element.hidden) return;
    this.element.hidden = true;
    this.element.replaceChildren();
    if (refocus) this.cell?.focus();
    this.cell = null;
  }
}
