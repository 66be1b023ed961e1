/**
 * @file Rewrites of onnxruntime's multi-head kernels into primitive operators.
 */
import type { FusedRewriter } from './fusedKernels';

export const MULTI_HEAD_REWRITERS: readonly FusedRewriter[] = [];
