/**
 * @file Seeded random numbers for the built-in weights.
 *
 * Every tensor draws from its own generator, seeded from (model seed, tensor name), so a weight's
 * values do not depend on the order tensors are created in, and changing one preset's shape leaves
 * the other tensors' values alone.
 */

/** FNV-1a over the UTF-16 units of `text`, mixed with `seed`: a stable 32-bit stream id. */
export function hashSeed(seed: number, text: string): number {
  let hash = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** mulberry32: small, fast, and good enough for weight initialisation (not for cryptography). */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Standard normal by Box-Muller (one value per call; the partner is dropped for simplicity). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log(0) never happens
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}
