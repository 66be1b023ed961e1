/**
 * @file Entropy, in bits everywhere (the CLI, the panel, the JSON, the diagnostics): 0 for a row
 * on one key, log2 K for a uniform row over K keys.
 */

/** Shannon entropy of a row of probabilities, in bits; 0·log 0 counts as 0. */
export function entropyBits(row: ArrayLike<number>): number {
  let entropy = 0;
  for (let i = 0; i < row.length; i++) {
    const p = row[i];
    if (p > 0) entropy -= p * Math.log2(p);
  }
  return entropy;
}

/** The entropy of a uniform choice among `keys` keys, in bits. */
export function uniformEntropyBits(keys: number): number {
  return Math.log2(Math.max(1, keys));
}
