import { strict as assert } from 'node:assert';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { UserFacingError } from '../../src/shared/errors';
import { cliWords } from '../../src/cli/words';
import { vscodeWords } from '../../src/vscode/words';
import { ExplainEngine } from '../../src/engine/explain';
import { workspaceFilesUsed } from '../../src/vscode/trust';

const engine = new ExplainEngine();

test('an untrusted workspace may not load its own model, tokenizer, weights or input files', () => {
  const folder = path.resolve('/home/user/project');
  const options = {
    model: path.join(folder, 'models', 'm.onnx'),
    tokenizer: path.join(folder, 'tokenizer.json'),
    weightsPath: '/opt/shared/weights.safetensors',
    inputs: { pixel_values: { kind: 'npy' as const, path: path.join(folder, 'x.npy') }, ids: { kind: 'ids' as const, values: [1, 2] } },
  };
  assert.deepEqual(workspaceFilesUsed(options, [folder]).map((entry) => entry.setting), [
    'attentionLens.model', 'attentionLens.tokenizerPath', 'attentionLens.onnx.inputs.pixel_values',
  ]);
  assert.deepEqual(workspaceFilesUsed({ model: 'builtin:tiny-decoder' }, [folder]), [], 'the built-in models need no file');
  assert.deepEqual(workspaceFilesUsed({ model: `${folder}-other/m.onnx` }, [folder]), [], 'a sibling folder is not inside the workspace');
});

test('limits: tokens, trace memory and model size each name the setting to raise', async () => {
  const cut = await engine.explain('a'.repeat(40), { maxTokens: 16 });
  assert.match(vscodeWords(cut.notices[0].message), /raise the setting "attentionLens\.maxTokens"/);
  assert.match(cliWords(cut.notices[0].message), /raise --max-tokens/);
  await assert.rejects(engine.explain('a'.repeat(64), { limits: { maxTraceMB: 0.01 } }), (error: unknown) =>
    error instanceof UserFacingError && /over the 0.01 MB limit/.test(error.message) && /"attentionLens\.limits\.maxTraceMB"/.test(vscodeWords(error.hint)) && /--max-trace-mb/.test(cliWords(error.hint)));
  const folder = mkdtempSync(path.join(tmpdir(), 'al-limits-'));
  after(() => rmSync(folder, { recursive: true, force: true }));
  const big = path.join(folder, 'big.onnx');
  const descriptor = openSync(big, 'w');
  ftruncateSync(descriptor, 3 * 2 ** 20); // sparse: no disk used
  closeSync(descriptor);
  await assert.rejects(engine.explain('x', { model: big, limits: { maxModelMB: 2 } }), (error: unknown) =>
    error instanceof UserFacingError && /3 MB, over the 2 MB limit/.test(error.message) && /"attentionLens\.limits\.maxModelSizeMB"/.test(vscodeWords(error.hint)) && error.code === 'model-too-big');
  await assert.rejects(engine.explain('x', { limits: { maxTraceMB: -1 } }), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-option' && /Invalid --max-trace-mb/.test(cliWords(error.message)));
});
