/**
 * Fuzzing the ONNX loader and tapper ("Reliability and security", point 1): thousands of corrupted
 * variants of the real fixtures (../shared/fixtures/onnx) and of the project's own exports go through
 * `decodeModel` then `analyzeAndTap`, and a deterministic sample also through `loadOnnxModel` (an ONNX
 * Runtime session, WASM, one thread). Every variant must end in a UserFacingError with a message and
 * a hint, or in a valid result; any other exception, a variant over its time budget, or a hang fails
 * the test with the seed and the variant's recipe.
 *
 * Corruptions: truncation, bit flips (1–64), spliced bytes, huge/negative/zero dims in tensors and
 * value infos, graph cycles, wrong element types, missing initializers, corrupted attributes, odd
 * opsets, dropped nodes, duplicate or empty names, absurd external-data entries.
 *
 * The decode+tap part runs in a worker thread, so a hang (a synchronous infinite loop) can be detected
 * and the worker terminated; the ONNX Runtime sample runs meanwhile on the main thread.
 *
 * Reproduce with FUZZ_SEED=<seed> (printed); FUZZ_ONLY=<variant index> runs one variant in-process.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { onnx } from 'onnx-proto';
import { UserFacingError } from '../../src/shared/errors';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { decodeModel, encodeModel } from '../../src/engine/onnx/model';
import { loadOnnxModel } from '../../src/engine/onnx/onnxModel';
import { analyzeAndTap } from '../../src/engine/onnx/tapper';

const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/onnx');
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : 0x5eed2024;
/** Per-variant time budget (decode + tap), and for a loadOnnxModel variant. */
const BUDGET_MS = 2000;
/**
 * loadOnnxModel opens an ONNX Runtime session, which takes longer than decode + tap (a graph input
 * declared [2^31] used to make ONNX Runtime spend 4-30 s before failing; such inputs are now refused
 * before a session is made), so its budget is wider; decode + tap stay under BUDGET_MS.
 */
const ORT_BUDGET_MS = 20000;
/** No message from the worker for this long: it hangs. */
const HANG_MS = 8000;
const ORT_SAMPLE = 60;

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32) and helpers

type Rng = () => number;

function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function int(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[int(rng, items.length)] as T;
}

/** Each variant has its own seed, so one variant can be replayed alone. */
function variantSeed(index: number): number {
  return (Math.imul(SEED ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Bases and how many variants each gets (the costly graphs get fewer)

interface Base {
  name: string;
  bytes: Uint8Array;
  variants: number;
}

const FIXTURE_VARIANTS: Record<string, number> = {
  'onnx2tf_sdpa_torch2.10_Attention-op23.onnx': 200,
  'ort_bert_attention_block_mask1d_fp16.onnx': 250,
  'optimum_tiny-distilbert_pt1.10_op11.onnx': 220,
  'genai_tiny-random-gpt2_fp32_fusedAttention_past.onnx': 180,
  'ort_gpt2_past_pt1.6_op11.onnx': 90,
  'ort_TFBertForSequenceClassification_keras2onnx_op10.onnx': 90,
  'ort_bert_toy_op12.onnx': 60,
  'unloadable/ort_BertForQuestionAnswering_fp16_pt1.3_op11.onnx': 110,
};
const EXPORT_VARIANTS: Record<string, number> = { 'tiny-decoder': 400, 'tiny-encoder': 350, 'tiny-encdec': 400 };

async function loadBases(): Promise<Base[]> {
  const bases: Base[] = [];
  const present = new Set([...readdirSync(FIXTURES), ...readdirSync(path.join(FIXTURES, 'unloadable')).map((name) => `unloadable/${name}`)]);
  for (const [name, variants] of Object.entries(FIXTURE_VARIANTS)) {
    assert.ok(present.has(name), `fixture ${name} is missing from ${FIXTURES}`);
    bases.push({ name, bytes: new Uint8Array(readFileSync(path.join(FIXTURES, name))), variants });
  }
  for (const [preset, variants] of Object.entries(EXPORT_VARIANTS)) {
    // A plain Uint8Array copy: Buffer.slice() would share memory, and bit flips would corrupt the base.
    bases.push({ name: `builtin:${preset}`, bytes: new Uint8Array((await exportBuiltinModel({ model: `builtin:${preset}` })).model), variants });
  }
  return bases;
}

/** Variant index → base, in a fixed order. */
function schedule(bases: Base[]): { base: Base; index: number }[] {
  const list: { base: Base; index: number }[] = [];
  for (const base of bases) {
    for (let i = 0; i < base.variants; i++) {
      list.push({ base, index: list.length });
    }
  }
  return list;
}

// ---------------------------------------------------------------------------------------------
// Corruptions

const MUTATIONS = [
  'truncate',
  'bitflip',
  'splice',
  'tensor-dims',
  'valueinfo-dims',
  'cycle',
  'elem-type',
  'missing-initializer',
  'external-data',
  'attribute',
  'opset',
  'drop-node',
  'names',
  'targeted',
] as const;
type Mutation = (typeof MUTATIONS)[number];

interface Variant {
  bytes: Uint8Array;
  recipe: string;
  mutation: Mutation;
}

const WEIRD_DIMS = [-1, -7, 0, 1, 3, 2 ** 31, 2 ** 32 + 1, 2 ** 40, 2 ** 53 - 1, 1e15, 123456789];
const WEIRD_TYPES = [7 /* INT64 */, 10 /* FLOAT16 */, 11 /* DOUBLE */, 3 /* INT8 */, 9 /* BOOL */, 8 /* STRING */, 16 /* BF16 */, 0, 99, 1, 6];
const LOCATIONS = [
  '../../etc/passwd',
  '/etc/passwd',
  '../secret.bin',
  'sub/../../secret.bin',
  'C:\\Windows\\win.ini',
  '..',
  '',
  '.',
  'model.onnx.data',
  'does-not-exist.bin',
  `${'x/'.repeat(300)}deep.bin`,
];
const OFFSETS = ['0', '-1', '1e30', '18446744073709551615', '9007199254740993', 'abc', '4096', ''];

/** The bytes near the front (nodes), the back (outputs, value infos, opsets, metadata), or anywhere. */
function position(rng: Rng, length: number): number {
  const zone = int(rng, 3);
  if (zone === 0) {
    return int(rng, Math.min(length, 16384));
  }
  if (zone === 1) {
    return Math.max(0, length - 1 - int(rng, Math.min(length, 4096)));
  }
  return int(rng, length);
}

function makeVariant(base: Base, index: number): Variant {
  const seed = variantSeed(index);
  const rng = mulberry32(seed);
  const mutation = pick(rng, MUTATIONS);
  const details: string[] = [];
  let bytes: Uint8Array;
  const source = base.bytes;
  assert.ok(!Buffer.isBuffer(source), 'bases must be plain Uint8Arrays (Buffer.slice shares memory)');
  if (mutation === 'truncate') {
    const at = rng() < 0.3 ? int(rng, Math.min(source.length, 512)) : int(rng, source.length);
    details.push(`keep ${at} of ${source.length} bytes`);
    bytes = source.slice(0, at);
  } else if (mutation === 'bitflip') {
    bytes = source.slice();
    const flips = 1 + int(rng, 64);
    const at: number[] = [];
    for (let i = 0; i < flips; i++) {
      const byte = position(rng, bytes.length);
      const bit = int(rng, 8);
      bytes[byte] = (bytes[byte] as number) ^ (1 << bit);
      at.push(byte * 8 + bit);
    }
    details.push(`${flips} flips at bits ${at.join(',')}`);
  } else if (mutation === 'splice') {
    // Copy a random byte range over another place, or insert random bytes.
    const from = position(rng, source.length);
    const length = 1 + int(rng, 256);
    const to = position(rng, source.length);
    const insert = rng() < 0.5;
    if (insert) {
      const piece = Uint8Array.from({ length }, () => int(rng, 256));
      bytes = new Uint8Array(source.length + length);
      bytes.set(source.subarray(0, to));
      bytes.set(piece, to);
      bytes.set(source.subarray(to), to + length);
    } else {
      bytes = source.slice();
      bytes.set(source.subarray(from, Math.min(from + length, source.length, from + source.length - to)), to);
    }
    details.push(insert ? `insert ${length} random bytes at ${to}` : `copy ${length} bytes from ${from} over ${to}`);
  } else {
    const model = onnx.ModelProto.decode(source);
    structural(model, mutation, rng, details);
    bytes = onnx.ModelProto.encode(model).finish();
  }
  return { bytes, mutation, recipe: `variant #${index} (seed ${seed}) of ${base.name}: ${mutation}: ${details.join('; ')}` };
}

function structural(model: onnx.ModelProto, mutation: Mutation, rng: Rng, details: string[]): void {
  const graph = model.graph as onnx.GraphProto;
  // Decoded messages: every repeated field is an array.
  const nodes = graph.node as onnx.NodeProto[];
  const initializers = graph.initializer;
  const tensors = (): { tensor: onnx.ITensorProto; where: string }[] => [
    ...initializers.map((tensor) => ({ tensor, where: `initializer "${tensor.name}"` })),
    ...nodes.filter((node) => node.opType === 'Constant').flatMap((node) => (node.attribute ?? []).filter((a) => a.t).map((a) => ({ tensor: a.t as onnx.ITensorProto, where: `Constant "${node.output?.[0]}"` }))),
  ];
  switch (mutation) {
    case 'tensor-dims': {
      const all = tensors();
      const times = 1 + int(rng, 3);
      for (let t = 0; t < times && all.length > 0; t++) {
        const { tensor, where } = pick(rng, all);
        const dims = (tensor.dims ?? []).map(Number);
        const value = pick(rng, WEIRD_DIMS);
        const mode = int(rng, 3);
        if (mode === 0 && dims.length > 0) {
          const axis = int(rng, dims.length);
          dims[axis] = value;
          details.push(`${where} dims[${axis}] = ${value}`);
        } else if (mode === 1) {
          dims.push(value);
          details.push(`${where} gains dim ${value}`);
        } else {
          dims.splice(0, dims.length);
          details.push(`${where} dims = []`);
        }
        tensor.dims = dims;
      }
      return;
    }
    case 'valueinfo-dims': {
      const infos = [...graph.input, ...graph.output, ...graph.valueInfo];
      const times = 1 + int(rng, 3);
      for (let t = 0; t < times && infos.length > 0; t++) {
        const info = pick(rng, infos);
        const value = pick(rng, WEIRD_DIMS);
        const tensorType = info.type?.tensorType;
        if (!tensorType) {
          continue;
        }
        const mode = int(rng, 4);
        if (mode === 0 && (tensorType.shape?.dim ?? []).length > 0) {
          const dims = tensorType.shape?.dim as onnx.TensorShapeProto.IDimension[];
          const axis = int(rng, dims.length);
          dims[axis] = { dimValue: value };
          details.push(`value info "${info.name}" dim ${axis} = ${value}`);
        } else if (mode === 1) {
          tensorType.shape = { dim: [{ dimValue: value }] };
          details.push(`value info "${info.name}" shape = [${value}]`);
        } else if (mode === 2) {
          const rank = pick(rng, [0, 9, 64, 300]);
          tensorType.shape = { dim: Array.from({ length: rank }, () => ({ dimValue: pick(rng, WEIRD_DIMS) })) };
          details.push(`value info "${info.name}" rank ${rank} of weird dims`);
        } else {
          tensorType.elemType = pick(rng, WEIRD_TYPES);
          details.push(`value info "${info.name}" elem type ${tensorType.elemType}`);
        }
      }
      return;
    }
    case 'cycle': {
      if (nodes.length < 2) {
        details.push('too few nodes');
        return;
      }
      const kind = int(rng, 3);
      const i = int(rng, nodes.length - 1);
      const j = kind === 1 ? i : i + 1 + int(rng, nodes.length - 1 - i);
      const early = nodes[i] as onnx.NodeProto;
      const late = nodes[j] as onnx.NodeProto;
      const output = late.output[int(rng, late.output.length)] ?? late.output[0] ?? 'x';
      if (early.input.length === 0) {
        early.input.push(output);
      } else {
        early.input[int(rng, early.input.length)] = output;
      }
      if (kind === 2) {
        // Also a long cycle: a later node reads the early node's output.
        const middle = nodes[i + int(rng, j - i + 1)] as onnx.NodeProto;
        if (middle.input.length > 0 && early.output[0]) {
          middle.input[0] = early.output[0];
        }
      }
      details.push(`node ${i} (${early.opType}) reads node ${j} (${late.opType}) output "${output}"${kind === 1 ? ' (self-loop)' : kind === 2 ? ' and back' : ''}`);
      return;
    }
    case 'elem-type': {
      const all = tensors();
      const times = 1 + int(rng, 2);
      for (let t = 0; t < times && all.length > 0; t++) {
        const { tensor, where } = pick(rng, all);
        tensor.dataType = pick(rng, WEIRD_TYPES);
        details.push(`${where} relabelled type ${tensor.dataType}`);
      }
      return;
    }
    case 'missing-initializer': {
      const count = rng() < 0.1 ? initializers.length : 1 + int(rng, 4);
      for (let t = 0; t < count && initializers.length > 0; t++) {
        const [removed] = initializers.splice(int(rng, initializers.length), 1);
        details.push(`removed "${removed?.name}"`);
      }
      return;
    }
    case 'external-data': {
      if (initializers.length === 0) {
        details.push('no initializers');
        return;
      }
      const tensor = pick(rng, initializers);
      tensor.rawData = new Uint8Array(0);
      tensor.floatData = [];
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      const entries: onnx.IStringStringEntryProto[] = [];
      if (rng() < 0.9) {
        entries.push({ key: 'location', value: pick(rng, LOCATIONS) });
      }
      if (rng() < 0.7) {
        entries.push({ key: 'offset', value: pick(rng, OFFSETS) });
      }
      if (rng() < 0.7) {
        entries.push({ key: 'length', value: pick(rng, OFFSETS) });
      }
      tensor.externalData = entries;
      details.push(`"${tensor.name}" external: ${entries.map((e) => `${e.key}=${JSON.stringify(e.value)}`).join(', ')}`);
      return;
    }
    case 'attribute': {
      const withAttributes = nodes.filter((node) => node.attribute.length > 0);
      if (withAttributes.length === 0) {
        details.push('no attributes');
        return;
      }
      const times = 1 + int(rng, 3);
      for (let t = 0; t < times; t++) {
        const node = pick(rng, withAttributes);
        if (node.attribute.length === 0) {
          continue; // all removed by an earlier round
        }
        const at = int(rng, node.attribute.length);
        const attribute = node.attribute[at] as onnx.IAttributeProto;
        const mode = int(rng, 5);
        if (mode === 0) {
          attribute.i = pick(rng, [...WEIRD_DIMS, -(2 ** 53) + 1]);
        } else if (mode === 1) {
          attribute.ints = Array.from({ length: int(rng, 8) }, () => pick(rng, WEIRD_DIMS));
        } else if (mode === 2) {
          attribute.f = pick(rng, [NaN, Infinity, -Infinity, 0, -0, 1e38]);
        } else if (mode === 3) {
          node.attribute.splice(at, 1);
        } else {
          attribute.type = pick(rng, [0, 1, 2, 3, 4, 5, 7, 99]) as onnx.AttributeProto.AttributeType;
        }
        details.push(`${node.opType} "${node.name}" attribute ${attribute.name} mode ${mode}`);
      }
      return;
    }
    case 'opset': {
      const mode = int(rng, 4);
      if (mode === 0) {
        const entry = model.opsetImport.find((e) => !e.domain || e.domain === 'ai.onnx');
        if (entry) {
          entry.version = pick(rng, [0, 1, 7, 10, 13, 18, 23, 999, -1]);
          details.push(`opset ${entry.version}`);
        }
      } else if (mode === 1) {
        model.opsetImport = model.opsetImport.filter((e) => e.domain && e.domain !== 'ai.onnx');
        details.push('default opset import removed');
      } else if (mode === 2) {
        model.irVersion = pick(rng, [0, 1, 3, 99, -5]);
        details.push(`ir version ${model.irVersion}`);
      } else {
        const node = pick(rng, nodes);
        node.domain = pick(rng, ['com.microsoft', 'ai.onnx.ml', 'com.example', '']);
        details.push(`node "${node.name}" domain "${node.domain}"`);
      }
      return;
    }
    case 'drop-node': {
      const count = 1 + int(rng, 5);
      for (let t = 0; t < count && nodes.length > 0; t++) {
        const [removed] = nodes.splice(int(rng, nodes.length), 1);
        details.push(`dropped ${removed?.opType} "${removed?.name}"`);
      }
      return;
    }
    case 'names': {
      const node = pick(rng, nodes);
      const other = pick(rng, nodes);
      const mode = int(rng, 4);
      if (mode === 0 && node.output[0] !== undefined && other.output.length > 0) {
        other.output[0] = node.output[0]; // two producers of one value
        details.push(`${other.opType} "${other.name}" writes "${node.output[0]}" too`);
      } else if (mode === 1 && node.input.length > 0) {
        node.input[int(rng, node.input.length)] = pick(rng, ['', 'nowhere', '\u0000', 'x'.repeat(5000)]);
        details.push(`${node.opType} "${node.name}" input renamed`);
      } else if (mode === 2) {
        const info = pick(rng, [...graph.input, ...graph.output]);
        if (info) {
          info.name = pick(rng, ['', graph.input[0]?.name ?? 'a', graph.output[0]?.name ?? 'b']);
          details.push(`graph input/output renamed "${info.name}"`);
        }
      } else {
        node.output = [];
        details.push(`${node.opType} "${node.name}" has no outputs`);
      }
      return;
    }
    case 'targeted':
      targeted(graph, rng, details);
      return;
    default:
      return;
  }
}

/**
 * Corruptions aimed at the analysis's own recursions: constants, shape vectors and ranks read
 * through cycles, through absurd declared lengths, and through ranks that come out negative.
 */
function targeted(graph: onnx.GraphProto, rng: Rng, details: string[]): void {
  // Decoded messages: every repeated field is an array.
  const nodes = graph.node as onnx.NodeProto[];
  const kind = int(rng, 4);
  if (kind === 0) {
    // A scale (Div/Mul by a constant) whose constant becomes an Identity that reads its own output.
    const scaled = nodes.filter((node) => (node.opType === 'Div' || node.opType === 'Mul' || node.opType === 'Add') && node.input.length === 2);
    const node = scaled.length > 0 ? pick(rng, scaled) : pick(rng, nodes);
    const loop = `fuzz_identity_loop_${int(rng, 1000)}`;
    nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [loop], output: [loop], name: loop }));
    node.input[node.input.length > 1 ? 1 : 0] = loop;
    details.push(`${node.opType} "${node.name}" reads an Identity of itself`);
    return;
  }
  const reshapes = nodes.filter((node) => node.opType === 'Reshape' && node.input.length >= 2);
  const node = reshapes.length > 0 ? pick(rng, reshapes) : pick(rng, nodes);
  const name = `fuzz_shape_${int(rng, 1000)}`;
  if (kind === 1) {
    // The Reshape's shape is a Concat of its own output.
    nodes.push(onnx.NodeProto.create({ opType: 'Concat', input: [name, name], output: [name], name, attribute: [{ name: 'axis', type: 2, i: 0 }] }));
    details.push(`${node.opType} "${node.name}" shape = Concat of itself`);
  } else if (kind === 2) {
    // The shape is a graph input declared with an absurd length.
    const length = pick(rng, [2 ** 40, 2 ** 31, 1e8, 5]);
    graph.input.push({ name, type: { tensorType: { elemType: 7, shape: { dim: [{ dimValue: length }] } } } });
    details.push(`${node.opType} "${node.name}" shape = graph input of length ${length}`);
  } else {
    // The shape is Shape(Squeeze of more axes than the data has): a negative inferred rank.
    const squeezed = `${name}_squeezed`;
    nodes.push(onnx.NodeProto.create({ opType: 'Squeeze', input: [node.input[0] ?? ''], output: [squeezed], name: squeezed, attribute: [{ name: 'axes', type: 7, ints: [0, 1, 2, 3, 4, 5, 6, 7, 8] }] }));
    nodes.push(onnx.NodeProto.create({ opType: 'Shape', input: [squeezed], output: [name], name }));
    details.push(`${node.opType} "${node.name}" shape = Shape(Squeeze of 9 axes)`);
  }
  if (node.input.length >= 2) {
    node.input[1] = name;
  } else {
    node.input.push(name);
  }
}

// ---------------------------------------------------------------------------------------------
// Outcomes

interface Outcome {
  /** 'valid', 'error: <kind>', or 'FAILURE: <what>' */
  kind: string;
  failure?: string;
}

function errorKind(message: string): string {
  const kinds: [RegExp, string][] = [
    [/is empty/, 'empty file'],
    [/cut short/, 'truncated'],
    [/not an ONNX model \(no graph/, 'not ONNX (no graph, IR version or opset)'],
    [/not an ONNX model: it looks like/, 'not ONNX (foreign format)'],
    [/not an ONNX model/, 'not ONNX (protobuf decode)'],
    [/empty graph/, 'empty graph'],
    [/No attention found/, 'no attention found'],
    [/fused onnxruntime kernel|fused .*Attention/, 'fused attention refused'],
    [/outside its folder/, 'external data outside the folder'],
    [/external data/i, 'external data unreadable'],
    [/ONNX Runtime cannot load/, 'ONNX Runtime refuses'],
    [/more than ONNX Runtime can allocate/, 'oversized input refused'],
    [/tensor|initializer/i, 'malformed tensor'],
  ];
  for (const [pattern, kind] of kinds) {
    if (pattern.test(message)) {
      return `error: ${kind}`;
    }
  }
  return `error: ${message.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 70)}`;
}

function classifyError(error: unknown): Outcome {
  if (error instanceof UserFacingError) {
    if (error.message.trim() && error.hint.trim()) {
      return { kind: errorKind(error.message) };
    }
    return { kind: 'FAILURE: UserFacingError without message or hint', failure: `UserFacingError with message ${JSON.stringify(error.message)}, hint ${JSON.stringify(error.hint)}` };
  }
  const name = error instanceof Error ? error.constructor.name : typeof error;
  const text = error instanceof Error ? `${error.message}\n${(error.stack ?? '').split('\n').slice(1, 6).join('\n')}` : String(error);
  return { kind: `FAILURE: ${name}`, failure: `${name}: ${text}` };
}

/** decodeModel then analyzeAndTap; a result must have attention taps and encode again. */
function decodeAndTap(bytes: Uint8Array): Outcome {
  try {
    const model = decodeModel(bytes, 'model.onnx');
    const tapped = analyzeAndTap(model);
    if (tapped.plan.attention.length === 0) {
      return { kind: 'FAILURE: result without attention', failure: 'analyzeAndTap returned no attention taps' };
    }
    encodeModel(tapped.model);
    return { kind: 'valid' };
  } catch (error) {
    return classifyError(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Worker: decode + tap every variant, reporting before and after each

type WorkerMessage = { type: 'start'; index: number } | { type: 'done'; index: number; kind: string; failure?: string; ms: number; recipe: string } | { type: 'end' };

async function workerMain(from: number): Promise<void> {
  const port = parentPort as NonNullable<typeof parentPort>;
  const list = schedule(await loadBases());
  for (const { base, index } of list.slice(from)) {
    port.postMessage({ type: 'start', index } satisfies WorkerMessage);
    let variant: Variant;
    try {
      variant = makeVariant(base, index);
    } catch (error) {
      // A bug in this test's corruption code, not in the loader.
      port.postMessage({ type: 'done', index, kind: 'FAILURE: variant generation', failure: String(error), ms: 0, recipe: `variant #${index} of ${base.name}` } satisfies WorkerMessage);
      continue;
    }
    const start = performance.now();
    const outcome = decodeAndTap(variant.bytes);
    const ms = performance.now() - start;
    port.postMessage({ type: 'done', index, kind: outcome.kind, failure: outcome.failure, ms, recipe: variant.recipe } satisfies WorkerMessage);
  }
  port.postMessage({ type: 'end' } satisfies WorkerMessage);
}

if (!isMainThread && (workerData as { onnxFuzz?: boolean } | null)?.onnxFuzz) {
  void workerMain((workerData as { from: number }).from);
}

// ---------------------------------------------------------------------------------------------
// Main thread

interface Tally {
  counts: Map<string, number>;
  failures: string[];
  total: number;
}

function record(tally: Tally, kind: string, failure: string | undefined, recipe: string): void {
  tally.total++;
  tally.counts.set(kind, (tally.counts.get(kind) ?? 0) + 1);
  if (failure !== undefined || kind.startsWith('FAILURE')) {
    tally.failures.push(`${recipe}\n    → ${failure ?? kind}`);
  }
}

function table(title: string, tally: Tally): string {
  const rows = [...tally.counts].sort((a, b) => b[1] - a[1]).map(([kind, count]) => `  ${String(count).padStart(5)}  ${kind}`);
  return `${title}: ${tally.total} variants (seed ${SEED})\n${rows.join('\n')}`;
}

/** Runs the decode+tap fuzz in a worker, restarting it after a hang. */
function runWorkerFuzz(total: number, tally: Tally): Promise<void> {
  return new Promise((resolve, reject) => {
    const recipes = new Map<number, string>();
    const launch = (from: number): void => {
      const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(__filename)});`, {
        eval: true,
        workerData: { onnxFuzz: true, from },
        // Out of memory ends the worker (reported as a crash of the variant), not the test process.
        resourceLimits: { maxOldGenerationSizeMb: 1024 },
      });
      let current = from;
      let finished = false;
      let timer: NodeJS.Timeout;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          finished = true;
          void worker.terminate();
          record(tally, 'FAILURE: hang', `no answer within ${HANG_MS} ms`, recipes.get(current) ?? `variant #${current} (seed ${variantSeed(current)})`);
          if (current + 1 < total) {
            launch(current + 1);
          } else {
            resolve();
          }
        }, HANG_MS * (current === from ? 4 : 1)); // the first message waits for the worker to load
      };
      arm();
      worker.on('message', (message: WorkerMessage) => {
        if (finished) {
          return;
        }
        if (message.type === 'start') {
          current = message.index;
          arm();
        } else if (message.type === 'done') {
          recipes.set(message.index, message.recipe);
          const overBudget = message.ms > BUDGET_MS;
          record(tally, overBudget ? 'FAILURE: over time budget' : message.kind, overBudget ? `took ${message.ms.toFixed(0)} ms (budget ${BUDGET_MS}); ended as ${message.kind}` : message.failure, message.recipe);
          arm();
        } else {
          finished = true;
          clearTimeout(timer);
          void worker.terminate();
          resolve();
        }
      });
      worker.on('error', (error) => {
        if (finished) {
          return;
        }
        finished = true;
        clearTimeout(timer);
        // A crash of the worker itself (e.g. stack overflow outside a try, out of memory).
        record(tally, 'FAILURE: worker crashed', String(error), `variant #${current} (seed ${variantSeed(current)})`);
        if (current + 1 < total) {
          launch(current + 1);
        } else {
          reject(error);
        }
      });
    };
    launch(0);
  });
}

const workDir = isMainThread ? mkdtempSync(path.join(tmpdir(), 'al-onnx-fuzz-')) : '';
if (isMainThread) {
  after(() => rmSync(workDir, { recursive: true, force: true }));
}

async function loadOutcome(file: string): Promise<Outcome> {
  try {
    const loaded = await loadOnnxModel({ path: file }, { backend: 'wasm', threads: 1 });
    await loaded.session.release();
    if (loaded.plan.attention.length === 0) {
      return { kind: 'FAILURE: result without attention', failure: 'loadOnnxModel returned no attention taps' };
    }
    return { kind: 'valid' };
  } catch (error) {
    return classifyError(error);
  }
}

/** The same variants through loadOnnxModel (ONNX Runtime), one file each in its own folder. */
async function runOrtSample(list: { base: Base; index: number }[], tally: Tally): Promise<void> {
  // Warm ONNX Runtime up (WASM instantiation) on a valid model, outside the budget.
  const warm = path.join(workDir, 'warm', 'model.onnx');
  mkdirSync(path.dirname(warm), { recursive: true });
  writeFileSync(warm, (list.find((entry) => entry.base.name === 'onnx2tf_sdpa_torch2.10_Attention-op23.onnx') as { base: Base }).base.bytes);
  assert.equal((await loadOutcome(warm)).kind, 'valid');
  // Cheap bases only (session creation of the big BERTs dominates): every k-th of their variants.
  const cheap = list.filter((entry) => !/bert_toy|TFBert|gpt2_past|genai/.test(entry.base.name));
  const step = Math.floor(cheap.length / ORT_SAMPLE);
  for (let i = 0; i < ORT_SAMPLE; i++) {
    const { base, index } = cheap[i * step + (SEED % step)] as { base: Base; index: number };
    const variant = makeVariant(base, index);
    const file = path.join(workDir, `ort-${index}`, 'model.onnx');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, variant.bytes);
    const start = performance.now();
    const outcome = await loadOutcome(file);
    const ms = performance.now() - start;
    const overBudget = ms > ORT_BUDGET_MS;
    record(tally, overBudget ? 'FAILURE: over time budget' : outcome.kind, overBudget ? `took ${ms.toFixed(0)} ms; ended as ${outcome.kind}` : outcome.failure, `loadOnnxModel ${variant.recipe}`);
  }
}

/** External data that points outside the model's folder must be refused before anything is read. */
async function runEscapeChecks(bases: Base[], tally: Tally): Promise<void> {
  const root = path.join(workDir, 'escape');
  const folder = path.join(root, 'model');
  mkdirSync(folder, { recursive: true });
  const secret = path.join(root, 'secret.bin');
  writeFileSync(secret, new Uint8Array(1 << 16));
  writeFileSync(path.join(folder, 'model.onnx.data'), new Uint8Array(64));
  const escapes = ['../secret.bin', '../../etc/passwd', secret, '/etc/passwd', 'sub/../../secret.bin', `..${path.sep}secret.bin`, './../secret.bin'];
  const absurd = [
    { location: 'model.onnx.data', offset: '1099511627776', length: '4' },
    { location: 'model.onnx.data', offset: '0', length: '1099511627776' },
    { location: 'model.onnx.data', offset: '-64', length: '-1' },
    { location: 'model.onnx.data', offset: 'abc', length: '1e30' },
    { location: 'missing.data', offset: '0', length: '4' },
  ];
  let n = 0;
  for (const base of bases.filter((b) => /sdpa|mask1d|tiny-decoder/.test(b.name))) {
    const model = onnx.ModelProto.decode(base.bytes);
    const tensor = [...(model.graph as onnx.GraphProto).initializer].sort((a, b) => (b.rawData?.byteLength ?? 0) - (a.rawData?.byteLength ?? 0))[0];
    const make = (entries: Record<string, string>): Uint8Array => {
      const copy = onnx.ModelProto.decode(base.bytes);
      const target = (copy.graph as onnx.GraphProto).initializer.find((t) => t.name === tensor?.name);
      const chosen = target ?? (copy.graph as onnx.GraphProto).initializer[0];
      if (chosen) {
        chosen.rawData = new Uint8Array(0);
        chosen.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        chosen.externalData = Object.entries(entries).map(([key, value]) => ({ key, value }));
      }
      return onnx.ModelProto.encode(copy).finish();
    };
    if (!tensor) {
      continue; // the SDPA block has no weights: its inputs are q, k, v
    }
    for (const location of escapes) {
      const file = path.join(folder, `escape-${n++}.onnx`);
      writeFileSync(file, make({ location, offset: '0', length: '64' }));
      const outcome = await loadOutcome(file);
      const recipe = `external data escape: ${base.name}, "${tensor.name}" at ${JSON.stringify(location)}`;
      const refused = outcome.kind === 'error: external data outside the folder';
      record(tally, refused ? outcome.kind : `FAILURE: escape not refused (${outcome.kind})`, refused ? undefined : outcome.failure ?? outcome.kind, recipe);
    }
    for (const entries of absurd) {
      const file = path.join(folder, `absurd-${n++}.onnx`);
      writeFileSync(file, make(entries));
      const outcome = await loadOutcome(file);
      record(tally, outcome.kind, outcome.failure, `external data: ${base.name}, "${tensor.name}" ${JSON.stringify(entries)}`);
    }
  }
}

if (isMainThread) {
  test(`corrupted ONNX models end in a clear error or a valid result (seed ${SEED})`, { timeout: 300_000 }, async () => {
    const started = performance.now();
    const bases = await loadBases();
    const list = schedule(bases);
    const only = process.env.FUZZ_ONLY;
    if (only !== undefined) {
      const entry = list[Number(only)] as { base: Base; index: number };
      const variant = makeVariant(entry.base, entry.index);
      const outcome = decodeAndTap(variant.bytes);
      console.log(variant.recipe, '\n→', outcome.kind, outcome.failure ?? '');
      assert.ok(!outcome.kind.startsWith('FAILURE'), outcome.failure);
      return;
    }
    const fuzz: Tally = { counts: new Map(), failures: [], total: 0 };
    const ort: Tally = { counts: new Map(), failures: [], total: 0 };
    // The worker fuzzes decode + tap while ONNX Runtime loads its sample here.
    await Promise.all([runWorkerFuzz(list.length, fuzz), (async () => {
      await runOrtSample(list, ort);
      await runEscapeChecks(bases, ort);
    })()]);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`${table('decodeModel + analyzeAndTap', fuzz)}\n${table('loadOnnxModel (ONNX Runtime, wasm, 1 thread)', ort)}\n(${seconds} s)`);
    const failures = [...fuzz.failures, ...ort.failures];
    assert.equal(failures.length, 0, `${failures.length} variant(s) failed (seed ${SEED}; replay one with FUZZ_SEED=${SEED} FUZZ_ONLY=<#>):\n${failures.slice(0, 25).join('\n')}`);
    assert.ok(fuzz.total >= 2000, `only ${fuzz.total} variants`);
    assert.ok(ort.total >= ORT_SAMPLE, `only ${ort.total} ONNX Runtime variants`);
  });
}
