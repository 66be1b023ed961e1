/**
 * @file What the heatmap says about the LM head's predictions (issue 23): the top-1 next token
 * beside each row label ("→ e"), the top-k with probabilities and the logit lens's top-1 per layer
 * in the row's tooltip. The trace carries them per stream (`predictions`, `logitLens`); the rows
 * are the query tokens of one stream. Pure: the text measurer is passed in.
 */
import type { TraceOverview } from '../src/shared/protocol';
import type { LogitLensLayer, StreamName, TokenPrediction } from '../src/shared/trace';
import type { WordGroup } from '../src/shared/wordGroups';
import { ELLIPSIS, elide, type Measure, visibleWhitespace } from './labels';

/** The predictions of the rows' stream: top-k per position, and the lens's layers in order. */
export interface RowPredictions {
  /** `top[position]`: most likely first. */
  top: readonly (readonly TokenPrediction[])[];
  /** One entry per layer, ascending (empty without `--logit-lens`). */
  lens: readonly LogitLensLayer[];
}

/** A stream's predictions and lens in a trace, or null when the trace has no predictions for it. */
export function rowPredictions(trace: Pick<TraceOverview, 'predictions' | 'logitLens'>, stream: StreamName): RowPredictions | null {
  const top = trace.predictions?.find((entry) => entry.stream === stream)?.top;
  if (!top || top.length === 0) return null;
  const lens = (trace.logitLens ?? []).filter((entry) => entry.stream === stream).sort((a, b) => a.layer - b.layer);
  return { top, lens };
}

/** A predicted token as the labels show it: whitespace drawn visibly ("␣", "↵"), "[id]" when it has no text. */
export function predictionText(prediction: Pick<TokenPrediction, 'id' | 'text'>): string {
  return prediction.text === '' ? `[${prediction.id}]` : visibleWhitespace(prediction.text);
}

/** A probability in a few characters: "37%", "4.2%", "0.3%", "<0.1%". */
export function formatProbability(prob: number): string {
  const percent = prob * 100;
  if (!(percent >= 0.05)) return '<0.1%';
  if (percent >= 10) return `${Math.round(percent)}%`;
  return `${Number(percent.toFixed(1))}%`;
}

/** The top-k of a position on one line: "e 37% · ␣ 20% · a 8.1%". */
export function topKLine(top: readonly TokenPrediction[]): string {
  return top.map((prediction) => `${predictionText(prediction)} ${formatProbability(prediction.prob)}`).join(' \u00b7 ');
}

/** The lens's top-1 at a position per layer: "L0 x 12% · L1 y 30%" ('' without a lens). */
export function lensLine(lens: readonly LogitLensLayer[], position: number): string {
  const parts: string[] = [];
  for (const layer of lens) {
    const first = layer.top[position]?.[0];
    if (first) parts.push(`L${layer.layer} ${predictionText(first)} ${formatProbability(first.prob)}`);
  }
  return parts.join(' \u00b7 ');
}

/**
 * The note beside each row label: the top-1 prediction per token, or per word that of the word's
 * last token (the one that has read the whole word). '' where a position has none.
 */
export function rowNotes(top: RowPredictions['top'], words: readonly WordGroup[] | null): string[] {
  const at = (position: number): string => {
    const first = top[position]?.[0];
    return first ? predictionText(first) : '';
  };
  return words ? words.map((word) => at(word.end - 1)) : top.map((_, position) => at(position));
}

/** The arrow before a note: "e" is shown as "→e". */
export const NOTE_ARROW = ' \u2192';

/**
 * A row label's text and note fitted to `width`: both whole when they fit; else the note elided
 * (at least one character of it and the ellipsis); else the note dropped and the text elided.
 */
export function fitLabel(text: string, note: string, width: number, measure: Measure): { text: string; note: string } {
  if (note === '') return { text: elide(text, width, measure), note: '' };
  const textWidth = measure(text);
  const full = NOTE_ARROW + note;
  if (textWidth + measure(full) <= width) return { text, note: full };
  const first = Array.from(note)[0] ?? '';
  if (Array.from(note).length > 1 && textWidth + measure(NOTE_ARROW + first + ELLIPSIS) <= width) {
    return { text, note: elide(full, width - textWidth, measure) };
  }
  return { text: elide(text, width, measure), note: '' };
}

/** The widest a row label can be with its note, for the gutter. */
export function labelWidth(text: string, note: string | undefined, measure: Measure): number {
  return measure(text) + (note ? measure(NOTE_ARROW + note) : 0);
}

/** Items per tooltip line: the tooltip keeps its lines whole (white-space: pre), and must fit a 300 px side bar. */
export const ITEMS_PER_LINE = 3;

/** Parts joined with " · ", ITEMS_PER_LINE a line, the first line named `name` and the rest unnamed. */
function chunked(name: string, parts: readonly string[]): Array<[string, string]> {
  const lines: Array<[string, string]> = [];
  for (let i = 0; i < parts.length; i += ITEMS_PER_LINE) lines.push([i === 0 ? name : '', parts.slice(i, i + ITEMS_PER_LINE).join(' \u00b7 ')]);
  return lines;
}

/**
 * The lines the tooltip of a row (its label or a cell) gives its predictions, as [name, value]
 * pairs: "next" with the top-k, "lens" with the lens's top-1 per layer, ITEMS_PER_LINE a line.
 */
export function predictionLines(predictions: RowPredictions | null | undefined, position: number): Array<[string, string]> {
  const top = predictions?.top[position];
  if (!predictions || !top || top.length === 0) return [];
  const lens = predictions.lens.flatMap((layer) => {
    const first = layer.top[position]?.[0];
    return first ? [`L${layer.layer} ${predictionText(first)} ${formatProbability(first.prob)}`] : [];
  });
  return [...chunked('next', top.map((prediction) => `${predictionText(prediction)} ${formatProbability(prediction.prob)}`)), ...chunked('lens', lens)];
}
