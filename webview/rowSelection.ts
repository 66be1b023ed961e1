/**
 * @file Several query rows at once (issue 23): the rows shift-clicked together, their attention
 * over the keys summed or averaged, and the rows a text search finds. Pure, so the numbers are
 * tested in Node.
 */
import type { Token } from '../src/shared/trace';
import { tokenLabel } from './labels';

/** How the selected rows' attention is combined per key. */
export type RowAggregate = 'mean' | 'sum';

/**
 * Per key, the sum or the mean of the weights of `rows` in a [queries, keys] matrix (row-major).
 * Rows out of range are left out (and not counted by the mean); no rows gives zeros. Summed in
 * float64, so a long selection does not lose the small weights.
 */
export function aggregateRows(weights: Float32Array, keys: number, rows: readonly number[], mode: RowAggregate): Float32Array {
  const queries = keys > 0 ? Math.floor(weights.length / keys) : 0;
  const totals = new Float64Array(Math.max(0, keys));
  let counted = 0;
  for (const row of rows) {
    if (!Number.isInteger(row) || row < 0 || row >= queries) continue;
    counted++;
    const offset = row * keys;
    for (let key = 0; key < keys; key++) totals[key] += weights[offset + key];
  }
  const out = new Float32Array(totals.length);
  const divisor = mode === 'mean' && counted > 0 ? counted : 1;
  for (let key = 0; key < totals.length; key++) out[key] = totals[key] / divisor;
  return out;
}

/** The rows with `row` added, or taken out when it was in; ascending. */
export function toggleRow(rows: readonly number[], row: number): number[] {
  return rows.includes(row) ? rows.filter((candidate) => candidate !== row) : [...rows, row].sort((a, b) => a - b);
}

/**
 * A shift-click's new multi-row selection: the first shift-click takes the row already selected
 * (if any) along with the clicked one, so "click a row, shift-click another" selects both.
 */
export function shiftClickRows(rows: readonly number[], selected: number | null, row: number): number[] {
  const start = rows.length === 0 && selected !== null && selected !== row ? [selected] : rows;
  return toggleRow(start, row);
}

/** "#3, #5, #9" or, for many, "#3, #5, … #40 (12 rows)". */
export function describeRows(rows: readonly number[]): string {
  if (rows.length <= 4) return rows.map((row) => `#${row}`).join(', ');
  return `#${rows[0]}, #${rows[1]}, \u2026 #${rows[rows.length - 1]} (${rows.length} rows)`;
}

/**
 * The rows whose tokens match `query`, ascending, case-insensitive: where the query occurs in the
 * stream's text (its tokens' texts joined), the token holding the occurrence's last character (the
 * row that has read all of it: "fox" in one-byte tokens is the "x"), and every token whose label
 * contains the query (specials such as "<s>", or "␣" for a space). An empty query matches nothing.
 */
export function findTokenRows(tokens: readonly Token[], query: string): number[] {
  if (query === '') return [];
  const found = new Set<number>();
  let text = '';
  const owner: number[] = [];
  tokens.forEach((token, index) => {
    text += token.text;
    for (let i = 0; i < token.text.length; i++) owner.push(index);
  });
  // Lower-casing must keep the UTF-16 offsets (it does not for a few letters, e.g. 'İ'): else match the case exactly.
  const lower = text.toLowerCase();
  const [haystack, needle] = lower.length === text.length ? [lower, query.toLowerCase()] : [text, query];
  for (let at = haystack.indexOf(needle); at >= 0 && needle.length > 0; at = haystack.indexOf(needle, at + 1)) {
    const index = owner[at + needle.length - 1];
    if (index !== undefined) found.add(index);
  }
  const wanted = query.toLowerCase();
  tokens.forEach((token, index) => {
    if (tokenLabel(token).toLowerCase().includes(wanted)) found.add(index);
  });
  return [...found].sort((a, b) => a - b);
}

/** The match after `current` (before it, `backwards`), wrapping round; the first (last) when none is current; null when no matches. */
export function nextMatch(matches: readonly number[], current: number | null, backwards = false): number | null {
  if (matches.length === 0) return null;
  if (current === null) return backwards ? matches[matches.length - 1] : matches[0];
  if (backwards) {
    for (let i = matches.length - 1; i >= 0; i--) if (matches[i] < current) return matches[i];
    return matches[matches.length - 1];
  }
  for (const match of matches) if (match > current) return match;
  return matches[0];
}
