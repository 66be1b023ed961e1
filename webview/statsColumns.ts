/**
 * @file The statistics table's columns, how it sorts by one, and how its cells read. Pure.
 */
import type { HeadStats } from '../src/shared/analysis';
import type { BlockKind } from '../src/shared/trace';
import { KIND_ORDER } from './blockFamilies';

export type StatsColumn = 'layer' | 'kind' | 'head' | 'entropy' | 'minEntropy' | 'meanDistance' | 'prevToken' | 'sink' | 'diagonal' | 'induction';
export type SortDirection = 'ascending' | 'descending';

/**
 * The columns in order. `pinned` ones stay at the left while the rest scrolls sideways (the side
 * bar is too narrow for all of them), so every row still says which head it is.
 */
export const STATS_COLUMNS: ReadonlyArray<{ key: StatsColumn; label: string; title: string; numeric: boolean; pinned?: boolean }> = [
  { key: 'layer', label: 'Layer', title: 'Layer (0-based)', numeric: false, pinned: true },
  { key: 'kind', label: 'Kind', title: 'Attention block', numeric: false, pinned: true },
  { key: 'head', label: 'Head', title: 'Head (0-based)', numeric: true, pinned: true },
  { key: 'entropy', label: 'Entropy', title: 'Mean row entropy, bits (0 = one key, log2 K = uniform)', numeric: true },
  { key: 'minEntropy', label: 'Min H', title: 'Smallest row entropy, bits', numeric: true },
  { key: 'meanDistance', label: 'Dist', title: 'Mean distance attended, tokens', numeric: true },
  { key: 'prevToken', label: 'Prev', title: 'Mean weight on the previous token', numeric: true },
  { key: 'sink', label: 'Sink', title: 'Mean weight on the first token', numeric: true },
  { key: 'diagonal', label: 'Diag', title: 'Mean weight on the token itself', numeric: true },
  { key: 'induction', label: 'Induct', title: 'Mean weight on the token after the previous occurrence where the previous token does not already point there (— when no row counts)', numeric: true },
];

function sortValue(stats: HeadStats, column: StatsColumn): number | string | null {
  if (column === 'kind') return stats.kind;
  const value = stats[column];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * The rows sorted by a column (a new array; stable, so ties keep the model's order). Missing
 * values (null induction, NaN) go last in both directions; kinds sort in model order.
 */
export function sortStats(stats: readonly HeadStats[], column: StatsColumn, direction: SortDirection): HeadStats[] {
  const sign = direction === 'ascending' ? 1 : -1;
  return stats
    .map((row, index) => ({ row, index }))
    .sort((a, b) => {
      const x = sortValue(a.row, column);
      const y = sortValue(b.row, column);
      if (x === null || y === null) {
        if (x === null && y === null) return a.index - b.index;
        return x === null ? 1 : -1;
      }
      let order: number;
      if (typeof x === 'string' || typeof y === 'string') order = (KIND_ORDER[x as BlockKind] ?? 9) - (KIND_ORDER[y as BlockKind] ?? 9);
      else order = x - y;
      return order !== 0 ? sign * order : a.index - b.index;
    })
    .map(({ row }) => row);
}

/** A table cell's text: three decimals, — for a missing value. */
export function formatStat(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '—' : value.toFixed(3);
}

/** "enc self", "dec self", "cross", "self". */
export function kindLabel(kind: BlockKind): string {
  switch (kind) {
    case 'encoder-self': return 'enc self';
    case 'decoder-self': return 'dec self';
    case 'cross': return 'cross';
    default: return 'self';
  }
}
