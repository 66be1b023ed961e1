/**
 * The panel's session (webview/session.ts) without a DOM: what each host message does to the state,
 * the messages the panel sends because of it, navigation over a real encoder-decoder trace, the
 * block cache's request rules and how a stale reply is dropped.
 */
import { strict as assert } from 'node:assert';
import { before, describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import type { AttentionTrace } from '../../src/shared/trace';
import { traceOverview, type FromWebviewMessage, type TraceOverview } from '../../src/shared/protocol';
import { PanelSession, type SessionEvent } from '../../webview/session';
import type { SavedView } from '../../webview/state';

interface Harness {
  session: PanelSession;
  posted: FromWebviewMessage[];
  events: SessionEvent[];
  saved: { view: SavedView | undefined };
  idle: Array<() => void>;
}

function harness(savedView?: SavedView): Harness {
  const posted: FromWebviewMessage[] = [];
  const events: SessionEvent[] = [];
  const saved = { view: savedView };
  const idle: Array<() => void> = [];
  const session = new PanelSession({
    post: (message) => posted.push(message),
    savedView: () => saved.view,
    saveView: (view) => { saved.view = view; },
    whenIdle: (work) => idle.push(work),
  }, 'Select text and run Explain Attention.');
  session.subscribe((event) => events.push(event));
  return { session, posted, events, saved, idle };
}

function ofType<T extends FromWebviewMessage['type']>(posted: FromWebviewMessage[], type: T): Array<Extract<FromWebviewMessage, { type: T }>> {
  return posted.filter((message): message is Extract<FromWebviewMessage, { type: T }> => message.type === type);
}

const engine = new ExplainEngine();
let decoderTrace: AttentionTrace;
let decoder: TraceOverview;
let encDec: TraceOverview;

before(async () => {
  decoderTrace = await engine.explain('The cat sat on the mat.', { model: 'builtin:tiny-decoder' });
  decoder = traceOverview(decoderTrace);
  encDec = traceOverview(await engine.explain('Hello world', { model: 'builtin:tiny-encdec' }));
});

describe('panel session', () => {
  test('start tells the views the empty status, then the host that the panel is ready', () => {
    const { session, posted, events } = harness();
    session.start();
    assert.deepEqual(events.map((event) => event.type), ['status']);
    assert.equal(session.status.state, 'empty');
    assert.deepEqual(posted, [{ type: 'ready' }]);
  });

  test('a run, its trace, then the first block is asked for once and the view reported once', () => {
    const { session, posted, events } = harness();
    session.receive({ type: 'runStarted', runId: 1, description: 'tiny-decoder' });
    assert.equal(session.status.state, 'running');
    assert.match(session.status.text, /tiny-decoder/);
    session.receive({ type: 'traceLoaded', runId: 1, trace: decoder });
    assert.equal(session.status.state, 'trace');
    assert.match(session.status.text, /^\d+ \w+ tokens?$/);
    const shown = session.shown;
    assert.ok(shown);
    assert.deepEqual(events.slice(-2).map((event) => event.type), ['traceLoaded', 'viewMoved']);
    const requests = ofType(posted, 'requestBlock');
    assert.equal(requests.length, 1);
    assert.equal(requests[0].blockIndex, shown.blockIndex);
    assert.equal(ofType(posted, 'viewChanged').length, 1);
    // Showing the same place again sends nothing new: the block is already asked for, the view unchanged.
    session.show({});
    assert.equal(ofType(posted, 'requestBlock').length, 1);
    assert.equal(ofType(posted, 'viewChanged').length, 1);
  });

  test('a block reply is stored and announced; its counts come when the page is idle; a stale run\'s reply is dropped', () => {
    const { session, events, idle } = harness();
    session.receive({ type: 'traceLoaded', runId: 7, trace: decoder });
    const shown = session.shown!;
    const block = decoderTrace.blocks[shown.blockIndex];
    session.receive({ type: 'blockData', requestId: 99, runId: 6, blockIndex: shown.blockIndex, probs: block.probs, mask: block.mask });
    assert.equal(events.filter((event) => event.type === 'blockArrived').length, 0, 'a reply for run 6 is not for run 7');
    session.receive({ type: 'blockData', requestId: 1, runId: 7, blockIndex: shown.blockIndex, probs: block.probs, mask: block.mask }, 12.5);
    const arrived = events.filter((event) => event.type === 'blockArrived');
    assert.equal(arrived.length, 1);
    assert.equal(arrived[0].type === 'blockArrived' && arrived[0].arrivedAt, 12.5);
    assert.equal(idle.length, 1, 'leak counting waits for idle time');
    idle[0]();
    assert.equal(events.filter((event) => event.type === 'countsReady').length, 1);
  });

  test('heads: a head past the block\'s count falls back to the mean; the host hears each change of view once', () => {
    const { session, posted } = harness();
    session.receive({ type: 'traceLoaded', runId: 1, trace: decoder });
    const heads = session.shown!.block!.heads;
    assert.equal(session.shown!.head, 'mean');
    session.show({ head: 1 });
    assert.equal(session.shown!.head, 1);
    session.show({ head: 1 });
    session.show({ head: heads + 5 });
    assert.equal(session.shown!.head, 'mean');
    assert.deepEqual(ofType(posted, 'viewChanged').map((message) => message.head), ['mean', 1, 'mean']);
  });

  test('navigation walks the steps of an encoder-decoder trace and stops at both ends', () => {
    const { session } = harness();
    session.receive({ type: 'traceLoaded', runId: 1, trace: encDec });
    const shown = session.shown!;
    const steps = shown.steps.length;
    assert.ok(steps > 2);
    session.show({ stepIndex: 0 });
    assert.equal(session.canNavigate('step', 'previous'), false);
    const visited = [shown.stepIndex];
    while (session.canNavigate('step', 'next')) {
      session.navigate('step', 'next');
      visited.push(shown.stepIndex);
    }
    assert.deepEqual(visited, Array.from({ length: steps }, (_, index) => index), 'each step once, in order');
    session.navigate('step', 'next');
    assert.equal(shown.stepIndex, steps - 1, 'nothing past the end');
    // Every block the steps show kept a consistent step/block pair.
    for (let index = 0; index < steps; index += 1) {
      session.show({ stepIndex: index });
      const blockIndex = shown.steps[index].blockIndex;
      if (blockIndex !== null) assert.equal(shown.blockIndex, blockIndex);
    }
  });

  test('moving from a self block to a cross block drops a key selection of another stream', () => {
    const { session } = harness();
    session.receive({ type: 'traceLoaded', runId: 1, trace: encDec });
    const shown = session.shown!;
    const self = encDec.blocks.findIndex((block) => block.kind === 'decoder-self');
    const cross = encDec.blocks.findIndex((block) => block.kind === 'cross');
    assert.ok(self >= 0 && cross >= 0);
    session.show({ blockIndex: self });
    session.receive({ type: 'selectQuery', runId: 1, stream: 'decoder', tokenIndex: 0 });
    assert.equal(shown.selectedQuery, 0);
    session.show({ blockIndex: cross });
    // The cross block's queries are still decoder tokens: the row stays; its keys are the encoder's.
    assert.equal(shown.selectedQuery, 0);
    session.receive({ type: 'selectQuery', runId: 1, stream: 'encoder', tokenIndex: 1 });
    assert.equal(shown.selectedKey, 1);
    session.show({ blockIndex: self });
    assert.equal(shown.selectedKey, null, 'an encoder column means nothing in decoder self-attention');
  });

  test('the view is saved and restored for a trace of the same shape', () => {
    const first = harness();
    first.session.receive({ type: 'traceLoaded', runId: 1, trace: decoder });
    first.session.show({ blockIndex: decoder.blocks.length - 1, head: 0 });
    first.session.selectRow(2);
    const saved = first.saved.view;
    assert.ok(saved);
    assert.equal(saved.blockIndex, decoder.blocks.length - 1);
    assert.equal(saved.selectedQuery, 2);
    const second = harness(saved);
    second.session.receive({ type: 'traceLoaded', runId: 2, trace: decoder });
    assert.equal(second.session.shown!.blockIndex, decoder.blocks.length - 1);
    assert.equal(second.session.shown!.head, 0);
    assert.equal(second.session.shown!.selectedQuery, 2);
    // Another shape opens on the default view instead.
    const third = harness(saved);
    third.session.receive({ type: 'traceLoaded', runId: 3, trace: encDec });
    assert.notEqual(third.session.shown!.shape, saved.shape);
  });

  test('a failed run keeps the last good trace under the error; a cancelled one keeps the previous result', () => {
    const { session } = harness();
    session.receive({ type: 'traceLoaded', runId: 1, trace: decoder });
    const shown = session.shown;
    session.receive({ type: 'runFailed', runId: 2, message: 'Stopped.', cancelled: true });
    assert.equal(session.status.state, 'trace');
    assert.equal(session.shown, shown);
    session.receive({ type: 'runStarted', runId: 3, description: 'model.onnx on 23 characters' });
    session.receive({ type: 'runFailed', runId: 3, message: 'The model failed.', hint: 'Check the file.', cancelled: false });
    assert.equal(session.status.state, 'error');
    assert.equal(session.status.text, 'The model failed. Check the file. The previous result is shown dimmed below.');
    // The same trace, still navigable: the user keeps what they were reading.
    assert.equal(session.shown, shown);
    session.navigate('layer', 'next');
    assert.equal(session.shown?.block?.layer, 1);
    // A failure with nothing on show says only what failed.
    const first = harness();
    first.session.receive({ type: 'runFailed', runId: 1, message: 'The model failed.', cancelled: false });
    assert.equal(first.session.status.text, 'The model failed.');
    assert.equal(first.session.shown, undefined);
    // The next trace replaces it and the status is the trace's again.
    session.receive({ type: 'traceLoaded', runId: 4, trace: encDec });
    assert.equal(session.status.state, 'trace');
    assert.notEqual(session.shown, shown);
  });

  test('hover rows reach the host only when they change; a configure with a new colour map asks to recolour', () => {
    const { session, posted, events } = harness();
    session.receive({ type: 'traceLoaded', runId: 1, trace: decoder });
    session.hoverQuery(3);
    session.hoverQuery(3);
    session.hoverQuery(null);
    assert.deepEqual(ofType(posted, 'hoverQuery').map((message) => message.query), [3, null]);
    session.receive({ type: 'configure', colorMap: 'magma', defaultView: 'mean' });
    const configured = events.filter((event) => event.type === 'configured');
    assert.equal(configured.length, 1);
    assert.equal(configured[0].type === 'configured' && configured[0].recolor, true);
    assert.equal(session.colorMap, 'magma');
  });
});
