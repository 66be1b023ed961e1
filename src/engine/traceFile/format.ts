/**
 * @file The trace file: an AttentionTrace as safetensors (https://github.com/huggingface/safetensors),
 * so Python (numpy, safetensors, PyTorch) reads it as it is and a big trace is read one block at a
 * time. README "Trace files" documents this for users; this module names its parts.
 *
 * File: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON (padded with spaces so the data starts at
 * a multiple of 8), then the tensors' bytes, contiguous, every tensor's `data_offsets` relative to
 * the data's start. Header: `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__ }`.
 *
 * Tensors (N the block's index in `blocks`, i the residual step's index):
 *   attention.N   F32 or F16  [heads, queries, keys]   softmax weights, rows sum to 1
 *   scores.N      F32         [heads, queries, keys]   scaled logits before the mask (when kept)
 *   value_weighted.N  F32 or F16  [heads, queries, keys]  α · ‖v W_O‖ per head (when computed)
 *   mask.N        U8          [queries, keys]          1 allowed, 0 blocked (where the block had a mask)
 *   head_stats.N  F64         [heads, 7]               HEAD_STAT_COLUMNS; induction NaN when null
 *   residual.i    F32         [tokens]                 L2 norm of each token's residual vector after step i
 *   rollout.S     F32         [tokens, tokens]         attention rollout of stream S (encoder, decoder)
 * Metadata (`__metadata__`, strings only, as the format requires):
 *   attention_lens_schema  "1" (TRACE_FILE_SCHEMA); a file of another schema is refused by name
 *   attention_lens         the trace without its arrays, as JSON (TraceFileMeta): each array is
 *                          replaced by its tensor's name; numbers JSON cannot hold are
 *                          { "$number": "NaN" | "Infinity" | "-Infinity" }
 * Tensors are laid out F64 first, then F32, F16 and U8, each in block order: every tensor starts
 * at a multiple of its element size, so a reader may view it in place.
 */
import type { DiagnosticThresholds, HeadStats, TraceAnalysis } from '../../shared/analysis';
import type { AttentionBlock, AttentionTrace, ResidualStep, TokenStream } from '../../shared/trace';

/** The schema this build writes and reads; any other is refused with both numbers. */
export const TRACE_FILE_SCHEMA = 1;
export const SCHEMA_KEY = 'attention_lens_schema';
export const META_KEY = 'attention_lens';
/** The extension VS Code opens as a trace ("model.attn.safetensors"). */
export const TRACE_FILE_EXTENSION = '.attn.safetensors';

export type TensorDtype = 'F64' | 'F32' | 'F16' | 'U8';
export const DTYPE_BYTES: Readonly<Record<TensorDtype, number>> = { F64: 8, F32: 4, F16: 2, U8: 1 };
/** The order tensors are laid out in: widest element first keeps every offset aligned. */
export const DTYPE_ORDER: readonly TensorDtype[] = ['F64', 'F32', 'F16', 'U8'];

/** The columns of a `head_stats.N` tensor, in order. */
export const HEAD_STAT_COLUMNS = ['entropy', 'minEntropy', 'meanDistance', 'prevToken', 'sink', 'diagonal', 'induction'] as const;

export const tensorNames = {
  attention: (block: number) => `attention.${block}`,
  scores: (block: number) => `scores.${block}`,
  valueWeighted: (block: number) => `value_weighted.${block}`,
  mask: (block: number) => `mask.${block}`,
  headStats: (block: number) => `head_stats.${block}`,
  residual: (step: number) => `residual.${step}`,
  rollout: (stream: string) => `rollout.${stream}`,
};

/** A block as the metadata holds it: everything but its arrays, which are named. */
export type BlockMeta = Omit<AttentionBlock, 'probs' | 'scores' | 'mask' | 'meanProbs' | 'valueWeighted'> & {
  tensors: { attention: string; scores?: string; valueWeighted?: string; mask?: string; headStats?: string };
  /** The trace had the mean of heads precomputed; the reader computes it again (it is not stored). */
  meanProbs?: boolean;
};

export type ResidualMeta = Omit<ResidualStep, 'norms'> & { tensor: string };

export interface AnalysisMeta {
  headStatsColumns?: readonly string[];
  colorLimits?: TraceAnalysis['colorLimits'];
  rollout: Array<{ stream: TraceAnalysis['rollout'][number]['stream']; tokens: number; tensor: string }>;
  diagnostics: TraceAnalysis['diagnostics'];
  thresholds: DiagnosticThresholds;
}

/** The `attention_lens` metadata: the trace without its arrays. */
export type TraceFileMeta = Omit<AttentionTrace, 'blocks' | 'residual' | 'analysis' | 'streams'> & {
  streams: TokenStream[];
  blocks: BlockMeta[];
  residual: ResidualMeta[];
  analysis?: AnalysisMeta;
};

// LazyTrace lives in src/shared (the hosts hold one); the trace file reads and writes it.
export { type LazyBlock, type LazyTrace, lazyTrace } from '../../shared/lazyTrace';

/** One head's statistics as its row of `head_stats.N`. */
export function headStatRow(stats: HeadStats): number[] {
  return HEAD_STAT_COLUMNS.map((column) => stats[column] ?? Number.NaN);
}
