/**
 * @file `--ablate` and `--ablate-mode`: which heads to switch off, written as the summary numbers
 * them (layer and head from 0), with a block prefix where a model has more than one kind of block.
 * Whether the model has the head is the engine's check (code invalid-ablate), once it is loaded.
 */
import type { AblationTarget } from '../engine';
import { ABLATION_MODES, type AblationMode, type BlockKind } from '../shared/trace';

/** The prefixes of an encoder-decoder's blocks, as short as the summary's labels allow. */
const PREFIXES: Readonly<Record<string, BlockKind>> = { enc: 'encoder-self', dec: 'decoder-self', cross: 'cross' };

export const ABLATE_SYNTAX = 'LAYER.HEAD (both from 0, as the summary numbers them; in an encoder-decoder enc.L.H, dec.L.H or cross.L.H)';

/** `--ablate` values into targets; a malformed one, or one given twice, is a usage error. */
export function parseAblateFlags(values: readonly string[], usage: (message: string) => Error): AblationTarget[] {
  const targets: AblationTarget[] = [];
  const seen = new Set<string>();
  for (const value of values) {
    const match = /^(?:(enc|dec|cross)\.)?(\d{1,6})\.(\d{1,6})$/.exec(value.trim());
    if (!match) throw usage(`--ablate expects ${ABLATE_SYNTAX}, got "${value}".`);
    const [, prefix, layer, head] = match;
    const target: AblationTarget = { ...(prefix ? { kind: PREFIXES[prefix] } : {}), layer: Number(layer), head: Number(head) };
    const key = `${prefix ?? ''}.${target.layer}.${target.head}`;
    if (seen.has(key)) throw usage(`--ablate gives head ${value} twice.`);
    seen.add(key);
    targets.push(target);
  }
  return targets;
}

/** `--ablate-mode`: zero (default) or mean; only with --ablate. */
export function parseAblateMode(value: string | undefined, ablating: boolean, usage: (message: string) => Error): AblationMode | undefined {
  if (value === undefined) return undefined;
  if (!(ABLATION_MODES as readonly string[]).includes(value)) throw usage(`--ablate-mode expects ${ABLATION_MODES.join(' or ')}, got "${value}".`);
  if (!ablating) throw usage('--ablate-mode says how --ablate replaces the heads\' outputs: use it with --ablate LAYER.HEAD.');
  return value as AblationMode;
}
