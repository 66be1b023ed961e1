/**
 * @file The bugs `--export-onnx --fault` can plant, for teaching and for testing the diagnostics.
 * Its own light module: the CLI checks its flags with it without loading the exporter.
 */

/**
 * A bug planted in the exported graph on purpose:
 * - `missing-scale`: the scores go to the softmax without the division by √d_k (saturated softmax).
 * - `causal-off-by-one`: the causal bias blocks key > query + 1, so each query sees one future key.
 * - `softmax-wrong-axis`: Softmax over the query axis (axis -2); columns sum to 1, rows do not.
 * - `nan-weight`: weight (in 0, out 0) of the first layer's query projection is NaN (head 0 of the
 *   first self-attention goes NaN, and everything after it).
 */
export type ExportFault = 'missing-scale' | 'causal-off-by-one' | 'softmax-wrong-axis' | 'nan-weight';

export const EXPORT_FAULTS: readonly ExportFault[] = ['missing-scale', 'causal-off-by-one', 'softmax-wrong-axis', 'nan-weight'];
