/**
 * @file Float32 ↔ IEEE half for whole arrays, fast enough for a trace's attention (37 M values at
 * gpt2-shape on 512 tokens): encoding works on the float's bits without allocating per value, and
 * decoding looks each of the 65,536 halves up in a table built once. Same results as half.ts's
 * per-value functions (round to nearest even, overflow to ±inf, NaN kept).
 */
import { halfToFloat } from '../half';

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The half nearest to a float32, given as its bits. */
function halfBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A subnormal half (or zero): the value in units of 2^-24, rounded to nearest even.
    if (e < -10) return sign;
    const full = mantissa | 0x800000; // 24 significant bits
    const shift = 14 - e; // from units of 2^(exponent-150) to units of 2^-24
    const kept = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    const rounded = rest > halfway || (rest === halfway && (kept & 1) === 1) ? kept + 1 : kept;
    return sign | rounded;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1)) half += 1; // may carry into inf: right
  return sign | half;
}

/** The halves of `values`, little-endian bytes. */
export function encodeHalf(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    scratch[0] = values[i];
    const half = halfBits(scratchBits[0]);
    out[2 * i] = half & 0xff;
    out[2 * i + 1] = half >>> 8;
  }
  return out;
}

let table: Float32Array | null = null;

/** Little-endian halves back to float32. */
export function decodeHalf(bytes: Uint8Array): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) table[bits] = halfToFloat(bits);
  }
  const count = bytes.byteLength >>> 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}
