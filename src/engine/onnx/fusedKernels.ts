/**
 * @file The driver that rewrites fused attention kernels into primitive operators, so that their
 * Softmax becomes visible to the ordinary analysis. Each kernel's rewrite lives in its own module
 * and is listed in fusedRegistry.ts; this module runs them, names the new nodes after the fused one
 * (so messages and the plan still point at it), and holds the checks every rewrite shares: the
 * attributes it knows (an unknown one is refused by name, never silently ignored) and the refusal's
 * wording.
 */
import { UserFacingError } from '../../shared/errors';
import { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { describeNode, graphOf, type NodeProto } from './model';

/** How a re-export makes attention explicit; shown with every refusal. */
export const EXPORT_HINT =
  'Re-export with explicit attention: in Hugging Face transformers load the model with attn_implementation="eager" ' +
  '(optimum-cli export onnx ... works), keep the ONNX opset below 23 (or let us tap the opset-23 Attention op), ' +
  'and do not run the onnxruntime transformers optimizer (it fuses attention into com.microsoft kernels).';

/** One fused kernel's rewrite into primitive operators with the same outputs. */
export interface FusedRewriter {
  domain: string;
  opType: string;
  /** The lowest default-domain opset the replacement's operators need (e.g. 11 for Range). */
  minOpset: number;
  /**
   * The nodes that replace `node`: they must write the node's outputs (those it names) with the
   * kernel's results. Refuses (UserFacingError, through refuseFused) a variant it cannot match exactly.
   */
  replacement(editor: GraphEditor, index: GraphIndex, node: NodeProto): NodeProto[];
}

/** How many nodes of each kernel were rewritten, e.g. { 'com.microsoft.MultiHeadAttention': 12 }. */
export type RewriteCounts = Map<string, number>;

export function kernelName(rewriter: Pick<FusedRewriter, 'domain' | 'opType'>): string {
  return rewriter.domain ? `${rewriter.domain}.${rewriter.opType}` : rewriter.opType;
}

/** Rewrites every node that a rewriter handles, in file order, one rewriter after another. */
export function rewriteFusedKernels(editor: GraphEditor, rewriters: readonly FusedRewriter[]): RewriteCounts {
  const counts: RewriteCounts = new Map();
  for (const rewriter of rewriters) {
    const graph = graphOf(editor.model);
    const targets = (graph.node ?? []).filter((node) => (node.domain ?? '') === rewriter.domain && node.opType === rewriter.opType);
    if (targets.length === 0) continue;
    if (editor.opset < rewriter.minOpset) {
      refuseFused(targets[0] as NodeProto, `rewriting it needs a model of ONNX opset ${rewriter.minOpset} or later, and this one is opset ${editor.opset}`);
    }
    // One index per rewriter: the previous rewriter's replacements are in the graph by now.
    const index = new GraphIndex(graph);
    targets.forEach((node, at) => {
      const replacement = rewriter.replacement(editor, index, node);
      const base = node.name || `${rewriter.opType}_${at}`;
      replacement.forEach((inner, step) => {
        inner.name = `${base}/${inner.opType}_${step}`;
      });
      editor.replace(node, replacement);
    });
    counts.set(kernelName(rewriter), targets.length);
  }
  return counts;
}

/** Refuses a fused node: the message names the node and its op, and says why. */
export function refuseFused(node: NodeProto, why: string): never {
  throw new UserFacingError(`Cannot read the attention of the fused onnxruntime kernel ${describeNode(node)}: ${why}.`, EXPORT_HINT);
}

/**
 * Refuses a node that carries an attribute the rewrite does not know (a newer kernel's option
 * could change the result), naming it.
 */
export function checkKnownAttributes(node: NodeProto, known: readonly string[]): void {
  for (const attribute of node.attribute ?? []) {
    const name = attribute.name ?? '';
    if (!known.includes(name)) {
      refuseFused(node, `it has the attribute ${name}, which the rewrite into plain operators does not know, so its result could differ`);
    }
  }
}
