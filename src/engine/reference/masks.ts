/**
 * @file Attention masks: which keys each query may look at. 1 = allowed, 0 = blocked, [Q, K] row-major.
 *
 * The causal mask keeps a decoder from peeking at the future: query i sees keys 0..i only. The
 * padding mask hides filler tokens that only make sequences the same length.
 */
import type { MaskKind } from '../../shared/trace';

export interface AttentionMask {
  kind: MaskKind;
  /** [queries, keys]; null when every cell is allowed. */
  cells: Uint8Array | null;
  queries: number;
  keys: number;
  /** A sliding window's width, when the mask is one (a causal band). */
  window?: number;
}

export function noMask(queries: number, keys: number): AttentionMask {
  return { kind: 'none', cells: null, queries, keys };
}

/**
 * Query i may attend key j iff j <= i. With a sliding window of W (Mistral's, Longformer's), also
 * j > i − W: each query sees itself and the W − 1 keys before it, a band along the diagonal.
 */
export function causalMask(length: number, window?: number): AttentionMask {
  const cells = new Uint8Array(length * length);
  for (let query = 0; query < length; query++) {
    const first = window === undefined ? 0 : Math.max(0, query - window + 1);
    cells.fill(1, query * length + first, query * length + query + 1);
  }
  return { kind: 'causal', cells, queries: length, keys: length, ...(window !== undefined && window < length ? { window } : {}) };
}

/** Every query may attend every key that is not padding. Returns noMask when nothing is padded. */
export function paddingMask(queries: number, keyIsPadding: readonly boolean[]): AttentionMask {
  const keys = keyIsPadding.length;
  if (!keyIsPadding.some(Boolean)) return noMask(queries, keys);
  const cells = new Uint8Array(queries * keys);
  for (let query = 0; query < queries; query++) {
    for (let key = 0; key < keys; key++) {
      cells[query * keys + key] = keyIsPadding[key] ? 0 : 1;
    }
  }
  return { kind: 'padding', cells, queries, keys };
}

/** Cell-wise AND of two masks over the same grid. */
export function combineMasks(first: AttentionMask, second: AttentionMask): AttentionMask {
  if (first.queries !== second.queries || first.keys !== second.keys) {
    throw new Error(`combineMasks: grids differ (${first.queries}x${first.keys} vs ${second.queries}x${second.keys})`);
  }
  if (!first.cells) return second;
  if (!second.cells) return first;
  const cells = new Uint8Array(first.cells.length);
  for (let i = 0; i < cells.length; i++) cells[i] = first.cells[i] & second.cells[i];
  const kinds = new Set([first.kind, second.kind]);
  const kind: MaskKind = kinds.size === 1 ? first.kind : kinds.has('causal') && kinds.has('padding') ? 'causal+padding' : 'custom';
  return { kind, cells, queries: first.queries, keys: first.keys };
}
