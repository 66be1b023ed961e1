/**
 * @file What the panel keeps across being hidden or reloaded (vscode.setState), and when a saved
 * view applies to a new trace: only to one of the same model and shape. Display preferences (the
 * heatmap's Words labels) apply to every trace, so they are kept apart from the view. Pure.
 */
import type { DefaultView } from '../src/shared/protocol';
import type { TraceOverview } from '../src/shared/protocol';
import type { HeadChoice } from './attention';
import type { Step } from './steps';
import { stepOfBlock } from './steps';

export interface SavedView {
  /** shapeKey() of the trace the view belongs to. */
  shape: string;
  stepIndex: number;
  blockIndex: number;
  head: HeadChoice;
  /** The selected query row, if any. */
  selectedQuery: number | null;
  /** The heatmap labels rows and columns per word (a preference for every trace, not part of the view). */
  words?: boolean;
}

/** The preferences kept in the saved state: what a new view's state must carry over. */
export type PanelPreferences = Pick<SavedView, 'words'>;

/** The preferences of a saved state (none saved: labels per token). */
export function preferencesOf(saved: SavedView | undefined): Required<PanelPreferences> {
  return { words: saved?.words === true };
}

/** A view to save with the preferences saved before it (views are made without them: ShownTrace.savedView). */
export function withPreferences(view: SavedView, saved: SavedView | undefined): SavedView {
  return saved?.words === undefined ? view : { ...view, words: saved.words };
}

/** The saved state with preferences changed; before any view, one that no trace's shape matches (shapeKey is never ''). */
export function withPreference(saved: SavedView | undefined, preferences: PanelPreferences): SavedView {
  return { ...(saved ?? { shape: '', stepIndex: 0, blockIndex: 0, head: 'mean', selectedQuery: null }), ...preferences };
}

/** Model name and kind, token counts per stream, and every block's shape: equal keys, same layout. */
export function shapeKey(trace: TraceOverview): string {
  const streams = trace.streams.map((stream) => `${stream.name}:${stream.tokens.length}`).join(',');
  const blocks = trace.blocks.map((block) => `${block.layer}${block.kind}${block.heads}x${block.queries}x${block.keys}`).join(',');
  return `${trace.model.name}|${trace.model.kind}|${streams}|${blocks}|${trace.residual.length}`;
}

export interface ViewChoice {
  stepIndex: number;
  blockIndex: number;
  head: HeadChoice;
  selectedQuery: number | null;
}

function validHead(head: unknown, heads: number): head is HeadChoice {
  return head === 'mean' || (typeof head === 'number' && Number.isInteger(head) && head >= 0 && head < heads);
}

/**
 * The view a new trace opens on: the saved one when it belongs to a trace of the same shape (and
 * is consistent with it), else the first attention step with the default head.
 */
export function initialView(trace: TraceOverview, steps: readonly Step[], saved: SavedView | undefined, defaultView: DefaultView): ViewChoice {
  if (saved && saved.shape === shapeKey(trace) && Number.isInteger(saved.stepIndex) && saved.stepIndex >= 0 && saved.stepIndex < steps.length) {
    const block = trace.blocks[saved.blockIndex];
    if (block && validHead(saved.head, block.heads)) {
      const query = typeof saved.selectedQuery === 'number' && saved.selectedQuery < block.queries ? saved.selectedQuery : null;
      return { stepIndex: saved.stepIndex, blockIndex: saved.blockIndex, head: saved.head, selectedQuery: query };
    }
  }
  const firstAttention = steps.findIndex((step) => step.kind === 'attention');
  const stepIndex = firstAttention >= 0 ? firstAttention : 0;
  const blockIndex = steps[stepIndex]?.blockIndex ?? 0;
  const heads = trace.blocks[blockIndex]?.heads ?? 0;
  return { stepIndex, blockIndex, head: defaultView === 'head0' && heads > 0 ? 0 : 'mean', selectedQuery: null };
}

/** After a block change: the same head if the new block has it, else the mean. */
export function headFor(head: HeadChoice, heads: number): HeadChoice {
  return validHead(head, heads) ? head : 'mean';
}

/** The step a picker's block choice lands on (its attention step), keeping the current one if none. */
export function stepForBlock(steps: readonly Step[], blockIndex: number, current: number): number {
  const index = stepOfBlock(steps, blockIndex);
  return index >= 0 ? index : current;
}
