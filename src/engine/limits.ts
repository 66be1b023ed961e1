/**
 * @file Ceilings on what one run may read, hold or make, with why each is where it is. Every
 * ceiling is checked before the work that would pass it, and its message gives the numbers.
 */

/**
 * The longest text explained. A run keeps at most 8192 tokens, so more text would only be
 * tokenised to be cut; 4 MB of text tokenises in a few seconds even with a BPE tokenizer.
 */
export const MAX_TEXT_BYTES = 4 * 2 ** 20;
/** The same ceiling in UTF-16 code units, for text that arrives as a string (a selection). */
export const MAX_TEXT_CHARACTERS = MAX_TEXT_BYTES;

/** Ceilings that protect the editor from a run it cannot hold (each host has an option for each). */
export interface ResourceLimits {
  /** Largest ONNX or weights file loaded (with external data), in MB. Default 4096. */
  maxModelMB?: number;
  /** Largest attention a trace may hold (all blocks and heads, float32), in MB. Default 2048. */
  maxTraceMB?: number;
}

export const DEFAULT_LIMITS: Required<ResourceLimits> = { maxModelMB: 4096, maxTraceMB: 2048 };
