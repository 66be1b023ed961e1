/**
 * @file A run's size, estimated from shapes before the forward pass, so a run that cannot fit is
 * refused at once with the numbers (8192 tokens on a small model used to take 96 s and 5.4 GB
 * before the ceiling was checked on the finished trace).
 */
import { optionRef, UserFacingError } from '../shared/errors';

/** One attention block's shape; heads null when the graph does not show them. */
export interface BlockShape {
  heads: number | null;
  queries: number;
  keys: number;
}

export interface TraceEstimate {
  /** Bytes of attention the trace will hold (float32; twice with pre-softmax scores). */
  bytes: number;
  /** False when some block's heads were unknown and counted as one: the true size is larger. */
  exact: boolean;
  blocks: number;
  /** The largest block, in float32 values (what one layer's scores need while it runs). */
  largestBlockValues: number;
}

export function estimateTrace(blocks: readonly BlockShape[], includeScores: boolean): TraceEstimate {
  const known = blocks.map((block) => block.heads).filter((heads): heads is number => heads !== null && heads > 0);
  // Blocks of one model have the same heads as a rule: an unknown block takes the known ones' count.
  const fallback = known.length > 0 ? Math.min(...known) : null;
  let values = 0;
  let largest = 0;
  for (const block of blocks) {
    const heads = block.heads ?? fallback ?? 1;
    const blockValues = heads * block.queries * block.keys;
    values += blockValues;
    largest = Math.max(largest, blockValues);
  }
  return { bytes: values * 4 * (includeScores ? 2 : 1), exact: blocks.every((block) => block.heads !== null), blocks: blocks.length, largestBlockValues: largest };
}

const MB = 2 ** 20;

export interface SizeCause {
  /** Tokens per stream as the run would take them. */
  tokens: number;
  /** The padding length asked for, when padding made the input this long. */
  padTo?: number;
  includeScores: boolean;
}

/** Refuses, before the forward pass, a run whose attention would pass the trace ceiling. */
export function checkTraceEstimate(estimate: TraceEstimate, limitMB: number, cause: SizeCause): void {
  if (estimate.bytes / MB <= limitMB) return;
  const size = `${estimate.exact ? '' : 'at least '}${(estimate.bytes / MB).toFixed(0)} MB`;
  const padded = cause.padTo !== undefined && cause.padTo >= cause.tokens;
  const shorter = padded ? `Pad to fewer tokens (${optionRef('padTo')})` : `Explain fewer tokens (${optionRef('maxTokens')})`;
  throw new UserFacingError(
    `This run's attention would take ${size} (${estimate.blocks} blocks on ${cause.tokens} tokens${cause.includeScores ? ', with the pre-softmax scores' : ''}), over the ${limitMB} MB limit; nothing was run.`,
    `${shorter}, or raise ${optionRef('maxTraceMB')} if the machine has the memory.`,
    { code: 'trace-too-big', facts: { traceMB: Math.ceil(estimate.bytes / MB), limitMB, tokens: cause.tokens, padded } },
  );
}

/** What ONNX Runtime Web can hold: its WebAssembly memory stops at 4 GiB. */
export const WASM_MEMORY_BYTES = 4 * 2 ** 30;

/** Room WASM keeps for what is not weights or outputs: activations, the runtime itself. */
const WASM_HEADROOM_BYTES = 512 * MB;

/**
 * The attention one ONNX Runtime Web run may return: what 4 GiB leave beside the weights, the
 * largest block's work (scores, probabilities, a copy in between) and some headroom. The taps are
 * fetched in passes of at most this much, so a trace bigger than WASM's memory still runs.
 */
export function wasmPassBytes(modelBytes: number, largestBlockValues: number): number {
  // Outputs stay in WASM memory until the run ends and are then copied out: at most 1 GiB per run
  // keeps the copies and ONNX Runtime's own buffers far from the edge.
  return Math.min(MAX_PASS_BYTES, WASM_MEMORY_BYTES - modelBytes - largestBlockValues * 4 * 3 - WASM_HEADROOM_BYTES);
}

const MAX_PASS_BYTES = 2 ** 30;

/**
 * Refuses, before the forward pass, a run that cannot fit in ONNX Runtime Web's memory even one
 * block at a time (the weights and the largest block's work together pass 4 GiB); ONNX Runtime
 * would otherwise fail half-way with bad_alloc. A trace that only fits in passes is not refused.
 */
export function checkWasmMemory(estimate: TraceEstimate, modelBytes: number, tokens: number): void {
  const oneBlock = estimate.largestBlockValues * 4;
  if (wasmPassBytes(modelBytes, estimate.largestBlockValues) >= oneBlock) return;
  const needed = modelBytes + oneBlock * 4 + WASM_HEADROOM_BYTES;
  throw new UserFacingError(
    `This run would need ${estimate.exact ? '' : 'at least '}${(needed / 2 ** 30).toFixed(1)} GB of WebAssembly memory for its largest layer alone (weights ${(modelBytes / 2 ** 30).toFixed(1)} GB, one layer's attention ${(oneBlock / 2 ** 30).toFixed(2)} GB on ${tokens} tokens), but ONNX Runtime Web holds at most 4 GB; nothing was run.`,
    `Explain fewer tokens (${optionRef('maxTokens')}), or use the native backend (${optionRef('backend')}).`,
    { code: 'wasm-memory', facts: { neededMB: Math.ceil(needed / MB), limitMB: WASM_MEMORY_BYTES / MB, tokens } },
  );
}

/**
 * Consecutive taps grouped into runs that each return at most `budgetBytes` (a tap bigger than the
 * budget runs alone); one group when everything fits.
 */
export function planPasses(tapBytes: readonly number[], budgetBytes: number): number[][] {
  const passes: number[][] = [];
  let current: number[] = [];
  let used = 0;
  tapBytes.forEach((bytes, index) => {
    if (current.length > 0 && used + bytes > budgetBytes) {
      passes.push(current);
      current = [];
      used = 0;
    }
    current.push(index);
    used += bytes;
  });
  if (current.length > 0) passes.push(current);
  return passes;
}
