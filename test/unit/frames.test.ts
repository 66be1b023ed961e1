import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame, FrameReader } from '../../src/engine/worker/frames';

function bytesOf(messages: unknown[]): Buffer {
  return Buffer.concat(messages.flatMap((message) => encodeFrame(message)));
}

const MESSAGES = [
  { type: 'ready', pid: 42 },
  { type: 'result', requestId: 7, trace: new Uint8Array(Array.from({ length: 1000 }, (_, i) => (i * 31) % 256)) },
  { type: 'progress', requestId: 7, stage: 'Running — ünïcode' },
  { type: 'exported', requestId: 8, model: new Uint8Array(3), externalData: null },
];

test('frames come back as the messages sent, in order, whatever the chunk boundaries', () => {
  const stream = bytesOf(MESSAGES);
  for (const size of [1, 2, 7, 8, 9, 64, 1013, stream.length]) {
    const received: unknown[] = [];
    const reader = new FrameReader((message) => received.push(message));
    for (let at = 0; at < stream.length; at += size) reader.push(stream.subarray(at, at + size));
    assert.deepEqual(received, MESSAGES, `chunks of ${size} bytes`);
    assert.equal(reader.midFrame, false);
  }
});

test('a stream cut inside a frame delivers the whole frames and says it is mid-frame', () => {
  const stream = bytesOf(MESSAGES.slice(0, 2));
  const received: unknown[] = [];
  const reader = new FrameReader((message) => received.push(message));
  reader.push(stream.subarray(0, stream.length - 5));
  assert.deepEqual(received, MESSAGES.slice(0, 1));
  assert.equal(reader.midFrame, true);
});

test('a big payload (32 MB) in 64 KB chunks arrives whole', () => {
  const big = new Uint8Array(32 * 2 ** 20);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251;
  const stream = bytesOf([{ type: 'partial', requestId: 1, trace: big }]);
  const received: Array<{ trace: Uint8Array }> = [];
  const reader = new FrameReader((message) => received.push(message as { trace: Uint8Array }));
  for (let at = 0; at < stream.length; at += 65536) reader.push(stream.subarray(at, at + 65536));
  assert.equal(received.length, 1);
  assert.deepEqual(received[0].trace, big);
});

test('an impossible frame length is refused, not allocated', () => {
  const reader = new FrameReader(() => assert.fail('no message'));
  const length = Buffer.alloc(8);
  length.writeDoubleLE(-3, 0);
  assert.throws(() => reader.push(length), /impossible length/);
});
