/**
 * @file The trace on show and where in it the panel is: the step, block and head, the selected
 * query row or key column, the overview's block family, the rollout's stream and row; its steps,
 * layer groups and received blocks; and the names the views give its parts. PanelSession
 * (session.ts) moves the position by its rules. Pure.
 */
import type { Rollout } from '../src/shared/analysis';
import type { StreamName, Token } from '../src/shared/trace';
import type { BlockOverview, DefaultView, TraceOverview } from '../src/shared/protocol';
import type { HeadChoice } from './attention';
import { BlockCache } from './blockCache';
import { blockFamilies, type BlockFamily } from './blockFamilies';
import { initialView, type SavedView, shapeKey } from './state';
import { blockTitle, buildSteps, type LayerGroup, layerGroups, type Step } from './steps';

export class ShownTrace {
  /** shapeKey(trace): a saved view applies to traces of the same shape. */
  readonly shape: string;
  readonly steps: readonly Step[];
  readonly groups: readonly LayerGroup[];
  /** The overview's grids (encoder self, decoder self, cross). */
  readonly families: readonly BlockFamily[];
  readonly blocks: BlockCache;
  stepIndex: number;
  blockIndex: number;
  head: HeadChoice;
  selectedQuery: number | null;
  /** A key column picked from the editor (its token is in the block's key stream only). */
  selectedKey: number | null = null;
  /** The overview's family on show. */
  familyKey: string;
  /** The stream whose rollout is on show, and its selected row. */
  rolloutStream: StreamName | null;
  rolloutSelected: number | null = null;

  /** Opens on the saved view when it belongs to a trace of this shape, else as `defaultView` says. */
  constructor(readonly runId: number, readonly trace: TraceOverview, saved: SavedView | undefined, defaultView: DefaultView) {
    this.shape = shapeKey(trace);
    this.steps = buildSteps(trace);
    this.groups = layerGroups(trace);
    this.families = blockFamilies(trace.blocks);
    this.blocks = new BlockCache(trace.blocks, trace.analysis?.colorLimits);
    const choice = initialView(trace, this.steps, saved, defaultView);
    this.stepIndex = choice.stepIndex;
    this.blockIndex = choice.blockIndex;
    this.head = choice.head;
    this.selectedQuery = choice.selectedQuery;
    // The overview opens on the family of the block the heatmap opens on.
    const first = trace.blocks[choice.blockIndex];
    const family = this.families.find((candidate) => first && candidate.stream === first.queryStream && candidate.kind === first.kind) ?? this.families[0];
    this.familyKey = family?.key ?? '';
    this.rolloutStream = trace.analysis?.rollout[0]?.stream ?? null;
  }

  /** The block on show (undefined when the trace has none). */
  get block(): BlockOverview | undefined {
    return this.trace.blocks[this.blockIndex];
  }

  get step(): Step | undefined {
    return this.steps[this.stepIndex];
  }

  /** What the panel keeps across reloads (vscode.setState). */
  get savedView(): SavedView {
    return { shape: this.shape, stepIndex: this.stepIndex, blockIndex: this.blockIndex, head: this.head, selectedQuery: this.selectedQuery };
  }

  /** An encoder-decoder (or a trace with queries from both streams): places name their stream. */
  get encDec(): boolean {
    return this.trace.model.kind === 'encoder-decoder' || new Set(this.trace.blocks.map((block) => block.queryStream)).size > 1;
  }

  tokens(stream: string): readonly Token[] {
    return this.trace.streams.find((candidate) => candidate.name === stream)?.tokens ?? [];
  }

  /** The layer group (what the layer picker lists) a block belongs to. */
  groupOf(blockIndex: number): LayerGroup | undefined {
    return this.groups.find((group) => group.blockIndices.includes(blockIndex));
  }

  /** "Layer 2", "Decoder L1": the layer picker's name for a block's layer. */
  layerLabel(blockIndex: number): string {
    return this.groupOf(blockIndex)?.label ?? `Layer ${this.trace.blocks[blockIndex]?.layer ?? '?'}`;
  }

  /** "Layer 2 masked self-attention": a block's name in titles. */
  blockName(blockIndex: number): string {
    const block = this.trace.blocks[blockIndex];
    return `${this.groupOf(blockIndex)?.label ?? `L${block.layer}`} ${blockTitle(block).toLowerCase()}`;
  }

  /** The rollout on show: the chosen stream's, else the first (null when the trace carries none). */
  rollout(): Rollout | null {
    const list = this.trace.analysis?.rollout ?? [];
    return list.find((candidate) => candidate.stream === this.rolloutStream) ?? list[0] ?? null;
  }
}
