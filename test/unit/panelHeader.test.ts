/**
 * Issue 22's short header, in its pure parts (webview/shell.ts): how the notices take their one
 * line (none, one short notice as it is, or "N notices: the first…" that expands) and the model's
 * facts the header's tooltip and expandable line show, with the backend second to last (the header
 * marks that one #backend-fact). The layout itself is checked in the real VS Code
 * (test/ui/narrowPanel.test.ts).
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { traceOverview } from '../../src/shared/protocol';
import { INLINE_NOTICE_CHARS, modelFacts, noticeLine } from '../../webview/shell';

describe('the notices take one line', () => {
  test('no notices: no line', () => {
    assert.deepEqual(noticeLine([]), { kind: 'none' });
  });

  test('one short notice is the line itself; one character longer folds', () => {
    const short = 'x'.repeat(INLINE_NOTICE_CHARS);
    assert.deepEqual(noticeLine([short]), { kind: 'inline' });
    assert.deepEqual(noticeLine([`${short}y`]), { kind: 'folded', count: '1 notice', first: `${short}y` });
  });

  test('two notices, however short, fold into "2 notices" starting the first', () => {
    assert.deepEqual(noticeLine(['First.', 'Second.']), { kind: 'folded', count: '2 notices', first: 'First.' });
  });
});

describe("the model's facts", () => {
  const engine = new ExplainEngine();

  test('a decoder: kind, layers × heads, width, backend (second to last), tokenizer', async () => {
    const trace = traceOverview(await engine.explain('The cat.', { model: 'builtin:tiny-decoder' }));
    const facts = modelFacts(trace);
    // tiny-decoder: 3 layers of 4 heads, d_model 64, bytes (the presets' table in src/engine).
    assert.deepEqual(facts, ['decoder', '3 layers × 4 heads', 'd_model 64', `backend ${trace.backend}`, 'tokenizer bytes']);
    assert.match(facts[facts.length - 2], /^backend /);
  });

  test('an encoder-decoder counts its layers as encoder+decoder', async () => {
    const trace = traceOverview(await engine.explain('The cat.', { model: 'builtin:tiny-encdec' }));
    const { encoderLayers, decoderLayers } = trace.model;
    assert.equal(modelFacts(trace)[1], `${encoderLayers}+${decoderLayers} layers × 4 heads`);
  });
});
