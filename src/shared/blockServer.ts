/**
 * @file The host's side of the panel protocol that is answered from a trace, written once for the
 * three hosts that show the panel: the VS Code webviews (src/vscode/webviewHost.ts), the stand-in
 * host of the HTML report (src/report/reportHost.ts) and the benchmark's page (bench/webview.ts).
 * What each host adds on its own (settings, run status, exports, editor highlights) stays there.
 *
 * Pure (it runs in the extension host and in the report's browser bundle): given a trace, it
 * builds the message and lists the buffers that belong to that message alone.
 */
import { type BlockDataMessage, type RequestBlockMessage, type TraceLoadedMessage, traceOverview } from './protocol';
import type { LazyTrace } from './lazyTrace';
import type { AttentionBlock, AttentionTrace } from './trace';

/**
 * A message for the panel and the buffers only it refers to, which a host whose postMessage takes
 * a transfer list may move instead of copying (VS Code's webview.postMessage takes none).
 */
export interface ServedMessage<Message> {
  message: Message;
  transfer: ArrayBuffer[];
}

/**
 * How a block reaches the panel, which decides whether its arrays are copied.
 * - 'posted': through a postMessage that serializes it (VS Code's webview.postMessage). The
 *   arrays are copied: VS Code posts a view's whole backing buffer, and a decoded trace's arrays
 *   are views into one buffer holding every block. The copies are the message's own, so they are
 *   listed for transfer.
 * - 'in-page': handed to the panel's listener as a MessageEvent in the same page (the stand-in
 *   hosts of the report and the bench). Nothing is serialized, so the arrays are the trace's own
 *   views (the panel only reads them): copying would cost the page's one thread for nothing, and
 *   there is nothing to transfer (moving a view's buffer would take the whole trace away).
 */
export type BlockDelivery = 'posted' | 'in-page';

/**
 * The trace of run `runId` if the host still shows that run, else undefined: the panel may ask
 * about a run that a newer one has replaced while the request was in flight.
 */
export type TraceOfRun = (runId: number) => AttentionTrace | undefined;

/** A host that holds one trace for its whole life (the report, the bench) under one run id. */
export function singleRun(runId: number, trace: AttentionTrace): TraceOfRun {
  return (asked) => (asked === runId ? trace : undefined);
}

/**
 * The answer to a block request. The protocol has no error reply for blocks: when there is no
 * reply, the reason says why, for the host's logs and the tests. A stale run needs none (the panel
 * drops replies for runs it no longer shows); a block past the end cannot come from a panel that
 * laid out this trace's blocks from its overview.
 */
export type BlockAnswer =
  | ({ kind: 'reply' } & ServedMessage<BlockDataMessage>)
  | { kind: 'stale-run'; runId: number }
  | { kind: 'no-such-block'; runId: number; blockIndex: number; blocks: number };

/**
 * The block a panel asked for: its probabilities [heads, queries, keys], its mask [queries, keys]
 * (null when nothing was masked) and its mean over heads [queries, keys] when the engine computed
 * it. Without one (a partial trace, shown while the run goes on) `mean` is null and the panel
 * averages: averaging a 1024² block of many heads here would stall the extension host.
 */
export function answerBlockRequest(traceOf: TraceOfRun, request: RequestBlockMessage, delivery: BlockDelivery): BlockAnswer {
  const trace = traceOf(request.runId);
  if (!trace) return { kind: 'stale-run', runId: request.runId };
  const block = trace.blocks[request.blockIndex];
  if (!block) return { kind: 'no-such-block', runId: request.runId, blockIndex: request.blockIndex, blocks: trace.blocks.length };
  return blockReply(block, request, delivery);
}

/**
 * answerBlockRequest for a host whose trace is read block by block (lazyTrace.ts): the VS Code
 * extension host, where a big run's blocks stay in a temporary trace file.
 */
export async function answerLazyBlockRequest(traceOf: (runId: number) => LazyTrace | undefined, request: RequestBlockMessage, delivery: BlockDelivery): Promise<BlockAnswer> {
  const trace = traceOf(request.runId);
  if (!trace) return { kind: 'stale-run', runId: request.runId };
  if (!trace.blocks[request.blockIndex]) return { kind: 'no-such-block', runId: request.runId, blockIndex: request.blockIndex, blocks: trace.blocks.length };
  return blockReply(await trace.readBlock(request.blockIndex), request, delivery);
}

function blockReply(block: AttentionBlock, request: RequestBlockMessage, delivery: BlockDelivery): BlockAnswer {
  const { requestId, runId, blockIndex } = request;
  if (delivery === 'in-page') {
    return {
      kind: 'reply',
      message: { type: 'blockData', requestId, runId, blockIndex, probs: block.probs, mask: block.mask, mean: block.meanProbs ?? null },
      transfer: [],
    };
  }
  // A posted view sends its whole backing buffer, and a decoded trace's arrays are views into one
  // buffer of every block: such a view is copied. An array alone in its buffer (a block read from a
  // trace file) goes as it is. Only the copies are this message's own to move.
  const copies: ArrayBuffer[] = [];
  const alone = <T extends Float32Array | Uint8Array>(values: T): T => {
    if (values.byteOffset === 0 && values.byteLength === values.buffer.byteLength) return values;
    const copy = values.slice() as T;
    copies.push(copy.buffer as ArrayBuffer);
    return copy;
  };
  const probs = alone(block.probs);
  const mask = block.mask ? alone(block.mask) : null;
  const mean = block.meanProbs ? alone(block.meanProbs) : null;
  return { kind: 'reply', message: { type: 'blockData', requestId, runId, blockIndex, probs, mask, mean }, transfer: copies };
}

/**
 * The trace without its attention arrays, for a panel to lay out (the blocks then come one at a
 * time, answerBlockRequest). It carries what the engine's analysis found, the colour limits of
 * every block among it (analysis.colorLimits), so the panel paints a block as soon as it arrives.
 */
export function traceLoadedMessage(runId: number, trace: AttentionTrace): ServedMessage<TraceLoadedMessage> {
  // The value-weighted attention is a block array like probs: it stays out of the overview too.
  const overview = traceOverview({ ...trace, blocks: trace.blocks.map(({ valueWeighted: _weighted, ...block }) => block) });
  // traceOverview copies the residual norms and the rollout: those copies are this message's own.
  const transfer = [
    ...overview.residual.map((step) => step.norms.buffer as ArrayBuffer),
    ...(overview.analysis?.rollout.map((rollout) => rollout.values.buffer as ArrayBuffer) ?? []),
  ];
  return { message: { type: 'traceLoaded', runId, trace: overview }, transfer };
}
