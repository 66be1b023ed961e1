/**
 * @file The editor side of the panel: hovering a query row in the panel highlights, in the editor,
 * the text of the key tokens it attends to (the stronger, the more opaque), and moving the cursor
 * inside the analysed text selects that token's row in the panel. Highlights are cleared when the
 * panel closes or the text changes.
 */
import * as vscode from 'vscode';
import type { TraceOverview } from '../shared/protocol';
import type { AttentionBlock, StreamName, Token, TokenStream } from '../shared/trace';
import type { AttentionViews, TraceOrigin } from './attentionViews';

/** Opacity steps of the highlight; weights are scaled by the row's largest weight. */
const LEVELS = 8;

function headRow(block: AttentionBlock, head: number | 'mean', query: number): Float32Array {
  const { heads, queries, keys } = block;
  const row = new Float32Array(keys);
  const first = head === 'mean' ? 0 : head;
  const last = head === 'mean' ? heads - 1 : head;
  for (let h = first; h <= last; h++) {
    const offset = (h * queries + query) * keys;
    for (let k = 0; k < keys; k++) row[k] += block.probs[offset + k] / (last - first + 1);
  }
  return row;
}

export class EditorTieIn implements vscode.Disposable {
  private readonly levels: vscode.TextEditorDecorationType[];
  private readonly queryMark: vscode.TextEditorDecorationType;
  private readonly disposables: vscode.Disposable[] = [];
  private decorated: vscode.TextEditor[] = [];
  /** Run, block and head the highlights belong to; another view makes them stale. */
  private highlightedView: string | undefined;
  /** Counts hovers: a block read from a trace file arrives later, and only the latest hover paints. */
  private hoverSequence = 0;

  constructor(private readonly views: AttentionViews) {
    // A warm hue reads on light and dark themes alike; the alpha carries the weight.
    this.levels = Array.from({ length: LEVELS }, (_, level) => vscode.window.createTextEditorDecorationType({
      backgroundColor: `rgba(255, 140, 0, ${(0.12 + (0.7 * (level + 1)) / LEVELS).toFixed(2)})`,
      borderRadius: '2px',
    }));
    this.queryMark = vscode.window.createTextEditorDecorationType({
      borderWidth: '1px',
      borderStyle: 'solid',
      borderColor: new vscode.ThemeColor('focusBorder'),
      borderRadius: '2px',
    });
    this.disposables.push(
      ...this.levels,
      this.queryMark,
      views.onDidHover((message) => this.onHover(message.runId, message.blockIndex, message.head, message.query)),
      views.onDidHoverRollout((message) => this.onHoverRollout(message.runId, message.stream, message.query)),
      views.onDidChange(() => {
        const view = views.currentView;
        const key = view ? `${view.runId}/${view.blockIndex}/${String(view.head)}` : undefined;
        if (!views.anyVisible || !views.currentTrace?.origin || key !== this.highlightedView) this.clear();
      }),
      vscode.workspace.onDidChangeTextDocument((event) => {
        const origin = views.currentTrace?.origin;
        if (origin && event.document === origin.document && event.contentChanges.length > 0) {
          this.clear();
          views.detachOrigin();
        }
      }),
      vscode.workspace.onDidCloseTextDocument((document) => {
        if (views.currentTrace?.origin?.document === document) {
          this.clear();
          views.detachOrigin();
        }
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => this.onCursor(event.textEditor)),
    );
  }

  private editorsOf(origin: TraceOrigin): vscode.TextEditor[] {
    return vscode.window.visibleTextEditors.filter((editor) => editor.document === origin.document);
  }

  private range(origin: TraceOrigin, token: Token): vscode.Range {
    return new vscode.Range(origin.document.positionAt(origin.baseOffset + token.start), origin.document.positionAt(origin.baseOffset + token.end));
  }

  private onHover(runId: number, blockIndex: number, head: number | 'mean', query: number | null): void {
    const hover = ++this.hoverSequence;
    const current = this.views.currentTrace;
    if (!current || current.runId !== runId || !current.origin || query === null) {
      this.clear();
      return;
    }
    const { trace, origin } = current;
    const meta = trace.overview.blocks[blockIndex];
    if (!meta || query >= meta.queries || (head !== 'mean' && head >= meta.heads)) return;
    void trace.shown.readBlock(blockIndex).then((block) => {
      // Another hover, another run or an edit of the text came while the block was read.
      if (hover !== this.hoverSequence || this.views.currentTrace?.runId !== runId || this.views.currentTrace.origin !== origin) return;
      this.highlight(trace.overview, origin, block, blockIndex, head, query);
    }, () => undefined);
  }

  private highlight(trace: TraceOverview, origin: TraceOrigin, block: AttentionBlock, blockIndex: number, head: number | 'mean', query: number): void {
    const keyStream = trace.streams.find((stream) => stream.name === block.keyStream);
    const queryStream = trace.streams.find((stream) => stream.name === block.queryStream);
    this.paint(origin, keyStream, headRow(block, head, query), queryStream?.origin !== 'custom' ? queryStream?.tokens[query] : undefined);
    this.highlightedView = `${this.views.currentTrace?.runId}/${blockIndex}/${String(head)}`;
  }

  /** Rollout row `query` of a stream: how much that output token draws on each input token. */
  private onHoverRollout(runId: number, streamName: StreamName, query: number | null): void {
    this.hoverSequence++;
    const current = this.views.currentTrace;
    const rollout = current?.trace.overview.analysis?.rollout.find((candidate) => candidate.stream === streamName);
    if (!current || current.runId !== runId || !current.origin || query === null || !rollout || query >= rollout.tokens) {
      this.clear();
      return;
    }
    const stream = current.trace.overview.streams.find((candidate) => candidate.name === streamName);
    const row = rollout.values.subarray(query * rollout.tokens, (query + 1) * rollout.tokens);
    this.paint(current.origin, stream, row, stream?.origin !== 'custom' ? stream?.tokens[query] : undefined);
  }

  /** Highlights the tokens of `stream` by `weights` (scaled by the largest) and outlines `queryToken`. */
  private paint(origin: TraceOrigin, stream: TokenStream | undefined, weights: ArrayLike<number>, queryToken: Token | undefined): void {
    let strongest = 0;
    for (let i = 0; i < weights.length; i++) strongest = Math.max(strongest, weights[i]);
    const byLevel: vscode.Range[][] = Array.from({ length: LEVELS }, () => []);
    // Only streams cut from the editor's text map back to it (not a separate decoder text).
    if (stream && stream.origin !== 'custom' && strongest > 0) {
      stream.tokens.forEach((token, key) => {
        const weight = weights[key] ?? 0;
        if (token.start === token.end || weight <= 0 || weight / strongest < 0.05) return;
        byLevel[Math.min(LEVELS - 1, Math.floor((weight / strongest) * LEVELS))].push(this.range(origin, token));
      });
    }
    this.clear();
    const editors = this.editorsOf(origin);
    for (const editor of editors) {
      this.levels.forEach((type, level) => editor.setDecorations(type, byLevel[level]));
      editor.setDecorations(this.queryMark, queryToken && queryToken.start < queryToken.end ? [this.range(origin, queryToken)] : []);
    }
    this.decorated = editors;
  }

  private onCursor(editor: vscode.TextEditor): void {
    const origin = this.views.currentTrace?.origin;
    if (!origin || editor.document !== origin.document || !editor.selection.isEmpty) return;
    this.views.selectQueryAt(editor.document.offsetAt(editor.selection.active) - origin.baseOffset);
  }

  clear(): void {
    for (const editor of this.decorated) {
      for (const type of [...this.levels, this.queryMark]) editor.setDecorations(type, []);
    }
    this.decorated = [];
    this.highlightedView = undefined;
  }

  dispose(): void {
    this.clear();
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
  }
}
