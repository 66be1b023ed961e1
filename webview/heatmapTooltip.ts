/**
 * @file The heatmap's tooltip: query, key and weight of the cell under the pointer (masked and
 * leaking weights said so), with the words the tokens are in while the labels are per word, placed
 * beside the pointer inside the figure; the query's next-token predictions (and logit lens) below
 * them when the trace has them. Row labels and the selected rows' strip show the same kind of tooltip.
 */
import type { BlockOverview } from '../src/shared/protocol';
import type { Token } from '../src/shared/trace';
import type { WordGroup } from '../src/shared/wordGroups';
import { LEAK_THRESHOLD } from './colorScale';
import { outsideWindow } from './kvGroups';
import { tokenLabel } from './labels';
import { predictionLines, type RowPredictions } from './predictionLabels';

/** A tooltip line: a name (dimmed, '' for a continued line), a value, and a class for the value. */
export type TooltipLine = [name: string, value: string, className?: string];

/** What the tooltip of one cell reads from. */
export interface TooltipInput {
  block: BlockOverview;
  weights: Float32Array | null;
  mask: Uint8Array | null;
  queryTokens: readonly Token[];
  keyTokens: readonly Token[];
  /** The query stream's predictions, when the trace has them. */
  predictions?: RowPredictions | null;
}

/** The words of the query and key tokens (while the labels are per word). */
export interface TooltipWords {
  query: WordGroup | undefined;
  key: WordGroup | undefined;
}

/** ` · in "quick"` for a token inside a word of several tokens (no '#': tests read the token's index after it). */
function inWord(word: WordGroup | undefined): string {
  return word && word.end - word.start > 1 ? `  \u00b7 in \u201c${word.text}\u201d` : '';
}

/** Fills and shows `tooltip` for cell (query, key), placed by the pointer inside `figure`. */
export function showCellTooltip(tooltip: HTMLElement, figure: HTMLElement, input: TooltipInput, query: number, key: number, event: MouseEvent, words?: TooltipWords): void {
  const { block, weights, mask } = input;
  const lines: TooltipLine[] = [
    ['query', `${tokenLabel(input.queryTokens[query])}  #${query}${inWord(words?.query)}`],
    ['key', `${tokenLabel(input.keyTokens[key])}  #${key}${inWord(words?.key)}`],
  ];
  const i = query * block.keys + key;
  const isMasked = mask !== null && mask[i] === 0;
  const weight = weights ? weights[i] : NaN;
  const weightText = weights ? `${weight.toFixed(4)}${isMasked ? (outsideWindow(block, query, key) ? ' (masked: outside the window)' : ' (masked)') : ''}` : 'loading…';
  lines.push(['weight', weightText, isMasked ? (weight > LEAK_THRESHOLD ? 'tooltip-leak' : 'tooltip-masked') : undefined]);
  lines.push(...predictionLines(input.predictions, query));
  showTooltip(tooltip, figure, lines, event);
}

/** Fills `tooltip` with `lines` and shows it beside the pointer, inside `figure`. */
export function showTooltip(tooltip: HTMLElement, figure: HTMLElement, lines: readonly TooltipLine[], event: { clientX: number; clientY: number }): void {
  tooltip.replaceChildren(...lines.map(([name, value, className]) => {
    const row = document.createElement('div');
    const label = document.createElement('span');
    label.className = 'tooltip-key';
    label.textContent = name;
    const text = document.createElement('span');
    text.textContent = value;
    if (className) text.className = className;
    row.append(label, text);
    return row;
  }));
  tooltip.hidden = false;
  const bounds = figure.getBoundingClientRect();
  const x = event.clientX - bounds.left;
  const y = event.clientY - bounds.top;
  const width = tooltip.offsetWidth;
  const height = tooltip.offsetHeight;
  let left = x + 14;
  if (left + width > bounds.width) left = Math.max(0, x - width - 14);
  let top = y + 14;
  if (top + height > bounds.height && y - height - 14 >= 0) top = y - height - 14;
  tooltip.style.left = `${left}px`;
  tooltip.style.top = `${top}px`;
}
