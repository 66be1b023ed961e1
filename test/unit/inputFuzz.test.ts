/**
 * Fuzzing what users type and give, beside the ONNX fuzzing of onnxFuzz.test.ts: random command
 * lines (flags, odd values, repeats), random `--input` values, corrupted .npy files, and random
 * explicit inputs fed to the inputs of real fixtures. Every case must end in a parsed request, a
 * tensor, a UsageError or a UserFacingError, within its budget and without allocating past the
 * input ceiling; anything else fails with the seed and the case.
 *
 * Reproduce with FUZZ_SEED=<seed> (printed).
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseCommandLine, UsageError } from '../../src/cli/args';
import { UserFacingError } from '../../src/shared/errors';
import { decodeModel } from '../../src/engine/onnx/model';
import { buildFeeds, MAX_INPUT_BYTES, modelInputs } from '../../src/engine/onnx/inputs';
import { parseInputSpec } from '../../src/engine/onnx/inputSpec';
import { parseNpy } from '../../src/engine/onnx/npy';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : 0xf1a95;
const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/onnx');

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const rng = mulberry32(SEED);
const int = (n: number): number => Math.floor(rng() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;

/** Values users mistype, and hostile ones. */
const ODD_VALUES = ['0', '-1', '1', '2', '512', '8192', '8193', '1e3', '0x10', '', ' ', 'NaN', 'Infinity', '99999999999999999999', '2.5', 'abc', '--', '-', '/dev/zero', '\u0000', 'ids:1,2', 'random:1x2', 'causal', 'x.npy', 'é', '🙂'];
const FLAGS = ['--model', '--seed', '--weights', '--tokenizer', '--input', '--backend', '--threads', '--export-onnx', '--fault', '--max-tokens', '--decoder-text', '--pad-to', '--scores', '--json', '--html', '--file', '--max-model-mb', '--max-trace-mb', '--time-limit', '--list-models', '-h', '--bogus'];

function randomArgv(): string[] {
  const argv: string[] = [];
  for (let i = int(6); i >= 0; i--) {
    const flag = pick(FLAGS);
    argv.push(flag);
    if (rng() < 0.85) argv.push(flag === '--input' && rng() < 0.7 ? `${pick(['input_ids', 'x', '', '='])}=${randomSpecText()}` : pick(ODD_VALUES));
  }
  if (rng() < 0.5) argv.push(pick(ODD_VALUES));
  return argv;
}

function randomSpecText(): string {
  switch (int(6)) {
    case 0: return `ids:${Array.from({ length: int(5) }, () => pick(['1', '-3', '0', '2.5', 'x', '9007199254740993', '', ' 4 '])).join(',')}`;
    case 1: return `random:${Array.from({ length: int(5) }, () => pick(['1', '0', '-2', '3', '1048576', '1048577', 'x', ''])).join('x')}`;
    case 2: return pick(['causal', 'Causal', 'ids:', 'random:', '.npy', 'a.NPY']);
    default: return pick(ODD_VALUES);
  }
}

interface Tally { [outcome: string]: number }

function count(tally: Tally, outcome: string): void {
  tally[outcome] = (tally[outcome] ?? 0) + 1;
}

test(`random command lines end in a request or a usage error (seed ${SEED})`, () => {
  const tally: Tally = {};
  for (let i = 0; i < 3000; i++) {
    const argv = randomArgv();
    try {
      parseCommandLine(argv);
      count(tally, 'parsed');
    } catch (error) {
      if (error instanceof UsageError && error.message.length > 0) {
        count(tally, 'usage error');
        continue;
      }
      assert.fail(`case ${i} (seed ${SEED}) ${JSON.stringify(argv)} threw ${(error as Error).stack}`);
    }
  }
  console.log(`command lines: ${JSON.stringify(tally)}`);
  assert.ok((tally['usage error'] ?? 0) > 0 && (tally.parsed ?? 0) > 0);
});

/** A .npy file's bytes with the header text given (format 1.0). */
function npyBytes(header: string, data: Uint8Array): Uint8Array {
  let text = `${header}\n`;
  while ((10 + text.length) % 64 !== 0) text = ` ${text}`;
  return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length & 0xff, text.length >> 8]), Buffer.from(text, 'latin1'), data]);
}

test(`corrupted .npy files end in an array within the ceiling or a clear error (seed ${SEED})`, () => {
  const tally: Tally = {};
  const descrs = ['<f4', '<f8', '<i4', '<i8', '<u4', '|u1', '|b1', '>f4', '<f2', '<c8', 'O', ''];
  const shapes = ['()', '(3,)', '(2, 3)', '(-1, 4)', '(1048576, 1048576)', '(0,)', '(2, 3, 4)', '(a, b)', '(3,', '(9007199254740993,)'];
  for (let i = 0; i < 2000; i++) {
    const header = `{'descr': '${pick(descrs)}', 'fortran_order': ${pick(['False', 'True', 'maybe'])}, 'shape': ${pick(shapes)}, }`;
    let bytes = npyBytes(header, new Uint8Array(int(200)).map(() => int(256)));
    if (rng() < 0.3) bytes = bytes.subarray(0, int(bytes.length + 1));
    if (rng() < 0.3) bytes[int(bytes.length)] = int(256);
    try {
      const array = parseNpy(bytes, `case-${i}.npy`, MAX_INPUT_BYTES / 8);
      assert.ok(array.values.length <= MAX_INPUT_BYTES / 8);
      count(tally, 'array');
    } catch (error) {
      if (error instanceof UserFacingError && error.hint.length > 0) {
        count(tally, 'refused');
        continue;
      }
      assert.fail(`npy case ${i} (seed ${SEED}) ${header}: ${(error as Error).stack}`);
    }
  }
  console.log(`npy files: ${JSON.stringify(tally)}`);
});

test(`random explicit inputs for real fixtures end in tensors or clear errors, never a huge allocation (seed ${SEED})`, () => {
  const tally: Tally = {};
  // Fixtures with small inputs: the fp16 attention block's [768, 2304] weight inputs would make this slow, not harder.
  const models = ['ort_bert_toy_op12.onnx', 'ort_gpt2_past_pt1.6_op11.onnx', 'optimum_tiny-distilbert_pt1.10_op11.onnx', 'ort_TFBertForSequenceClassification_keras2onnx_op10.onnx']
    .map((name) => modelInputs(decodeModel(readFileSync(path.join(FIXTURES, name)), name)));
  for (let i = 0; i < 1500; i++) {
    const inputs = pick(models);
    const explicit: Record<string, ReturnType<typeof parseInputSpec>> = {};
    const before = process.memoryUsage().arrayBuffers;
    try {
      for (let j = int(3); j >= 0; j--) {
        const input = pick(inputs);
        const name = rng() < 0.85 ? input.name : pick(['nosuch', '', 'input']);
        // Half the values fit the input's declared shape (symbolic sizes small), half are random text.
        const fitting = `random:${input.dims.map((dim) => (typeof dim === 'number' ? dim : 1 + int(4))).join('x') || '1'}`;
        explicit[name] = parseInputSpec(rng() < 0.5 ? fitting : randomSpecText(), i);
      }
      const ids = Array.from({ length: int(12) }, () => pick([0, 1, 5, 98, 99, -1, 2 ** 40]));
      buildFeeds(inputs, { ids, keep: ids.map(() => 1), explicit, vocabularySize: rng() < 0.5 ? 99 : null });
      count(tally, 'fed');
    } catch (error) {
      if (error instanceof UserFacingError && error.hint.length > 0) {
        count(tally, `refused: ${error.code}`);
      } else {
        assert.fail(`input case ${i} (seed ${SEED}) ${JSON.stringify(explicit)}: ${(error as Error).stack}`);
      }
    }
    assert.ok(process.memoryUsage().arrayBuffers - before <= MAX_INPUT_BYTES * 2, `case ${i} allocated past the input ceiling`);
  }
  console.log(`explicit inputs: ${JSON.stringify(tally)}`);
});
