/**
 * @file The overview's block families (encoder self, decoder self, cross-attention: the grids its
 * "Blocks" picker offers) and the model order of block kinds they and the statistics table sort by.
 * Pure.
 */
import type { BlockKind, StreamName } from '../src/shared/trace';
import type { BlockOverview } from '../src/shared/protocol';

/** Block kinds in model order. */
export const KIND_ORDER: Readonly<Record<BlockKind, number>> = { 'encoder-self': 0, self: 1, 'decoder-self': 2, cross: 3 };

/** The overview grids an encoder-decoder offers (what the "Blocks" picker lists). */
export interface BlockFamily {
  key: string;
  label: string;
  stream: StreamName;
  kind: BlockKind;
  /** Block indices by layer, ascending. */
  blockIndices: number[];
}

/** Blocks grouped by (query stream, kind), in model order: encoder self, decoder self, cross. */
export function blockFamilies(blocks: ReadonlyArray<Pick<BlockOverview, 'layer' | 'kind' | 'queryStream'>>): BlockFamily[] {
  const families = new Map<string, BlockFamily>();
  blocks.forEach((block, index) => {
    const key = `${block.queryStream}:${block.kind}`;
    let family = families.get(key);
    if (!family) {
      const label = block.kind === 'cross' ? 'Cross-attention' : `${block.queryStream === 'encoder' ? 'Encoder' : 'Decoder'} self-attention`;
      family = { key, label, stream: block.queryStream, kind: block.kind, blockIndices: [] };
      families.set(key, family);
    }
    family.blockIndices.push(index);
  });
  const rank = (f: BlockFamily): number => (f.stream === 'encoder' ? 0 : 1) * 10 + KIND_ORDER[f.kind];
  const list = [...families.values()].sort((a, b) => rank(a) - rank(b));
  for (const family of list) family.blockIndices.sort((a, b) => blocks[a].layer - blocks[b].layer || a - b);
  return list;
}

/** "Enc self", "Dec self", "Cross": a family's name on the block-kind switch. */
export function familyShortLabel(family: Pick<BlockFamily, 'kind' | 'stream'>): string {
  if (family.kind === 'cross') return 'Cross';
  return family.stream === 'encoder' ? 'Enc self' : 'Dec self';
}

/**
 * The block of `family` at `layer`, else at the nearest layer (the lower on a tie): where the
 * block-kind switch goes from a block of another family (encoder L1 → cross-attention of decoder L1).
 */
export function familyBlockAt(family: Pick<BlockFamily, 'blockIndices'>, blocks: ReadonlyArray<Pick<BlockOverview, 'layer'>>, layer: number): number | undefined {
  let best: number | undefined;
  for (const index of family.blockIndices) {
    if (best === undefined || Math.abs(blocks[index].layer - layer) < Math.abs(blocks[best].layer - layer)) best = index;
  }
  return best;
}
