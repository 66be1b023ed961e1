/**
 * The sliding window read back from the mask an ONNX model applied (traceFromRun.ts slidingWindowOf):
 * hand-made masks, with and without a past, and patterns that are not a window.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { moduleName, slidingWindowOf } from '../../src/engine/onnx/traceFromRun';

/** Row q allows key k when allowed(q, k). */
function maskOf(queries: number, keys: number, allowed: (q: number, k: number) => boolean): Uint8Array {
  return Uint8Array.from({ length: queries * keys }, (_, index) => (allowed(Math.floor(index / keys), index % keys) ? 1 : 0));
}

const band = (window: number, past = 0) => (q: number, k: number): boolean => k <= q + past && k > q + past - window;

test('a causal band of W keys (itself included) reads as window W', () => {
  assert.equal(slidingWindowOf(maskOf(6, 6, band(3)), 6, 6), 3);
  assert.equal(slidingWindowOf(maskOf(6, 6, band(1)), 6, 6), 1);
  // One new token after 9 cached ones, window 4: keys 6..9 of 10.
  assert.equal(slidingWindowOf(maskOf(1, 10, band(4, 9)), 1, 10), 4);
});

test('a plain causal mask, a window as long as the text, padding or a custom mask are no window', () => {
  assert.equal(slidingWindowOf(maskOf(5, 5, band(100)), 5, 5), null);
  assert.equal(slidingWindowOf(maskOf(5, 5, band(5)), 5, 5), null, 'no row is cut');
  assert.equal(slidingWindowOf(maskOf(6, 6, (q, k) => band(3)(q, k) && k !== 4), 6, 6), null, 'a padded key inside the band');
  assert.equal(slidingWindowOf(maskOf(6, 6, (q, k) => k <= q && (q < 2 || k >= q - 1)), 6, 6), 2, 'rows before it fills are whole');
  assert.equal(slidingWindowOf(maskOf(6, 6, (q, k) => k <= q && (q < 3 || k >= q - 1)), 6, 6), null, 'a whole row wider than the band');
  assert.equal(slidingWindowOf(maskOf(4, 4, () => true), 4, 4), null, 'bidirectional');
});

test('a block\'s source: the module path exporters write into node names, or nothing', () => {
  assert.equal(moduleName('/model/layers.3/self_attn/Softmax'), 'model.layers.3.self_attn');
  assert.equal(moduleName('/bert/encoder/layer.0/attention/self/Softmax'), 'bert.encoder.layer.0.attention.self');
  assert.equal(moduleName('Softmax_decoder.layers.0.self_attention.softmax'), 'decoder.layers.0.self_attention');
  assert.equal(moduleName('decoder_model::/model/decoder/layers.1/encoder_attn/Softmax'), 'model.decoder.layers.1.encoder_attn');
  for (const bare of ['Softmax_12', 'Softmax', '/Softmax', 'Attention_0']) assert.equal(moduleName(bare), null, bare);
});
