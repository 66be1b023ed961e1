/**
 * Every way a user's ONNX file can be wrong ends in a message that says what to do.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, ftruncateSync, mkdirSync, copyFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { onnx } from 'onnx-proto';
import { UserFacingError } from '../../src/shared/errors';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { ElementType, GraphBuilder } from '../../src/engine/onnx/builder';
import { tempFolder } from '../support/tempFolders';

const workDir = tempFolder('al-onnx-errors-');
after(() => rmSync(workDir, { recursive: true, force: true }));
const engine = new ExplainEngine();
const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/onnx');

async function failsWith(model: string, message: RegExp, hint: RegExp, text = 'some text'): Promise<void> {
  await assert.rejects(engine.explain(text, { model, backend: 'wasm', threads: 1 }), (error: unknown) => {
    assert.ok(error instanceof UserFacingError, `expected a UserFacingError, got: ${String(error)}`);
    assert.match(error.message, message);
    assert.match(error.hint, hint);
    return true;
  });
}

function file(name: string, bytes: Uint8Array | string): string {
  const target = path.join(workDir, name);
  writeFileSync(target, bytes);
  return target;
}

test('a file that is not ONNX', async () => {
  await failsWith(file('notes.onnx', 'these are just notes, not a model'), /not .*ONNX|could not be (read|decoded)|not a valid/i, /.+/);
});

test('a missing file', async () => {
  await failsWith(path.join(workDir, 'nowhere.onnx'), /not found/, /path|Select Model/);
});

test('a truncated file', async () => {
  const bytes = (await exportBuiltinModel({ model: 'builtin:tiny-decoder' })).model;
  await failsWith(file('truncated.onnx', bytes.subarray(0, Math.floor(bytes.length / 3))), /truncated|not .*ONNX|could not be|not a valid/i, /.+/);
});

test('a file over 2 GB without external data', async () => {
  const huge = path.join(workDir, 'huge.onnx');
  const descriptor = openSync(huge, 'w');
  ftruncateSync(descriptor, 2 ** 31 + 1); // sparse: no disk used
  closeSync(descriptor);
  await failsWith(huge, /cannot be over 2 GB/, /external data/);
});

test('a graph with no attention in it', async () => {
  const builder = new GraphBuilder();
  const x = builder.input('x', ElementType.FLOAT, [1, 4]);
  builder.node('Relu', [x], 'y');
  builder.output('y', ElementType.FLOAT, [1, 4]);
  const bytes = onnx.ModelProto.encode(builder.build({ graphName: 'no_attention', opset: 17, producer: 'test' })).finish();
  await failsWith(file('relu.onnx', bytes), /no attention|No attention/i, /export|eager/i);
});

test('an operator ONNX Runtime does not know', async () => {
  const bytes = (await exportBuiltinModel({ model: 'builtin:tiny-decoder' })).model;
  const model = onnx.ModelProto.decode(bytes);
  model.opsetImport.push({ domain: 'com.example', version: 1 });
  const relu = model.graph!.node!.find((node) => node.opType === 'Gather')!;
  const strange = onnx.NodeProto.create({ name: 'strange', opType: 'Frobnicate', domain: 'com.example', input: [relu.output![0]], output: ['frobnicated'] });
  model.graph!.node!.push(strange);
  model.graph!.output!.push({ name: 'frobnicated', type: { tensorType: { elemType: ElementType.FLOAT } } });
  await failsWith(file('unsupported-op.onnx', onnx.ModelProto.encode(model).finish()), /cannot load|Frobnicate/i, /Re-export/);
});

test('the unloadable fixture: onnxruntime refuses it, the user is told so', async () => {
  // ONNX Runtime's shape inference rejects its Concat: the hint is about an inconsistent graph, not the opset.
  await failsWith(path.join(FIXTURES, 'unloadable/ort_BertForQuestionAnswering_fp16_pt1.3_op11.onnx'), /cannot load|Concat/i, /inconsistent .* onnx\.checker\.check_model/);
});

test('no tokenizer for a text model', async () => {
  const copy = path.join(workDir, 'bert-no-tokenizer', 'model.onnx');
  mkdirSync(path.dirname(copy), { recursive: true });
  copyFileSync(path.join(FIXTURES, 'ort_bert_toy_op12.onnx'), copy);
  await failsWith(copy, /No tokenizer/, /tokenizer\.json beside/);
});

test('a tokenizer that does not belong to the model', async () => {
  const tokenizers = path.join(workDir, 'tokenizers');
  execFileSync(process.execPath, [path.resolve(__dirname, '../../scripts/make-tokenizers.mjs'), tokenizers], { stdio: 'pipe' });
  const model = file('tiny.onnx', (await exportBuiltinModel({ model: 'builtin:tiny-decoder' })).model);
  await assert.rejects(
    engine.explain('hello', { model, tokenizer: path.join(tokenizers, 'gpt2', 'tokenizer.json'), backend: 'wasm', threads: 1 }),
    (error: unknown) => error instanceof UserFacingError && /50257 ids, but the model's embedding has only 260 rows/.test(error.message),
  );
});

test('external data outside the model folder is refused', async () => {
  const bytes = (await exportBuiltinModel({ model: 'builtin:tiny-decoder' })).model;
  const model = onnx.ModelProto.decode(bytes);
  const weight = model.graph!.initializer!.find((tensor) => tensor.name === 'embedding.weight')!;
  weight.rawData = new Uint8Array(0);
  weight.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  weight.externalData = [{ key: 'location', value: '../../etc/passwd' }, { key: 'offset', value: '0' }, { key: 'length', value: '100' }];
  await failsWith(file('escape.onnx', onnx.ModelProto.encode(model).finish()), /outside its folder/, /beside the model/);
});

test('external data reached through a link to outside the folder is refused', async () => {
  const { symlinkSync } = await import('node:fs');
  const bytes = (await exportBuiltinModel({ model: 'builtin:tiny-decoder' })).model;
  const model = onnx.ModelProto.decode(bytes);
  const weight = model.graph!.initializer!.find((tensor) => tensor.name === 'embedding.weight')!;
  const outside = tempFolder('al-outside-');
  writeFileSync(path.join(outside, 'secret.data'), weight.rawData!);
  const folder = mkdtempSync(path.join(workDir, 'linked-'));
  symlinkSync(path.join(outside, 'secret.data'), path.join(folder, 'model.onnx.data'));
  const length = weight.rawData!.length;
  weight.rawData = new Uint8Array(0);
  weight.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  weight.externalData = [{ key: 'location', value: 'model.onnx.data' }, { key: 'offset', value: '0' }, { key: 'length', value: String(length) }];
  const file = path.join(folder, 'model.onnx');
  writeFileSync(file, onnx.ModelProto.encode(model).finish());
  await failsWith(file, /links to a file outside its folder/, /not a link/);
});

test('a damaged tokenizer in an export\'s metadata gives a message', async () => {
  const model = onnx.ModelProto.decode((await exportBuiltinModel({ model: 'builtin:tiny-decoder' })).model);
  model.metadataProps = model.metadataProps!.map((entry) => (entry.key === 'attention_lens.tokenizer' ? { ...entry, value: '{"type": "bytes"' } : entry));
  await failsWith(file('damaged-metadata.onnx', onnx.ModelProto.encode(model).finish()), /metadata .* is damaged/, /tokenizer\.json/);
});
