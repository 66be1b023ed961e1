/**
 * @file What the heatmap view (heatmap.ts) draws and whom it tells: its input per render and its
 * callbacks. Apart from the view, so the view's module keeps to its drawing.
 */
import type { BlockOverview } from '../src/shared/protocol';
import type { Token } from '../src/shared/trace';
import type { HeadChoice } from './attention';
import type { ColorScale } from './colorScale';
import type { RowPredictions } from './predictionLabels';
import type { ThemeColors } from './theme';

export interface HeatmapInput {
  block: BlockOverview;
  blockIndex: number;
  head: HeadChoice;
  /** [queries, keys] weights of the head shown, or null while the block loads. */
  weights: Float32Array | null;
  mask: Uint8Array | null;
  queryTokens: readonly Token[];
  keyTokens: readonly Token[];
  scale: ColorScale;
  theme: ThemeColors;
  /** The query stream's next-token predictions and logit lens (absent or null: the trace has none). */
  predictions?: RowPredictions | null;
}

export interface HeatmapCallbacks {
  /** The pointer is over a query row (null: it left). */
  onHover(query: number | null): void;
  /** A row was clicked or chosen with the keyboard (null: selection cleared). */
  onSelect(query: number | null): void;
  /** The labels were switched between per token and per word (by the toolbar or W). */
  onWordsChange?(words: boolean): void;
}
