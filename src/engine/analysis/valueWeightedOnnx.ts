/**
 * @file Value-weighted attention of an ONNX run: each block's tapped V (onnx/valuePath.ts) through
 * its output projection, the norms times the tapped α (valueWeighted.ts). V as tapped already has
 * one slice per query head where the graph repeats its KV heads (grouped-query attention) before
 * α·V, or one slice broadcast to every head (multi-query); either way query head h reads slice
 * h (or 0) of the tensor the graph multiplied.
 */
import { notice, type AttentionBlock, type TraceNotice } from '../../shared/trace';
import { floatValues } from '../onnx/traceFromRun';
import type { HostTensor } from '../onnx/runtime';
import type { TapPlan } from '../onnx/tapPlan';
import { valueNorms, weightByValueNorms } from './valueWeighted';

/** The graph outputs carrying V, to ask the run for (only when value-weighted attention is asked). */
export function valueOutputNames(plan: TapPlan): string[] {
  return plan.attention.flatMap((tap) => (tap.value && 'output' in tap.value ? [tap.value.output] : []));
}

/**
 * Sets `valueWeighted` on every block whose value path was found and read; returns, for the others,
 * "block N (layer L kind): why", for the notice.
 */
export function addValueWeighted(plan: TapPlan, outputs: Record<string, HostTensor>, blocks: AttentionBlock[]): string[] {
  const missing: string[] = [];
  plan.attention.forEach((tap, index) => {
    const block = blocks[index];
    const why = block ? valueWeightedOf(tap.value, outputs, block) : 'not read';
    if (why !== null) missing.push(`block ${index} (layer ${tap.layer} ${tap.kind}): ${why}`);
  });
  return missing;
}

function valueWeightedOf(value: TapPlan['attention'][number]['value'], outputs: Record<string, HostTensor>, block: AttentionBlock): string | null {
  if (!value) return 'its value path was not looked for';
  if ('unavailable' in value) return value.unavailable;
  const tensor = outputs[value.output];
  if (!tensor) return 'the run did not return its values';
  // [B, H or 1, K, d_k] or, heads folded into the batch, [B·H, K, d_k]: batch 0 comes first either way.
  const dims = tensor.dims;
  const slices = dims.length === 4 ? dims[1] : dims.length === 3 ? dims[0] : -1;
  const keys = dims[dims.length - 2];
  const width = dims[dims.length - 1];
  if ((slices !== block.heads && slices !== 1) || keys !== block.keys) return `its values have shape [${dims.join(', ')}] for ${block.heads} heads and ${block.keys} keys`;
  if (value.projection.layout.inFeatures !== block.heads * width) return `its output projection reads ${value.projection.layout.inFeatures} features, not ${block.heads} heads × ${width}`;
  const projection = value.projection.read();
  if (!projection) return `its output projection ${value.projection.name} could not be read`;
  const norms = valueNorms(
    { data: floatValues(tensor), headStride: keys * width, keyStride: width },
    projection,
    { heads: block.heads, headWidth: width, keys, kvHeadOf: Array.from({ length: block.heads }, (_, head) => (slices === 1 ? 0 : head)) },
  );
  block.valueWeighted = weightByValueNorms(block.probs, norms, block.heads, block.queries, block.keys);
  return null;
}

/** The notice for blocks left without it (at most three named, then a count). */
export function valueWeightedNotice(missing: readonly string[], blocks: number): TraceNotice | null {
  if (missing.length === 0) return null;
  const named = missing.slice(0, 3).join('; ') + (missing.length > 3 ? `; and ${missing.length - 3} more` : '');
  return notice('value-weighted-unavailable', `Value-weighted attention is missing for ${missing.length} of ${blocks} blocks: ${named}.`);
}
