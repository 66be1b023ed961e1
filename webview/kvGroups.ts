/**
 * @file Grouped-query attention and sliding windows as the panel words them: query heads grouped by
 * the key/value head they read (the overview's columns), head labels that name their KV head, the
 * header's "14 query heads, 2 KV heads · window 4", the mask badge's "causal + sliding window 4" and
 * the cells a window blocks. Pure.
 */
import type { BlockOverview, TraceOverview } from '../src/shared/protocol';

type Grouping = Pick<BlockOverview, 'heads' | 'kvHeads' | 'kvHeadOf'>;

/** The query heads that read one key/value head (kvHead null: the block is not grouped). */
export interface KvGroup {
  kvHead: number | null;
  /** "KV 0"; '' when not grouped. */
  label: string;
  /** Query heads, ascending. */
  heads: number[];
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** The KV head query head `head` reads, or null when the block does not share keys and values. */
export function kvHeadOf(block: Grouping, head: number): number | null {
  const map = block.kvHeadOf;
  if (!map || map.length !== block.heads || !(head >= 0 && head < map.length)) return null;
  return map[head];
}

/** Whether the block has grouped-query attention the panel can show (fewer KV heads than query heads, a map for every head). */
export function isGrouped(block: Grouping): boolean {
  const map = block.kvHeadOf;
  return !!map && map.length === block.heads && map.every((kv) => Number.isInteger(kv) && kv >= 0) && new Set(map).size < block.heads;
}

/**
 * The block's query heads grouped by KV head, groups in KV head order and heads ascending within
 * each; one unlabelled group of every head when the block is not grouped.
 */
export function kvGroups(block: Grouping): KvGroup[] {
  const all = Array.from({ length: Math.max(0, block.heads) }, (_, h) => h);
  if (!isGrouped(block)) return [{ kvHead: null, label: '', heads: all }];
  const byKv = new Map<number, number[]>();
  for (const h of all) {
    const kv = block.kvHeadOf![h];
    const list = byKv.get(kv) ?? [];
    list.push(h);
    byKv.set(kv, list);
  }
  return [...byKv.entries()].sort(([a], [b]) => a - b).map(([kvHead, heads]) => ({ kvHead, label: `KV ${kvHead}`, heads }));
}

/**
 * The column groups of an overview grid whose rows are `blocks` and which has `heads` columns: the
 * blocks' grouping when every grouped block of the widest shape agrees, else one ungrouped group.
 */
export function familyKvGroups(blocks: readonly Grouping[], heads: number): KvGroup[] {
  const widest = blocks.filter((block) => block.heads === heads);
  const grouped = widest.filter(isGrouped);
  const plain: KvGroup[] = [{ kvHead: null, label: '', heads: Array.from({ length: Math.max(0, heads) }, (_, h) => h) }];
  if (grouped.length === 0 || grouped.length !== widest.length) return plain;
  const key = grouped[0].kvHeadOf!.join(',');
  return grouped.every((block) => block.kvHeadOf!.join(',') === key) ? kvGroups(grouped[0]) : plain;
}

/**
 * The overview's line above a grouped grid: "14 query heads, 2 KV heads: query heads are grouped by
 * the key/value head they share"; null when the grid is not grouped (ordinary multi-head attention).
 */
export function overviewKvLine(blocks: readonly Grouping[], heads: number): string | null {
  const groups = familyKvGroups(blocks, heads);
  const widest = blocks.find((block) => block.heads === heads && isGrouped(block));
  if (!widest || !groups.some((group) => group.kvHead !== null)) return null;
  return `${blockHeadsText(widest)}: query heads are grouped by the key/value head they share.`;
}

/** KV heads of a block: its `kvHeads`, else how many distinct ones its map names, else its heads. */
export function kvHeadCount(block: Grouping): number {
  if (!isGrouped(block)) return block.heads;
  return block.kvHeads ?? new Set(block.kvHeadOf).size;
}

/** "14 query heads, 2 KV heads"; "4 heads" when every query head has its own keys and values. */
export function headCountText(heads: number, kvHeads: number | undefined): string {
  if (kvHeads === undefined || kvHeads >= heads) return plural(heads, 'head');
  return `${plural(heads, 'query head')}, ${plural(kvHeads, 'KV head')}`;
}

/** The heads of a block in words (headCountText of the block). */
export function blockHeadsText(block: Grouping): string {
  return headCountText(block.heads, isGrouped(block) ? kvHeadCount(block) : undefined);
}

/** "Head 3 · KV 0" (the head picker, titles); "Head 3" when the block is not grouped. */
export function headLabel(block: Grouping, head: number): string {
  const kv = kvHeadOf(block, head);
  return kv === null || !isGrouped(block) ? `Head ${head}` : `Head ${head} · KV ${kv}`;
}

/** "head 3, KV head 0" (screen readers); "head 3" when the block is not grouped. */
export function headSpoken(block: Grouping, head: number): string {
  const kv = kvHeadOf(block, head);
  return kv === null || !isGrouped(block) ? `head ${head}` : `head ${head}, KV head ${kv}`;
}

/** The grouped-query facts of a trace's self-attention (the first grouped block's), null when it has none. */
export function traceKvFacts(trace: Pick<TraceOverview, 'blocks'>): { heads: number; kvHeads: number } | null {
  const block = trace.blocks.find((candidate) => candidate.kind !== 'cross' && isGrouped(candidate));
  return block ? { heads: block.heads, kvHeads: kvHeadCount(block) } : null;
}

/** The sliding window of a trace's blocks (the first block's that has one), null when none has. */
export function traceWindow(trace: Pick<TraceOverview, 'blocks'>): number | null {
  return trace.blocks.find((block) => windowOf(block) !== null)?.slidingWindow ?? null;
}

/** A block's sliding window when it blocks anything (fewer keys than the block has), else null. */
export function windowOf(block: Pick<BlockOverview, 'slidingWindow' | 'keys'>): number | null {
  const window = block.slidingWindow;
  return window !== undefined && Number.isFinite(window) && window >= 1 && window < block.keys ? Math.floor(window) : null;
}

/**
 * The header's facts about heads: "3 layers × 4 query heads, 2 KV heads" and, with a window,
 * "window 32"; "3 layers × 4 heads" for ordinary multi-head attention.
 */
export function modelHeadFacts(trace: Pick<TraceOverview, 'blocks' | 'model'>, layers: string): string[] {
  const kv = traceKvFacts(trace);
  const facts = [`${layers} × ${kv ? headCountText(kv.heads, kv.kvHeads) : plural(trace.model.heads, 'head')}`];
  const window = traceWindow(trace);
  if (window !== null) facts.push(`window ${window}`);
  return facts;
}

/** "causal + sliding window 4": the mask badge's name of the block's mask. */
export function maskText(block: Pick<BlockOverview, 'maskKind' | 'slidingWindow' | 'keys'>): string {
  const window = windowOf(block);
  return window === null ? block.maskKind : `${block.maskKind} + sliding window ${window}`;
}

/** Cells a window of W keys blocks in a [queries, keys] block (key ≤ query − W), those below the diagonal only. */
export function windowBlockedCells(queries: number, keys: number, window: number | null): number {
  if (window === null || window < 1) return 0;
  let count = 0;
  for (let q = 0; q < queries; q++) count += Math.max(0, Math.min(keys, q - window + 1));
  return count;
}

/** Whether key `key` is outside query `query`'s window (key ≤ query − W). */
export function outsideWindow(block: Pick<BlockOverview, 'slidingWindow' | 'keys'>, query: number, key: number): boolean {
  const window = windowOf(block);
  return window !== null && key <= query - window;
}

/** The leak badge of a block without leaks: "0 leaks in 2176 masked cells (406 outside the window)". */
export function noLeaksText(blocked: number, outsideWindow: number): string {
  const cells = `0 leaks in ${blocked} masked cell${blocked === 1 ? '' : 's'}`;
  return outsideWindow > 0 ? `${cells} (${outsideWindow} outside the window)` : cells;
}
