/**
 * @file Small DOM helpers the panel's views share: making an element, a button that runs a host
 * command, a select's options, calling back at most once per animation frame, and redrawing when
 * elements change size.
 */
import type { PanelCommand } from '../src/shared/protocol';
import { markCommand } from './capabilities';

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A button that asks the host to run `command` (marked, so applyCapabilities hides it where the host cannot). */
export function commandButton(command: PanelCommand, text: string, label: string, run: (command: PanelCommand) => void, id?: string): HTMLButtonElement {
  const button = element('button', { type: 'button', 'aria-label': label, title: label, class: 'command' }, text);
  if (id) button.id = id;
  markCommand(button, command);
  button.addEventListener('click', () => run(command));
  return button;
}

/** Replaces a select's options only when they differ (keeps focus and scroll), then selects `value`. */
export function replaceOptions(select: HTMLSelectElement, options: ReadonlyArray<readonly [string, string]>, value: string): void {
  const same = select.options.length === options.length && options.every(([v, t], i) => select.options[i].value === v && select.options[i].textContent === t);
  if (!same) select.replaceChildren(...options.map(([v, t]) => element('option', { value: v }, t)));
  select.value = value;
}

/** A `<label class="picker">` with its text (`.picker-text`, which a narrow panel hides) and control. */
export function picker(text: string, control: HTMLElement): HTMLLabelElement {
  const label = element('label', { class: 'picker' });
  label.append(element('span', { class: 'picker-text' }, text), control);
  return label;
}

/**
 * `callback` with the latest value, at most once per animation frame: pointer moves come far more
 * often than the host can highlight.
 */
export function oncePerFrame<T>(callback: (value: T) => void): (value: T) => void {
  let frame = 0;
  let latest: T;
  return (value: T) => {
    latest = value;
    if (frame !== 0) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      callback(latest);
    });
  };
}

export interface SizeWatch {
  /** Runs in the ResizeObserver's callback, while layout is fresh (reading sizes there is free). */
  measured(): void;
  /** What the drawing depends on, as text; null while there is nothing to draw (not remembered). */
  key(): string | null;
  /** Redraws; called at most once per frame, and only when key() changed. */
  redraw(): void;
}

/** Watches `targets`' sizes and redraws as SizeWatch says. */
export function watchSizes(targets: readonly Element[], watch: SizeWatch): void {
  let lastKey = '';
  let frame = 0;
  const observer = new ResizeObserver(() => {
    watch.measured();
    if (frame !== 0) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const key = watch.key();
      if (key === null || key === lastKey) return;
      lastKey = key;
      watch.redraw();
    });
  });
  for (const target of targets) observer.observe(target);
}
