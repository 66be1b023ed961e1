/**
 * @file The heatmap's axes read as words (the Words toggle): each token list's word groups
 * (src/shared/wordGroups.ts), the words' label texts and the tokens that begin a word, worked out
 * once per token list (a trace's token lists stay the same objects while it is on show).
 */
import type { Token } from '../src/shared/trace';
import { groupIndexOfTokens, groupWords, type WordGroup } from '../src/shared/wordGroups';
import type { AxisTexts } from './heatmapLabels';
import { tokenLabel, visibleWhitespace } from './labels';

/** One axis as words. */
export interface WordAxis {
  groups: WordGroup[];
  /** Per group: its label (whitespace drawn visibly: a group of line breaks shows "↵"). */
  texts: string[];
  /** The tokens that begin a word, ascending, token 0 left out (where separators go). */
  starts: number[];
  /** Per token: its group's index. */
  groupOf: Int32Array;
}

const cache = new WeakMap<readonly Token[], WordAxis>();

/** The words of a token list (cached per list). */
export function wordAxis(tokens: readonly Token[]): WordAxis {
  let axis = cache.get(tokens);
  if (!axis) {
    const groups = groupWords(tokens);
    axis = {
      groups,
      texts: groups.map((group) => visibleWhitespace(group.text)),
      starts: groups.slice(1).map((group) => group.start),
      groupOf: groupIndexOfTokens(groups, tokens.length),
    };
    cache.set(tokens, axis);
  }
  return axis;
}

/** What an axis's labels show: one per word, or one per token. */
export function axisTexts(tokens: readonly Token[], words: WordAxis | null): AxisTexts {
  return words ? { texts: words.texts, words: words.groups } : { texts: tokens.map((token) => tokenLabel(token)), words: null };
}

/** The word token `index` is in (undefined without words or out of range). */
export function wordOf(words: WordAxis | null, index: number): WordGroup | undefined {
  return words ? words.groups[words.groupOf[index] ?? -1] : undefined;
}
