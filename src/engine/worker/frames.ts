/**
 * @file Messages from the engine process to its host over a pipe of their own, as length-prefixed
 * frames of `v8.serialize`d values (typed arrays travel as bytes, as over IPC).
 *
 * Why not Node's IPC channel: with `serialization: 'advanced'`, Node 20 (VS Code's extension host)
 * joins each arriving chunk onto all the bytes of the message so far (`Buffer.concat` per 64 KB
 * read), so a message of n bytes costs O(n²) copying on the receiver's thread: a 50 MB block held
 * the host for 5 s (bench/scale.ts), a 500 MB exported model would hold it for minutes. Here each
 * chunk is copied once, into a buffer of the frame's size allocated when its length is known.
 */
import { deserialize, serialize } from 'node:v8';

/** Bytes before each frame's payload: its length, as a little-endian 64-bit float (exact to 2^53). */
const LENGTH_BYTES = 8;

/** One message as a frame: its length, then its serialized bytes. */
export function encodeFrame(message: unknown): Buffer[] {
  const payload = serialize(message);
  const length = Buffer.alloc(LENGTH_BYTES);
  length.writeDoubleLE(payload.byteLength, 0);
  return [length, payload];
}

/** Cuts a byte stream back into the messages it carries, whatever the chunks' boundaries. */
export class FrameReader {
  private readonly lengthBytes = Buffer.alloc(LENGTH_BYTES);
  private lengthFilled = 0;
  private payload: Buffer | null = null;
  private payloadFilled = 0;

  constructor(private readonly onMessage: (message: unknown) => void) {}

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.payload === null) {
        const take = Math.min(LENGTH_BYTES - this.lengthFilled, chunk.byteLength - at);
        this.lengthBytes.set(chunk.subarray(at, at + take), this.lengthFilled);
        this.lengthFilled += take;
        at += take;
        if (this.lengthFilled < LENGTH_BYTES) return;
        const length = this.lengthBytes.readDoubleLE(0);
        if (!Number.isSafeInteger(length) || length < 1) throw new Error(`engine message frame of impossible length ${length}`);
        this.payload = Buffer.allocUnsafe(length);
        this.payloadFilled = 0;
        this.lengthFilled = 0;
      }
      const take = Math.min(this.payload.byteLength - this.payloadFilled, chunk.byteLength - at);
      this.payload.set(chunk.subarray(at, at + take), this.payloadFilled);
      this.payloadFilled += take;
      at += take;
      if (this.payloadFilled === this.payload.byteLength) {
        const complete = this.payload;
        this.payload = null;
        this.onMessage(deserialize(complete));
      }
    }
  }

  /** True while a frame is partly read (the stream ended inside a message). */
  get midFrame(): boolean {
    return this.payload !== null || this.lengthFilled > 0;
  }
}
