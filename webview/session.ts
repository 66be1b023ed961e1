/**
 * @file The panel's state and rules, without the DOM: the run's status, the display settings, the
 * trace on show (ShownTrace) and its block cache, how a message from the host changes them, how the
 * view moves (steps, layers, blocks, heads, the selected row), and the messages the panel sends
 * because of it (ready, requestBlock, viewChanged, hoverQuery, hoverRollout). Views subscribe to
 * its events and read it; they never change it but through its methods. Unit-tested in Node
 * (test/unit/webviewSession.test.ts).
 */
import type { StreamName } from '../src/shared/trace';
import type {
  BlockDataMessage, ColorMapName, ConfigureMessage, DefaultView, ExportImageMessage, FromWebviewMessage, PanelCapabilities, PanelCommand,
  RunFailedMessage, RunStartedMessage, SelectQueryMessage, TraceLoadedMessage, TraceOverview,
} from '../src/shared/protocol';
import type { HeadChoice } from './attention';
import { ShownTrace } from './shownTrace';
import { headFor, type SavedView, stepForBlock } from './state';
import { moveLayer, moveStep } from './steps';

/** What the panel as a whole shows: nothing yet, a run in progress, a trace, or why there is none. */
export type RunState = 'empty' | 'running' | 'trace' | 'error' | 'cancelled';

export interface RunStatus {
  state: RunState;
  /** The status line. */
  text: string;
}

/** What changed, for the views to follow; each event comes after the state has changed. */
export type SessionEvent =
  | { type: 'status'; status: RunStatus }
  /** recolor: the colour map changed while a trace is on show. */
  | { type: 'configured'; recolor: boolean; capabilities: PanelCapabilities | undefined }
  /** A new trace (its view is set by the viewMoved event that follows). */
  | { type: 'traceLoaded'; shown: ShownTrace }
  /** The step, block or head on show changed (or was set for a new trace). */
  | { type: 'viewMoved'; shown: ShownTrace }
  /** arrivedAt: performance.now() when its message reached the page (the heatmap's timings count from it). */
  | { type: 'blockArrived'; shown: ShownTrace; blockIndex: number; arrivedAt: number }
  /** A block's leaks and blocked cells are counted (BlockCache.counts). */
  | { type: 'countsReady'; shown: ShownTrace; blockIndex: number }
  /** The selected row or column changed; scroll: bring it into view (it came from the editor). */
  | { type: 'selectionMoved'; shown: ShownTrace; scroll: boolean };

/** The host messages the session handles (step and showBlock also switch tabs: main.ts routes them). */
export type SessionMessage = RunStartedMessage | TraceLoadedMessage | RunFailedMessage | BlockDataMessage | ConfigureMessage | SelectQueryMessage;

/** What the session needs from the page: the host channel, the saved view, and idle time. */
export interface SessionHost {
  post(message: FromWebviewMessage): void;
  /** The view saved by saveView (vscode.getState), if any. */
  savedView(): SavedView | undefined;
  saveView(view: SavedView): void;
  /** Runs work once the page is idle (requestIdleCallback), so the heatmap is not kept waiting. */
  whenIdle(work: () => void): void;
}

export type StepUnit = 'layer' | 'step';
export type StepDirection = 'next' | 'previous';

function stepTarget(shown: ShownTrace, unit: StepUnit, direction: StepDirection): number {
  return unit === 'step' ? moveStep(shown.steps, shown.stepIndex, direction) : moveLayer(shown.steps, shown.stepIndex, direction);
}

export class PanelSession {
  colorMap: ColorMapName = 'viridis';
  /** What a new trace opens on. */
  defaultView: DefaultView = 'mean';
  status: RunStatus;
  /** The trace on show (after a failed run, the last good one, dimmed); undefined before the first. */
  shown: ShownTrace | undefined;
  private nextRequestId = 1;
  /** The last viewChanged, hoverQuery and hoverRollout sent (each is sent only when it changes). */
  private lastViewSent = '';
  private lastHover: number | null = null;
  private lastRolloutHover: number | null = null;
  private readonly listeners: Array<(event: SessionEvent) => void> = [];

  /** @param emptyText the status line before any run. */
  constructor(private readonly host: SessionHost, emptyText: string) {
    this.status = { state: 'empty', text: emptyText };
  }

  /** Listeners are called in the order they subscribed. */
  subscribe(listener: (event: SessionEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Tells the listeners the status, then the host that the panel listens (it replies with the trace, if any). */
  start(): void {
    this.emit({ type: 'status', status: this.status });
    this.host.post({ type: 'ready' });
  }

  /** @param arrivedAt performance.now() when the message reached the page. */
  receive(message: SessionMessage, arrivedAt = 0): void {
    switch (message.type) {
      case 'configure': {
        const recolor = message.colorMap !== this.colorMap && this.shown !== undefined;
        this.colorMap = message.colorMap;
        this.defaultView = message.defaultView;
        this.emit({ type: 'configured', recolor, capabilities: message.capabilities });
        break;
      }
      case 'runStarted':
        this.setStatus('running', `Running ${message.description}…`);
        break;
      case 'traceLoaded':
        this.loadTrace(message.runId, message.trace);
        break;
      case 'runFailed':
        if (message.cancelled && this.shown) {
          this.setStatus('trace', 'Run cancelled: showing the previous result.');
        } else {
          // The last good trace stays (the shell dims it under the error): a missing model or tokenizer
          // should not cost the user what they were reading. A cancelled first run leaves nothing to show.
          const text = message.hint ? `${message.message} ${message.hint}` : message.message;
          this.setStatus(message.cancelled ? 'cancelled' : 'error', !message.cancelled && this.shown ? `${text} The previous result is shown dimmed below.` : text);
        }
        break;
      case 'blockData':
        this.receiveBlock(message, arrivedAt);
        break;
      case 'selectQuery':
        if (this.shown && message.runId === this.shown.runId) this.selectToken(this.shown, message.stream, message.tokenIndex);
        break;
      default: {
        const unreachable: never = message;
        void unreachable;
      }
    }
  }

  /** Whether a showBlock for this run and block can be followed. */
  canOpen(runId: number, blockIndex: number): boolean {
    return this.shown !== undefined && runId === this.shown.runId && blockIndex < this.shown.trace.blocks.length;
  }

  /** Moves the view; the block on show is asked for, the host told what is shown, the views follow. */
  show(change: { stepIndex?: number; blockIndex?: number; head?: HeadChoice }): void {
    const shown = this.shown;
    if (!shown) return;
    const previousBlock = shown.blockIndex;
    if (change.stepIndex !== undefined) {
      shown.stepIndex = change.stepIndex;
      const blockIndex = shown.steps[change.stepIndex]?.blockIndex;
      if (blockIndex !== null && blockIndex !== undefined) shown.blockIndex = blockIndex;
    }
    if (change.blockIndex !== undefined) {
      shown.blockIndex = change.blockIndex;
      shown.stepIndex = stepForBlock(shown.steps, change.blockIndex, shown.stepIndex);
    }
    if (change.head !== undefined) shown.head = change.head;
    const block = shown.block;
    const before = shown.trace.blocks[previousBlock];
    // A selection names a token of a stream: it does not carry over to another stream's rows.
    if (block && before && block.queryStream !== before.queryStream) shown.selectedQuery = null;
    if (block && before && block.keyStream !== before.keyStream) shown.selectedKey = null;
    shown.head = headFor(shown.head, block?.heads ?? 0);
    if (block && shown.selectedQuery !== null && shown.selectedQuery >= block.queries) shown.selectedQuery = null;
    this.host.saveView(shown.savedView);
    if (block) this.requestBlock(shown.blockIndex);
    this.emit({ type: 'viewMoved', shown });
    const key = `${shown.runId}:${shown.blockIndex}:${shown.head}`;
    if (block && key !== this.lastViewSent) {
      this.lastViewSent = key;
      this.host.post({ type: 'viewChanged', runId: shown.runId, blockIndex: shown.blockIndex, head: shown.head });
    }
  }

  /** One step or one layer forward or back; nothing at the ends. */
  navigate(unit: StepUnit, direction: StepDirection): void {
    const shown = this.shown;
    if (!shown || shown.steps.length === 0) return;
    const target = stepTarget(shown, unit, direction);
    if (target !== shown.stepIndex) this.show({ stepIndex: target });
  }

  /** Whether navigate(unit, direction) would move (the stepper's buttons are disabled where not). */
  canNavigate(unit: StepUnit, direction: StepDirection): boolean {
    const shown = this.shown;
    return shown !== undefined && shown.steps.length > 0 && stepTarget(shown, unit, direction) !== shown.stepIndex;
  }

  /** A layer picked (LayerGroup.key): its block of the kind on show (self or cross) when it has one. */
  showLayer(groupKey: string): void {
    const shown = this.shown;
    const group = shown?.groups.find((candidate) => candidate.key === groupKey);
    if (!shown || !group) return;
    const kind = shown.block?.kind;
    const same = group.blockIndices.find((index) => shown.trace.blocks[index].kind === kind);
    this.show({ blockIndex: same ?? group.blockIndices[0] });
  }

  /** A query row picked in the heatmap (null: cleared); it is saved with the view. */
  selectRow(query: number | null): void {
    const shown = this.shown;
    if (!shown) return;
    shown.selectedQuery = query;
    shown.selectedKey = null;
    this.emit({ type: 'selectionMoved', shown, scroll: false });
    this.host.saveView(shown.savedView);
  }

  /** Asks the host for a block of the trace on show, unless it is cached or already asked for. */
  requestBlock(blockIndex: number): void {
    const shown = this.shown;
    if (!shown || !shown.blocks.startRequest(blockIndex)) return;
    this.host.post({ type: 'requestBlock', requestId: this.nextRequestId++, runId: shown.runId, blockIndex });
  }

  /** The pointer's query row on the heatmap (null: it left): the host is told when it changes. */
  hoverQuery(query: number | null): void {
    const shown = this.shown;
    if (!shown || query === this.lastHover) return;
    this.lastHover = query;
    this.host.post({ type: 'hoverQuery', runId: shown.runId, blockIndex: shown.blockIndex, head: shown.head, query });
  }

  /** The pointer's row on the rollout (null: it left): the host is told when it changes. */
  hoverRollout(query: number | null): void {
    const shown = this.shown;
    const rollout = shown?.rollout();
    if (!shown || !rollout || query === this.lastRolloutHover) return;
    this.lastRolloutHover = query;
    this.host.post({ type: 'hoverRollout', runId: shown.runId, stream: rollout.stream, query });
  }

  /** A button asks the host to run one of its commands. */
  runCommand(command: PanelCommand): void {
    this.host.post({ type: 'runCommand', command });
  }

  /** An image of the view on show, for the host to save. */
  exportImage(image: Omit<ExportImageMessage, 'type'>): void {
    this.host.post({ type: 'exportImage', ...image });
  }

  /**
   * The page gained or lost focus. VS Code's focusedView context does not follow focus into the
   * webview's iframe: the host keeps its own (attentionLens.webviewFocused) for the step keys.
   */
  focusChanged(focused: boolean): void {
    this.host.post({ type: 'focusChanged', focused });
  }

  chooseFamily(key: string): void {
    if (this.shown) this.shown.familyKey = key;
  }

  /** Another stream's rollout: its selection starts empty. */
  chooseRollout(stream: StreamName): void {
    if (!this.shown) return;
    this.shown.rolloutStream = stream;
    this.shown.rolloutSelected = null;
  }

  selectRolloutRow(query: number | null): void {
    if (this.shown) this.shown.rolloutSelected = query;
  }

  private loadTrace(runId: number, trace: TraceOverview): void {
    const shown = new ShownTrace(runId, trace, this.host.savedView(), this.defaultView);
    this.shown = shown;
    this.lastHover = null;
    this.lastRolloutHover = null;
    this.lastViewSent = '';
    this.setStatus('trace', trace.streams.map((stream) => `${stream.tokens.length} ${stream.name} token${stream.tokens.length === 1 ? '' : 's'}`).join(' · '));
    this.emit({ type: 'traceLoaded', shown });
    this.show({});
  }

  private receiveBlock(message: BlockDataMessage, arrivedAt: number): void {
    const shown = this.shown;
    // A reply for an earlier run (its request crossed a new trace) is dropped.
    if (!shown || message.runId !== shown.runId) return;
    const { blockIndex } = message;
    if (!shown.blocks.store(blockIndex, message.probs, message.mask, message.mean ?? null)) return;
    this.emit({ type: 'blockArrived', shown, blockIndex, arrivedAt });
    // The block picker lists the current layer's blocks with their leaks; other blocks (e.g. the
    // overview's) are counted when they are first listed.
    if (!shown.groupOf(shown.blockIndex)?.blockIndices.includes(blockIndex)) return;
    this.host.whenIdle(() => {
      if (this.shown !== shown || !shown.blocks.counts(blockIndex)) return;
      this.emit({ type: 'countsReady', shown, blockIndex });
    });
  }

  /** The editor cursor is on a token: its row when the block's queries are that stream, else its column. */
  private selectToken(shown: ShownTrace, stream: StreamName, tokenIndex: number): void {
    const block = shown.block;
    if (!block) return;
    if (block.queryStream === stream && tokenIndex < block.queries) {
      shown.selectedQuery = tokenIndex;
      shown.selectedKey = null;
    } else if (block.keyStream === stream && tokenIndex < block.keys) {
      shown.selectedKey = tokenIndex;
    } else {
      return;
    }
    this.emit({ type: 'selectionMoved', shown, scroll: true });
  }

  private setStatus(state: RunState, text: string): void {
    this.status = { state, text };
    this.emit({ type: 'status', status: this.status });
  }

  private emit(event: SessionEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
