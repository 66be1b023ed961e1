/**
 * @file Roles of the attention blocks: self vs cross, encoder vs decoder stream, mask kind and layer
 * number.
 */
import type { StreamName } from '../../shared/trace';
import { notice, type TraceNotice } from '../../shared/trace';
import type { FoundBlock } from './attentionBlocks';
import type { GraphIndex } from './graph';
import { classifyMask } from './masks';
import { describeNode } from './model';

function intersects(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const item of a) {
    if (b.has(item)) {
      return true;
    }
  }
  return false;
}

/**
 * Decides kind, streams, mask kind and layer of every block.
 *
 * Heuristics, in order:
 *  - self vs cross: self when Q and K reach a common tensor (the same normalised stream, the same
 *    fused QKV projection, or the same rotary tables); cross when they reach disjoint tensors, e.g.
 *    decoder hidden states for Q and the encoder output / encoder_hidden_states for K. When neither
 *    side went through a projection (raw q, k, v graph inputs) the role cannot be told: 'self'.
 *  - stacks: with cross-attention present, a self block whose probabilities flow into a cross
 *    block's keys belongs to the encoder, the others to the decoder. Without cross-attention the
 *    model is decoder-only when any block is causally masked, encoder-only otherwise.
 *  - layers: graph order within each stack (a later layer always depends on an earlier one); a
 *    cross block takes the layer of the last decoder self-attention before it.
 */
export function assignRoles(index: GraphIndex, blocks: FoundBlock[], notes: TraceNotice[]): void {
  for (const block of blocks) {
    block.maskKind = classifyMask(index, block, notes);
    const unknown = !block.projected && [...block.queryTerminals, ...block.keyTerminals].every((value) => index.isGraphInput(value));
    if (unknown) {
      block.kind = 'self';
    } else if (intersects(block.queryTerminals, block.keyTerminals)) {
      block.kind = 'encoder-self'; // refined below
    } else {
      block.kind = 'cross';
    }
  }
  const cross = blocks.filter((block) => block.kind === 'cross');
  const causal = blocks.some((block) => block.maskKind === 'causal' || block.maskKind === 'causal+padding');
  for (const block of blocks) {
    if (block.kind === 'cross') {
      block.queryStream = 'decoder';
      block.keyStream = 'encoder';
    } else if (block.kind === 'self') {
      const stream: StreamName = causal ? 'decoder' : 'encoder';
      block.queryStream = stream;
      block.keyStream = stream;
      notes.push(notice('role-unknown', `${describeNode(block.node)}: its queries and keys are graph inputs, so whether it is encoder or decoder attention cannot be told.`));
    } else {
      const encoder = cross.length > 0 ? cross.some((other) => index.dependsOn(other.key, block.probs)) : !causal;
      block.kind = encoder ? 'encoder-self' : 'decoder-self';
      block.queryStream = encoder ? 'encoder' : 'decoder';
      block.keyStream = block.queryStream;
    }
  }
  // Layers, in graph order within each stack.
  const counters = new Map<string, number>();
  let lastDecoderSelf = -1;
  for (const block of blocks) {
    if (block.kind === 'cross') {
      const fallback = counters.get('cross') ?? 0;
      counters.set('cross', fallback + 1);
      block.layer = lastDecoderSelf >= 0 ? lastDecoderSelf : fallback;
      continue;
    }
    const key = block.kind;
    const layer = counters.get(key) ?? 0;
    counters.set(key, layer + 1);
    block.layer = layer;
    if (block.kind === 'decoder-self') {
      lastDecoderSelf = layer;
    }
  }
}
