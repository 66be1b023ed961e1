/**
 * @file The JSON form of an AttentionTrace (the CLI's --json and the export feature).
 *
 * Schema, version `formatVersion` (README "Trace JSON" documents it for users):
 * {
 *   formatVersion, createdAt, backend, model: ModelInfo,
 *   streams: { [stream]: { text, origin } },
 *   tokens:  { [stream]: [{ id, text, piece, start, end, special }] },
 *   blocks:  [{ layer, kind, queryStream, keyStream, heads, queries, keys,
 *               probs: number[heads*queries*keys]   row-major [head][query][key],
 *               scores?: same layout, scaled logits before masking,
 *               valueWeighted?: same layout, α · ‖v W_O‖ per head (value-weighted attention),
 *               maskKind, mask: number[queries*keys] (1 allowed, 0 blocked) | null }],
 *   residualNorms: [{ label, stream, layer, stage, norms: number[tokens] }],
 *   timings, truncation, notices: [{ code, message }],
 *   headStats: [{ blockIndex, layer, kind, head, entropy, minEntropy, meanDistance, prevToken,
 *                 sink, diagonal, induction (null when no row counts) }],   entropies in bits
 *   rollout: [{ stream, tokens, values: number[tokens*tokens] }],
 *   diagnostics: [{ code, severity, blockIndex, layer, head, stream, message }], thresholds,
 *   predictions?: [{ stream, top: [[{ id, text, prob }] per position] }],   top-k, most likely first
 *   logitLens?:   [{ stream, layer, top: same as predictions' }]             one per layer
 *   ablation?:    { heads: [{ blockIndex, kind, layer, head }], mode: "zero" | "mean",
 *                   stream?, kl?: number[positions] (bits), changedTop?: [{ position, before, after }],
 *                   blocks: [{ blockIndex, kind, layer, maxAbs, meanAbs: number[heads], maxAbsPerHead: number[heads] }] }
 * }
 * Floats are written with 9 significant digits, which round-trips float32 exactly; NaN and
 * ±Infinity (a broken model) are written as null, since JSON has no such numbers.
 */
import { UserFacingError } from './errors';
import type { DiagnosticThresholds, HeadStats, TraceDiagnostic } from './analysis';
import type { AblationResult, AttentionBlock, AttentionTrace, LogitLensLayer, StreamName, StreamPredictions, Token, TokenStream } from './trace';

export interface TraceJsonBlock {
  layer: number;
  kind: string;
  queryStream: StreamName;
  keyStream: StreamName;
  heads: number;
  queries: number;
  keys: number;
  probs: Array<number | null>;
  scores?: Array<number | null>;
  /** α · ‖v_k^h W_O^h‖, same layout as probs (trace.ts AttentionBlock.valueWeighted). */
  valueWeighted?: Array<number | null>;
  maskKind: string;
  mask: number[] | null;
  /** Grouped-query attention: key/value heads, and the one each query head reads. */
  kvHeads?: number;
  kvHeadOf?: number[];
  slidingWindow?: number;
  source?: string;
}

/** HeadStats as written: a broken head's NaN statistics are null. */
export type HeadStatsJson = { [K in keyof HeadStats]: HeadStats[K] extends number ? number | null : HeadStats[K] };

export interface TraceJson {
  formatVersion: number;
  createdAt: string;
  backend: AttentionTrace['backend'];
  /** The GPU adapter, when the backend is webgpu. */
  adapter?: string;
  model: AttentionTrace['model'];
  streams: Partial<Record<StreamName, { text: string; origin: TokenStream['origin'] }>>;
  tokens: Partial<Record<StreamName, Token[]>>;
  blocks: TraceJsonBlock[];
  residualNorms: Array<{ label: string; stream: StreamName; layer: number | null; stage: string; norms: Array<number | null> }>;
  timings: AttentionTrace['timings'];
  truncation: AttentionTrace['truncation'];
  notices: Array<{ code: string; message: string }>;
  /** Per block and head (analysis/types.ts HeadStats, null where NaN); absent when the trace was not analysed. */
  headStats?: HeadStatsJson[];
  /** Per stream: rollout [queries][keys] flattened, row-major. */
  rollout?: Array<{ stream: StreamName; tokens: number; values: Array<number | null> }>;
  diagnostics?: TraceDiagnostic[];
  thresholds?: DiagnosticThresholds;
  /** The LM head's top-k per position (probabilities as computed, float64: a few per token). */
  predictions?: StreamPredictions[];
  /** Each layer's residual stream through the final norm and the unembedding, top-k per position. */
  logitLens?: LogitLensLayer[];
  /** What ablating heads changed: KL per position (bits), changed top-1, |Δ attention| of later blocks. */
  ablation?: AblationResult;
}

function floats(values: Float32Array): Array<number | null> {
  return Array.from(values, (value) => (Number.isFinite(value) ? Number(value.toPrecision(9)) : null));
}

/** One JSON string cannot pass ~512 M characters in V8; a block of this many values stays well below. */
const MAX_JSON_BLOCK_VALUES = 25_000_000;

export function blockToJson(block: AttentionBlock): TraceJsonBlock {
  const values = block.probs.length + (block.scores?.length ?? 0) + (block.valueWeighted?.length ?? 0);
  if (values > MAX_JSON_BLOCK_VALUES) {
    throw new UserFacingError(
      `Layer ${block.layer} ${block.kind} has ${values} attention values, too many to write as JSON.`,
      'Explain fewer tokens (max tokens), or leave out the pre-softmax scores and the value-weighted attention.',
    );
  }
  return {
    layer: block.layer,
    kind: block.kind,
    queryStream: block.queryStream,
    keyStream: block.keyStream,
    heads: block.heads,
    queries: block.queries,
    keys: block.keys,
    probs: floats(block.probs),
    ...(block.scores ? { scores: floats(block.scores) } : {}),
    ...(block.valueWeighted ? { valueWeighted: floats(block.valueWeighted) } : {}),
    maskKind: block.maskKind,
    mask: block.mask ? Array.from(block.mask) : null,
    ...(block.kvHeads !== undefined ? { kvHeads: block.kvHeads } : {}),
    ...(block.kvHeadOf ? { kvHeadOf: block.kvHeadOf.slice() } : {}),
    ...(block.slidingWindow !== undefined ? { slidingWindow: block.slidingWindow } : {}),
    ...(block.source !== undefined ? { source: block.source } : {}),
  };
}

export function traceToJson(trace: AttentionTrace): TraceJson {
  const streams: TraceJson['streams'] = {};
  const tokens: TraceJson['tokens'] = {};
  for (const stream of trace.streams) {
    streams[stream.name] = { text: stream.text, origin: stream.origin };
    tokens[stream.name] = stream.tokens;
  }
  return {
    formatVersion: trace.formatVersion,
    createdAt: trace.createdAt,
    backend: trace.backend,
    ...(trace.adapter ? { adapter: trace.adapter } : {}),
    model: trace.model,
    streams,
    tokens,
    blocks: trace.blocks.map(blockToJson),
    residualNorms: trace.residual.map((step) => ({ ...step, norms: floats(step.norms) })),
    timings: trace.timings,
    truncation: trace.truncation,
    notices: trace.notices,
    ...(trace.analysis
      ? {
        headStats: trace.analysis.headStats.map((stats) => ({ ...stats, ...roundStats(stats) })),
        rollout: trace.analysis.rollout.map((rollout) => ({ stream: rollout.stream, tokens: rollout.tokens, values: floats(rollout.values) })),
        diagnostics: trace.analysis.diagnostics,
        thresholds: trace.analysis.thresholds,
      }
      : {}),
    ...(trace.predictions ? { predictions: trace.predictions } : {}),
    ...(trace.logitLens ? { logitLens: trace.logitLens } : {}),
    ...(trace.ablation ? { ablation: trace.ablation } : {}),
  };
}

/** Statistics with 9 significant digits, like the attention values. */
function roundStats(stats: HeadStats): Record<keyof Omit<HeadStats, 'blockIndex' | 'layer' | 'kind' | 'head'>, number | null> {
  // A broken model's statistics are NaN (or null, from a file that wrote them): JSON says null.
  const round = (value: number | null): number | null => (value !== null && Number.isFinite(value) ? Number(value.toPrecision(9)) : null);
  return {
    entropy: round(stats.entropy),
    minEntropy: round(stats.minEntropy),
    meanDistance: round(stats.meanDistance),
    prevToken: round(stats.prevToken),
    sink: round(stats.sink),
    diagonal: round(stats.diagonal),
    induction: round(stats.induction),
  };
}

/**
 * The same JSON text as JSON.stringify(traceToJson(trace)), in pieces of one block each, so a long
 * trace can be written to a file without building one giant string.
 */
export function* traceJsonChunks(trace: AttentionTrace): Generator<string> {
  const text = JSON.stringify(traceToJson({ ...trace, blocks: [] }));
  // Inside strings every quote is escaped, so the first exact match is the key itself.
  const marker = '"blocks":[]';
  const at = text.indexOf(marker);
  yield `${text.slice(0, at)}"blocks":[`;
  for (let index = 0; index < trace.blocks.length; index++) {
    yield `${index > 0 ? ',' : ''}${JSON.stringify(blockToJson(trace.blocks[index]))}`;
  }
  yield `]${text.slice(at + marker.length)}`;
}
