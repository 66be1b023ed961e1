import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { UserFacingError } from '../../src/shared/errors';
import { ExplainEngine } from '../../src/engine/explain';
import { cliWords } from '../../src/cli/words';
import { tempFolder } from '../support/tempFolders';

const engine = new ExplainEngine();

/** The engine's message as the CLI words it (option references become flags). */
async function rejectsWith(promise: Promise<unknown>, message: RegExp, hint: RegExp, code?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UserFacingError, `expected a UserFacingError, got ${String(error)}`);
    assert.match(cliWords(error.message), message);
    assert.match(cliWords(error.hint), hint);
    if (code) assert.equal(error.code, code);
    return true;
  });
}

test('empty and whitespace-only text get a message that says what to do', async () => {
  await rejectsWith(engine.explain(''), /selection is empty/, /Select some text/);
  await rejectsWith(engine.explain(' \t\r\n  '), /only whitespace/, /Select some words/);
});

test('text over max tokens is truncated, and the trace says so', async () => {
  const text = 'a'.repeat(40);
  const trace = await engine.explain(text, { maxTokens: 16 });
  assert.equal(trace.streams[0].tokens.length, 16);
  assert.deepEqual(trace.truncation, [{ stream: 'decoder', originalTokens: 40, keptTokens: 16, maxTokens: 16 }]);
  assert.match(trace.notices[0].message, /cut to its first 16 of 40 tokens/);
  assert.equal(trace.notices[0].code, 'truncated');
  assert.equal(trace.blocks[0].queries, 16);
  const untouched = await engine.explain('short');
  assert.deepEqual(untouched.truncation, []);
});

test('the default max tokens is 512', async () => {
  const trace = await engine.explain('b'.repeat(600));
  assert.equal(trace.streams[0].tokens.length, 512);
  assert.equal(trace.truncation[0].originalTokens, 600);
});

test('invalid options are refused clearly', async () => {
  await rejectsWith(engine.explain('x', { maxTokens: 0 }), /Invalid --max-tokens: 0/, /whole number from 1/, 'invalid-option');
  await rejectsWith(engine.explain('x', { maxTokens: 2.5 }), /Invalid --max-tokens/, /whole number/, 'invalid-option');
  await rejectsWith(engine.explain('x', { seed: -1 }), /Invalid --seed/, /whole number/, 'invalid-option');
  await rejectsWith(engine.explain('x', { model: 'builtin:nope' }), /Unknown built-in model "nope"/, /tiny-decoder/);
  await rejectsWith(engine.explain('abcdef', { model: 'builtin:tiny-encoder', padTo: 3 }), /Cannot pad to 3 tokens/, /at least 6/);
  await rejectsWith(engine.explain('abc', { model: 'builtin:tiny-decoder', padTo: 8 }), /Padding applies to models with an encoder/, /encoder/);
  await rejectsWith(engine.explain('abc', { model: 'builtin:tiny-encdec', decoderText: '   ' }), /decoder text contains only whitespace/, /Select/);
  await rejectsWith(engine.explain('abc', { weightsPath: '/nonexistent/w.safetensors' }), /The weights file was not found: \/nonexistent\/w\.safetensors/, /Check the path \(--weights\)/, 'file-not-found');
});

test('token offsets of the built-in stream index the user text', async () => {
  const text = 'e\u0301 🙂\r\n\tπ';
  const trace = await engine.explain(text);
  for (const token of trace.streams[0].tokens) {
    assert.equal(text.slice(token.start, token.end), token.text);
  }
});

test('a tokenizer.json can feed a built-in model whose vocabulary fits it', async () => {
  const { execFileSync } = await import('node:child_process');
  const path = await import('node:path');
  const out = tempFolder('al-tok-');
  execFileSync(process.execPath, [path.resolve(__dirname, '../../scripts/make-tokenizers.mjs'), out], { stdio: 'pipe' });
  const gpt2 = path.join(out, 'gpt2', 'tokenizer.json');
  const trace = await engine.explain('The cat sat on the mat.', { model: 'builtin:gpt2-shape', tokenizer: gpt2, maxTokens: 16, backend: 'reference' });
  assert.deepEqual(trace.streams[0].tokens.map((t) => t.id), [464, 3797, 3332, 319, 262, 2603, 13]);
  assert.match(trace.model.tokenizer, /gpt2/);
  assert.equal(trace.blocks[0].queries, 7);
  await rejectsWith(engine.explain('x', { model: 'builtin:tiny-decoder', tokenizer: gpt2 }), /50257 ids, more than the 260 embeddings/, /byte tokenizer/);
  await rejectsWith(engine.explain('x', { tokenizer: path.join(out, 'missing.json') }), /not found/, /.+/);
  // BERT already starts with [CLS]: the shifted decoder input must not get a second one.
  const bert = path.join(out, 'bert-base-uncased', 'tokenizer.json');
  const encdec = await engine.explain('hello world', { model: 'builtin:paper-base', tokenizer: bert, backend: 'reference' });
  const pieces = (name: string) => encdec.streams.find((s) => s.name === name)!.tokens.map((t) => t.piece);
  assert.deepEqual(pieces('encoder'), ['[CLS]', 'hello', 'world', '[SEP]']);
  assert.deepEqual(pieces('decoder'), ['[CLS]', 'hello', 'world', '[SEP]']);
});
