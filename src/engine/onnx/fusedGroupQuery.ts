/**
 * @file Rewrites of onnxruntime's grouped-query kernels into primitive operators.
 */
import type { FusedRewriter } from './fusedKernels';

export const GROUP_QUERY_REWRITERS: readonly FusedRewriter[] = [];
