/**
 * @file Token labels: what a token looks like on an axis (whitespace drawn visibly, as the byte
 * tokenizer's pieces do), and elision to a width. Pure: the text measurer is passed in.
 */
import type { Token } from '../src/shared/trace';

const VISIBLE_WHITESPACE: Readonly<Record<string, string>> = { ' ': '\u2423', '\t': '\u21e5', '\n': '\u21b5', '\r': '\u240d' };

/** Spaces, tabs and line breaks as the visible glyphs the pieces use (␣ ⇥ ↵ ␍), other controls as control pictures. */
export function visibleWhitespace(text: string): string {
  let out = '';
  for (const character of text) {
    const named = VISIBLE_WHITESPACE[character];
    if (named !== undefined) out += named;
    else if (character.charCodeAt(0) < 0x20 && character.length === 1) out += String.fromCharCode(0x2400 + character.charCodeAt(0));
    else out += character;
  }
  return out;
}

/**
 * A token as the axes show it: specials by their piece ("<s>"); otherwise the piece when it already
 * shows the text (byte pieces such as "␣" or "é[1/2]"), else the text with visible whitespace
 * (GPT-2's "Ġcat" becomes "␣cat").
 */
export function tokenLabel(token: Pick<Token, 'text' | 'piece' | 'special'> | undefined): string {
  if (!token) return '';
  if (token.special || token.text === '') return token.piece;
  const visible = visibleWhitespace(token.text);
  return token.piece.startsWith(visible) ? token.piece : visible;
}

/** Measures a string's width in CSS pixels. */
export type Measure = (text: string) => number;

/** A measurer for tests and first guesses: every character the same width. */
export function fixedWidthMeasure(characterWidth: number): Measure {
  return (text) => Array.from(text).length * characterWidth;
}

export const ELLIPSIS = '\u2026';

/**
 * The longest prefix of `text` that fits `maxWidth` with an ellipsis, whole code points only;
 * the text itself when it fits, '' when not even the ellipsis fits.
 */
export function elide(text: string, maxWidth: number, measure: Measure): string {
  if (measure(text) <= maxWidth) return text;
  if (measure(ELLIPSIS) > maxWidth) return '';
  const characters = Array.from(text);
  let low = 0;
  let high = characters.length - 1;
  // Largest n with measure(prefix(n) + …) ≤ maxWidth: binary search (widths grow with n).
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (measure(characters.slice(0, middle).join('') + ELLIPSIS) <= maxWidth) low = middle;
    else high = middle - 1;
  }
  return characters.slice(0, low).join('') + ELLIPSIS;
}

/** Indices to label when only every `step`-th fits: 0, step, 2·step, … */
export function thinnedIndices(count: number, step: number): number[] {
  const indices: number[] = [];
  if (step <= 0) return indices;
  for (let i = 0; i < count; i += step) indices.push(i);
  return indices;
}

/** Short weight for ticks: 1, 0.5, 0.873, 0.0421. */
export function formatWeight(weight: number): string {
  if (weight === 0) return '0';
  return weight >= 0.01 ? String(Number(weight.toFixed(3))) : weight.toPrecision(2);
}
