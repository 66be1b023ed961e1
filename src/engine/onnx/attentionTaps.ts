/**
 * @file Attention taps: the extra graph outputs for each block's probabilities (as float32) and
 * the mask it applied.
 */
import type { FoundBlock, MaskPart } from './attentionBlocks';
import type { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { kvGroupsOf } from './kvGroups';
import { ElemType, makeAttrInt } from './model';
import type { AttentionTap, MaskTap } from './tapPlan';

export function tapBlock(editor: GraphEditor, index: GraphIndex, block: FoundBlock, blockIndex: number): AttentionTap {
  // Always cast: fp16 (and bf16) probabilities become float32, float32 passes through unchanged.
  const output = editor.fresh(`probs_${block.queryStream}_L${block.layer}_${block.kind}`);
  editor.append('Cast', [block.probs], [makeAttrInt('to', ElemType.FLOAT)], output);
  editor.addOutput(output, ElemType.FLOAT);
  const groups = kvGroupsOf(index, block);
  return {
    output,
    node: block.node.name || `${block.node.opType}#${blockIndex}`,
    layer: block.layer,
    kind: block.kind,
    queryStream: block.queryStream,
    keyStream: block.keyStream,
    layout: block.layout,
    ...(block.heads !== undefined ? { heads: block.heads } : {}),
    ...((block.heads ?? block.expectedHeads) !== undefined ? { expectedHeads: block.heads ?? block.expectedHeads } : {}),
    ...(groups ? { kvHeads: groups.kvHeads, kvHeadOf: groups.kvHeadOf } : {}),
    mask: tapMask(editor, index, block),
    expectedMaskKind: block.maskKind,
  };
}

/** Very negative fill for turning Where conditions into additive parts (≤ -1e4 decodes as blocked). */
const BLOCKED = -1e9;

function tapMask(editor: GraphEditor, index: GraphIndex, block: FoundBlock): MaskTap | null {
  const parts = block.maskParts.filter((part) => part.value);
  if (parts.length === 0) {
    return null;
  }
  if (parts.length === 1) {
    const part = parts[0] as MaskPart;
    const output = editor.fresh(`mask_${block.queryStream}_L${block.layer}_${block.kind}`);
    if (part.encoding === 'additive') {
      editor.append('Cast', [part.value], [makeAttrInt('to', ElemType.FLOAT)], output);
      editor.addOutput(output, ElemType.FLOAT);
    } else {
      const type = index.elemType(part.value) ?? ElemType.BOOL;
      editor.append('Identity', [part.value], [], output);
      editor.addOutput(output, type);
    }
    return { output, encoding: part.encoding };
  }
  // Several parts (e.g. a causal Where and a padding Add): one additive float mask, their sum.
  const zero = editor.constant(ElemType.FLOAT, [], [0]);
  const blocked = editor.constant(ElemType.FLOAT, [], [BLOCKED]);
  const additive = parts.map((part) => {
    if (part.encoding === 'additive') {
      return editor.append('Cast', [part.value], [makeAttrInt('to', ElemType.FLOAT)]);
    }
    const keep = part.encoding === 'where-keep-if-true';
    return editor.append('Where', [part.value, keep ? zero : blocked, keep ? blocked : zero]);
  });
  let sum = additive[0] as string;
  for (let i = 1; i < additive.length; i++) {
    sum = editor.append('Add', [sum, additive[i] as string]);
  }
  const output = editor.fresh(`mask_${block.queryStream}_L${block.layer}_${block.kind}`);
  editor.append('Identity', [sum], [], output);
  editor.addOutput(output, ElemType.FLOAT);
  return { output, encoding: 'additive' };
}
