/**
 * @file The `attention_lens` metadata of a trace file, parsed and checked against the tensors the
 * header lists: every block names its attention (F32 or F16 [heads, queries, keys]), its mask (U8
 * [queries, keys]) and so on with the right dtype and shape, its streams exist, and what the panel
 * indexes by (layer, heads, KV grouping) is whole numbers in range. A file that passes can be drawn
 * without a check further down failing on it.
 */
import type { TensorEntry } from './header';
import { traceFileError } from './header';
import { type BlockMeta, HEAD_STAT_COLUMNS, type TraceFileMeta } from './format';

const NON_FINITE: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };
const BLOCK_KINDS = new Set(['self', 'encoder-self', 'decoder-self', 'cross']);
const STREAMS = new Set(['encoder', 'decoder']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** JSON.parse that turns { "$number": "NaN" } back into NaN. */
function parseMetaJson(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => {
    if (isRecord(value) && Object.keys(value).length === 1 && typeof value.$number === 'string' && value.$number in NON_FINITE) return NON_FINITE[value.$number];
    return value;
  });
}

/** Checks a named tensor's presence, dtype and shape. */
type TensorCheck = (name: unknown, dtypes: readonly string[], shape: readonly number[], what: string) => void;

function tensorChecker(tensors: ReadonlyMap<string, TensorEntry>, file: string): TensorCheck {
  return (name, dtypes, shape, what) => {
    const entry = typeof name === 'string' ? tensors.get(name) : undefined;
    if (!entry) throw traceFileError('trace-file-bad-metadata', file, `${what} names tensor ${JSON.stringify(name)}, which the file does not hold`);
    if (!dtypes.includes(entry.dtype)) throw traceFileError('trace-file-bad-tensor', file, `tensor "${entry.name}" (${what}) is ${entry.dtype}; expected ${dtypes.join(' or ')}`, { tensor: entry.name });
    if (entry.shape.length !== shape.length || entry.shape.some((dim, axis) => dim !== shape[axis])) {
      throw traceFileError('trace-file-bad-tensor', file, `tensor "${entry.name}" (${what}) has shape [${entry.shape.join(', ')}]; the metadata says [${shape.join(', ')}]`, { tensor: entry.name });
    }
  };
}

function checkBlock(value: unknown, index: number, streams: ReadonlySet<string>, check: TensorCheck, file: string): BlockMeta {
  const bad = (what: string): Error => traceFileError('trace-file-bad-metadata', file, `block ${index} ${what}`);
  if (!isRecord(value)) throw bad('is not an object');
  const { layer, kind, queryStream, keyStream, heads, queries, keys, maskKind, kvHeads, kvHeadOf, slidingWindow, tensors } = value;
  if (!isCount(layer)) throw bad(`has layer ${JSON.stringify(layer)}`);
  if (typeof kind !== 'string' || !BLOCK_KINDS.has(kind)) throw bad(`has kind ${JSON.stringify(kind)}; expected one of ${[...BLOCK_KINDS].join(', ')}`);
  for (const stream of [queryStream, keyStream]) if (typeof stream !== 'string' || !streams.has(stream)) throw bad(`reads stream ${JSON.stringify(stream)}, which the file has no tokens for`);
  if (!isCount(heads) || heads < 1 || !isCount(queries) || !isCount(keys)) throw bad(`has heads ${JSON.stringify(heads)}, queries ${JSON.stringify(queries)}, keys ${JSON.stringify(keys)}`);
  if (typeof maskKind !== 'string') throw bad('has no maskKind');
  if (kvHeads !== undefined || kvHeadOf !== undefined) {
    const groups = kvHeads as number;
    if (!isCount(kvHeads) || groups < 1 || !Array.isArray(kvHeadOf) || kvHeadOf.length !== heads || !kvHeadOf.every((kv) => isCount(kv) && kv < groups)) {
      throw bad(`has kvHeads ${JSON.stringify(kvHeads)} and kvHeadOf ${JSON.stringify(kvHeadOf)}, which do not fit ${heads} heads`);
    }
  }
  if (slidingWindow !== undefined && (!isCount(slidingWindow) || slidingWindow < 1)) throw bad(`has slidingWindow ${JSON.stringify(slidingWindow)}`);
  if (!isRecord(tensors)) throw bad('names no tensors');
  check(tensors.attention, ['F32', 'F16'], [heads, queries, keys], `block ${index}'s attention`);
  if (tensors.scores !== undefined) check(tensors.scores, ['F32'], [heads, queries, keys], `block ${index}'s scores`);
  if (tensors.valueWeighted !== undefined) check(tensors.valueWeighted, ['F32', 'F16'], [heads, queries, keys], `block ${index}'s value-weighted attention`);
  if (tensors.mask !== undefined) check(tensors.mask, ['U8'], [queries, keys], `block ${index}'s mask`);
  if (tensors.headStats !== undefined) check(tensors.headStats, ['F64'], [heads, HEAD_STAT_COLUMNS.length], `block ${index}'s head statistics`);
  return value as unknown as BlockMeta;
}

/**
 * Predictions or logit-lens layers: each reads a stream of the file and has one list of
 * { id, text, prob } per token of it, so the panel can index them by position.
 */
function checkTopLists(value: unknown, field: string, tokensOf: ReadonlyMap<string, number>, file: string): void {
  if (value === undefined) return;
  const bad = (what: string): Error => traceFileError('trace-file-bad-metadata', file, `${field} ${what}`);
  if (!Array.isArray(value)) throw bad('is not a list');
  value.forEach((entry, index) => {
    if (!isRecord(entry) || typeof entry.stream !== 'string' || !tokensOf.has(entry.stream)) throw bad(`${index} reads no stream of the file`);
    if (field === 'logitLens' && !isCount(entry.layer)) throw bad(`${index} has layer ${JSON.stringify(entry.layer)}`);
    const tokens = tokensOf.get(entry.stream);
    if (!Array.isArray(entry.top) || entry.top.length !== tokens) throw bad(`${index} has ${Array.isArray(entry.top) ? entry.top.length : 'no'} positions; its stream has ${String(tokens)} tokens`);
    const valid = entry.top.every((row) => Array.isArray(row) && row.every((item) => isRecord(item) && isCount(item.id) && typeof item.text === 'string' && typeof item.prob === 'number' && item.prob >= 0 && item.prob <= 1));
    if (!valid) throw bad(`${index} has a position that is not a list of { id, text, prob } with prob in [0, 1]`);
  });
}

const isUnit = (value: unknown): boolean => typeof value === 'number' && value >= 0 && value <= 1;
const isPrediction = (value: unknown): boolean => isRecord(value) && isCount(value.id) && typeof value.text === 'string' && isUnit(value.prob);

/**
 * The ablation: its heads name blocks of the file and heads they have, its KL has one value per
 * token of its stream (NaN allowed: a broken model), its changed positions are tokens of that
 * stream, and each block change names a block with one value per head; the panel indexes by them.
 */
function checkAblation(value: unknown, blocks: readonly unknown[], tokensOf: ReadonlyMap<string, number>, file: string): void {
  if (value === undefined) return;
  const bad = (what: string): Error => traceFileError('trace-file-bad-metadata', file, `ablation ${what}`);
  if (!isRecord(value) || !Array.isArray(value.heads) || !Array.isArray(value.blocks) || (value.mode !== 'zero' && value.mode !== 'mean')) throw bad('is not { heads, mode: zero | mean, blocks }');
  const headsOf = (index: unknown): number => (isCount(index) && index < blocks.length && isRecord(blocks[index]) ? Number((blocks[index] as Record<string, unknown>).heads) : -1);
  value.heads.forEach((head, index) => {
    if (!isRecord(head) || !isCount(head.layer) || !isCount(head.head) || typeof head.kind !== 'string' || !(head.head < headsOf(head.blockIndex))) throw bad(`head ${index} names no head of a block of the file`);
  });
  value.blocks.forEach((change, index) => {
    const heads = isRecord(change) ? headsOf(change.blockIndex) : -1;
    const perHead = (list: unknown): boolean => Array.isArray(list) && list.length === heads && list.every((item) => typeof item === 'number');
    if (!isRecord(change) || heads < 0 || !isCount(change.layer) || typeof change.kind !== 'string' || typeof change.maxAbs !== 'number' || !perHead(change.meanAbs) || !perHead(change.maxAbsPerHead)) throw bad(`block change ${index} does not name a block of the file with one value per head`);
  });
  if (value.kl === undefined && value.changedTop === undefined) return;
  const tokens = typeof value.stream === 'string' ? tokensOf.get(value.stream) : undefined;
  if (tokens === undefined) throw bad('reads no stream of the file');
  if (!Array.isArray(value.kl) || value.kl.length !== tokens || !value.kl.every((kl) => typeof kl === 'number')) throw bad(`has no KL per token of its stream (${tokens})`);
  if (!Array.isArray(value.changedTop) || !value.changedTop.every((entry) => isRecord(entry) && isCount(entry.position) && entry.position < tokens && isPrediction(entry.before) && isPrediction(entry.after))) {
    throw bad('has a changed prediction that is not { position, before, after } at a token of its stream');
  }
}

/** Parses the metadata and checks it against the tensors; faults name the block or field. */
export function parseTraceMeta(text: string, tensors: ReadonlyMap<string, TensorEntry>, file: string): TraceFileMeta {
  let meta: unknown;
  try {
    meta = parseMetaJson(text);
  } catch {
    throw traceFileError('trace-file-bad-metadata', file, 'its attention_lens metadata is not JSON');
  }
  const bad = (what: string): Error => traceFileError('trace-file-bad-metadata', file, what);
  if (!isRecord(meta)) throw bad('its attention_lens metadata is not a JSON object');
  const { model, streams, blocks, residual, analysis } = meta;
  if (!isRecord(model) || typeof model.name !== 'string') throw bad('its metadata names no model');
  if (!Array.isArray(streams) || !streams.every((stream) => isRecord(stream) && typeof stream.name === 'string' && STREAMS.has(stream.name) && typeof stream.text === 'string' && Array.isArray(stream.tokens))) {
    throw bad('its token streams are not { name: "encoder" | "decoder", text, tokens } each');
  }
  const names = new Set(streams.map((stream) => (stream as { name: string }).name));
  const tokensOf = new Map(streams.map((stream) => [(stream as { name: string }).name, (stream as { tokens: unknown[] }).tokens.length]));
  checkTopLists(meta.predictions, 'predictions', tokensOf, file);
  checkTopLists(meta.logitLens, 'logitLens', tokensOf, file);
  if (names.size !== streams.length) throw bad('it has a token stream twice');
  if (!Array.isArray(blocks)) throw bad('its metadata lists no blocks');
  const check = tensorChecker(tensors, file);
  blocks.forEach((block, index) => checkBlock(block, index, names, check, file));
  checkAblation(meta.ablation, blocks, tokensOf, file);
  if (!Array.isArray(residual)) throw bad('its metadata lists no residual steps');
  residual.forEach((step, index) => {
    if (!isRecord(step) || typeof step.stream !== 'string' || !names.has(step.stream)) throw bad(`residual step ${index} reads no stream of the file`);
    const length = tensors.get(String(step.tensor))?.shape[0] ?? 0;
    check(step.tensor, ['F32'], [length], `residual step ${index}`);
  });
  if (analysis !== undefined) {
    if (!isRecord(analysis) || !Array.isArray(analysis.rollout) || !Array.isArray(analysis.diagnostics) || !isRecord(analysis.thresholds)) throw bad('its analysis is not { rollout, diagnostics, thresholds }');
    if (analysis.headStatsColumns !== undefined && JSON.stringify(analysis.headStatsColumns) !== JSON.stringify(HEAD_STAT_COLUMNS)) {
      throw bad(`its head statistics have columns ${JSON.stringify(analysis.headStatsColumns)}; this version reads ${JSON.stringify(HEAD_STAT_COLUMNS)}`);
    }
    analysis.rollout.forEach((entry, index) => {
      if (!isRecord(entry) || !isCount(entry.tokens)) throw bad(`rollout ${index} has no token count`);
      check(entry.tensor, ['F32'], [entry.tokens, entry.tokens], `rollout ${index}`);
    });
  }
  // What a file from another writer (the Python script) may leave out, filled as an empty run would have it.
  return {
    ...meta,
    timings: Array.isArray(meta.timings) ? meta.timings : [],
    truncation: Array.isArray(meta.truncation) ? meta.truncation : [],
    notices: Array.isArray(meta.notices) ? meta.notices : [],
  } as unknown as TraceFileMeta;
}
