/**
 * @file Every fused attention kernel Attention Lens rewrites into primitive operators, in the order
 * the rewrites run (fusedKernels.ts runs them). A kernel missing here is refused by name.
 */
import { contribAttentionRewriter } from './fusedAttention';
import { GROUP_QUERY_REWRITERS } from './fusedGroupQuery';
import type { FusedRewriter } from './fusedKernels';
import { MULTI_HEAD_REWRITERS } from './fusedMultiHead';

export const FUSED_REWRITERS: readonly FusedRewriter[] = [contribAttentionRewriter, ...MULTI_HEAD_REWRITERS, ...GROUP_QUERY_REWRITERS];
