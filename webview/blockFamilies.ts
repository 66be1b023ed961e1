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
