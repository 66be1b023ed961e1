/**
 * @file How big a trace's JSON gets, estimated before it is written: JSON is for small traces. Past
 * JSON_REFUSE_MB no Node program can read it back (one string stops at 2^29 - 24 characters, about
 * 512 MiB: JSON.parse throws ERR_STRING_TOO_LONG) and Python's json needs many times its size in
 * memory, so it is refused with the way out (`--save`, a trace file read a block at a time); past
 * JSON_WARN_MB it is written with the same advice.
 */
import { type LazyTrace } from '../engine';
import { UserFacingError } from '../shared/errors';
import { lazyBlockArrays } from '../shared/lazyTrace';

export const JSON_WARN_MB = 256;
export const JSON_REFUSE_MB = 512;

/**
 * Characters per attention value as written: up to 9 significant digits and a comma
 * ("0.123456789,", "1.23456789e-7,"), 2 for a blocked cell's exact zero ("0,"). Measured on
 * gpt2-shape at 512 tokens (causal: half the cells are zeros): 8.2; unmasked weights take more.
 */
const BYTES_PER_VALUE = 10;
const MB = 2 ** 20;

export function estimateJsonBytes(trace: LazyTrace): number {
  return trace.blocks.reduce((sum, block) => sum + block.heads * block.queries * block.keys * lazyBlockArrays(block) * BYTES_PER_VALUE, 0);
}

/** Refuses a JSON too big to read back; returns the warning to print for a big one, else null. */
export function checkJsonSize(trace: LazyTrace, target: string): string | null {
  const megabytes = estimateJsonBytes(trace) / MB;
  const save = `write it as a trace file instead: --save ${target === '-' ? 'trace' : target.replace(/\.json$/i, '')}.attn.safetensors`;
  if (megabytes > JSON_REFUSE_MB) {
    throw new UserFacingError(
      `The trace's JSON would be about ${megabytes.toFixed(0)} MB, more than Node (and most JSON readers) can read back (${JSON_REFUSE_MB} MB); it was not written.`,
      `For a trace this big, ${save} (about ${(megabytes * 4 / BYTES_PER_VALUE).toFixed(0)} MB, read a block at a time; --half halves it), or explain fewer tokens (--max-tokens).`,
      { code: 'json-too-big', facts: { jsonMB: Math.ceil(megabytes), limitMB: JSON_REFUSE_MB } },
    );
  }
  return megabytes > JSON_WARN_MB ? `warning: the trace's JSON is about ${megabytes.toFixed(0)} MB, which many JSON readers load slowly or not at all; ${save} (about ${(megabytes * 4 / BYTES_PER_VALUE).toFixed(0)} MB).` : null;
}
