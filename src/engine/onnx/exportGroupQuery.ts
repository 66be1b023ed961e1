/**
 * @file The built-in model's export with fused attention (`attention: 'fused'`): each decoder
 * self-attention becomes one com.microsoft GroupQueryAttention node, the way onnxruntime-genai's
 * model builder writes Llama, Qwen and Mistral: the Q, K and V projections as MatMuls (plus their
 * biases), then
 *
 *   GroupQueryAttention(q, k, v, past_key = ∅, past_value = ∅, seqlens_k, total_sequence_length,
 *                       cos_cache, sin_cache)   num_heads, kv_num_heads, scale = 1/√d_k,
 *                                               do_rotary, rotary_interleaved = 0, local_window_size
 *
 * and the output projection. The kernel repeats the KV heads itself, applies the causal mask, and
 * with do_rotary = 1 rotates Q and K by the cos/sin caches ([positions, d_k/2], the half-split
 * convention of reference/rope.ts; the same initializers as the plain export's rotary tables).
 * seqlens_k (T − 1, int32 [1]) and total_sequence_length (T, int32 scalar) come from the decoder's
 * ids in the graph, as the genai builder derives them from attention_mask (ReduceSum − 1; Shape[1]):
 * the file keeps the plain export's inputs. A sliding window of W keys (the query's own and the
 * W − 1 before it, reference/masks.ts) is local_window_size = W, as the genai builder writes a
 * config's sliding_window; onnxruntime-web's kernel agrees (W − 1 drops a key, tested).
 * Encoder self-attention and cross-attention (GroupQueryAttention is causal only) stay plain.
 */
import type { onnx } from 'onnx-proto';
import { hasBias, kvHeadsOf, type TransformerConfig } from '../reference/config';
import { ElementType, type GraphBuilder } from './builder';
import { pruneToOutputs } from './prune';

/**
 * How a built-in model's ONNX export writes attention: 'plain' operators (MatMul, Softmax; the
 * default), or 'fused', each decoder self-attention as one GroupQueryAttention node (this module).
 */
export type ExportAttention = 'plain' | 'fused';

/** The contrib domain of onnxruntime's fused kernels, and the version its opset import names. */
export const CONTRIB_DOMAIN = 'com.microsoft';

/** What the writer needs of the exporter: its graph, its projections, constants and rotary tables. */
export interface GroupQueryHost {
  readonly g: GraphBuilder;
  linear(x: string, name: string, outFeatures: number, inFeatures: number, bias?: boolean): string;
  ints(name: string, values: number[]): string;
  rotaryTables(): { cos: string; sin: string };
}

export class GroupQueryWriter {
  private lengths: { seqlens: string; total: string } | null = null;

  constructor(private readonly host: GroupQueryHost, private readonly config: TransformerConfig) {}

  /** The decoder stream's ids: the exporter's input names (exportBuiltin.ts build()). */
  private get decoderIds(): string {
    return this.config.encoderLayers > 0 ? 'decoder_input_ids' : 'input_ids';
  }

  /** seqlens_k [1] int32 = T − 1 and total_sequence_length int32 scalar = T, made once from the ids [1, T]. */
  private sequenceLengths(): { seqlens: string; total: string } {
    if (!this.lengths) {
      const { g } = this.host;
      const shape = g.op('Shape', [this.decoderIds], 'gqa.ids_shape');
      const length = g.op('Gather', [shape, g.int64Tensor('gqa.sequence_axis', [], [1])], 'gqa.length', { axis: 0 }); // scalar int64
      const total = g.op('Cast', [length], 'gqa.total_sequence_length', { to: ElementType.INT32 });
      const last = g.op('Sub', [total, g.op('Cast', [g.int64Tensor('gqa.one', [], [1])], 'gqa.one_int32', { to: ElementType.INT32 })], 'gqa.last_position');
      const seqlens = g.op('Unsqueeze', [last, this.host.ints('axis0', [0])], 'gqa.seqlens_k'); // [batch = 1]
      this.lengths = { seqlens, total };
    }
    return this.lengths;
  }

  /** One decoder self-attention: Q/K/V projections, GroupQueryAttention, output projection. */
  attention(input: string, name: string): string {
    const { config, host } = this;
    const d = config.dModel;
    const heads = config.heads;
    const kvHeads = kvHeadsOf(config);
    const headWidth = d / heads;
    const scale = 1 / Math.sqrt(headWidth);
    const q = host.linear(input, `${name}.query`, d, d, hasBias(config, 'query'));
    const k = host.linear(input, `${name}.key`, kvHeads * headWidth, d, hasBias(config, 'key'));
    const v = host.linear(input, `${name}.value`, kvHeads * headWidth, d, hasBias(config, 'value'));
    const { seqlens, total } = this.sequenceLengths();
    const rotary = config.positions === 'rope';
    const inputs = [q, k, v, '', '', seqlens, total];
    if (rotary) {
      const { cos, sin } = host.rotaryTables();
      inputs.push(cos, sin);
    }
    const [context] = host.g.node('GroupQueryAttention', inputs, [`${name}.context`, `${name}.present_key`, `${name}.present_value`], {
      num_heads: heads,
      kv_num_heads: kvHeads,
      // The kernel's default too; left out where it is a whole number (d_k = 1), which would be written as an int.
      ...(Number.isInteger(scale) ? {} : { scale }),
      do_rotary: rotary ? 1 : 0,
      rotary_interleaved: 0,
      local_window_size: config.slidingWindow === undefined ? -1 : config.slidingWindow,
    }, CONTRIB_DOMAIN);
    return host.linear(context, `${name}.output`, d, d, hasBias(config, 'output'));
  }
}

/**
 * The fused model as written: without the plain path's causal bias and position ids, which no node
 * reads any more, and with the com.microsoft opset import its contrib nodes need.
 */
export function finishFused(model: onnx.ModelProto): onnx.ModelProto {
  const pruned = pruneToOutputs(model, (model.graph?.output ?? []).map((output) => output.name ?? ''));
  pruned.opsetImport = [...model.opsetImport, { domain: CONTRIB_DOMAIN, version: 1 }];
  return pruned;
}
