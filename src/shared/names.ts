/**
 * @file The vocabulary of a trace: which streams, blocks, masks and backends there are. Its own
 * module so that the trace (trace.ts) and its analysis (analysis.ts) can both use it without
 * importing each other.
 */

export type ModelKind = 'encoder' | 'decoder' | 'encoder-decoder';

/** Where the model came from; `external`: it ran elsewhere (a trace file from scripts/attention_lens_dump.py). */
export type ModelSource = 'builtin' | 'onnx' | 'external';

/** What computed the numbers; `external`: another program (a trace file from scripts/attention_lens_dump.py). */
export type Backend = 'reference' | 'wasm' | 'webgpu' | 'native' | 'external';

/** Which input stream a token sequence feeds. Encoder-only models have only `encoder`,
 *  decoder-only models only `decoder`, encoder-decoder models both. */
export type StreamName = 'encoder' | 'decoder';

/**
 * The attention block within a layer.
 * - `encoder-self`: bidirectional self-attention of an encoder layer.
 * - `decoder-self`: masked (causal) self-attention of a decoder layer.
 * - `cross`: decoder queries attending to encoder keys (keys and values from the encoder output).
 * - `self`: self-attention whose role could not be determined (some foreign ONNX graphs).
 */
export type BlockKind = 'self' | 'encoder-self' | 'decoder-self' | 'cross';

/** The mask a block applied, summarised; the exact cells are in `mask`. */
export type MaskKind = 'none' | 'causal' | 'padding' | 'causal+padding' | 'custom';

export type ResidualStage = 'embedding' | 'self-attention' | 'cross-attention' | 'feed-forward';
