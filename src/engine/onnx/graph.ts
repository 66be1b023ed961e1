/**
 * @file GraphIndex, the engine's one entry for analysing an ONNX graph: who produces and who consumes
 * each value, a topological order, graph inputs, constants (initializers and Constant nodes), and
 * light inference of element types, ranks and constant shape vectors, which exporters rarely write
 * down (few graphs carry value_info). Read-only: editors build new node lists from it.
 *
 * Each job lives in its own module and GraphIndex hands its questions to them: graphStructure.ts
 * (the index itself), graphReach.ts (walks along edges), constantFolding.ts (constants and static
 * values), shapeInference.ts (types, ranks, shape vectors).
 *
 * Vocabulary: a "value" is a tensor name; "static" values are computed from constants alone;
 * "data" edges are those that carry tensor contents, as opposed to the shape plumbing exporters
 * emit around every Reshape (Shape → Gather → Unsqueeze → Concat), which must not count as a
 * dependence on the tokens when we ask where a mask or a stream comes from.
 */
import { type ConstantValue, ConstantFolder } from './constantFolding';
import * as reach from './graphReach';
import { GraphStructure } from './graphStructure';
import type { NodeProto } from './model';
import { ShapeInference } from './shapeInference';

/** The structural index (producers, consumers, order, inputs, value infos, constant tensors) with the analyses on it. */
export class GraphIndex extends GraphStructure {
  private readonly constants = new ConstantFolder(this);
  private readonly shapes = new ShapeInference(this, this.constants);

  // -------------------------------------------------------------------------------------------
  // Constants

  /** Dims and numbers of a constant (through Identity/Cast of constants), when readable. */
  constant(value: string): ConstantValue | undefined {
    return this.constants.constant(value);
  }

  /** The number in a one-element constant (a scale, an epsilon, a fill value). */
  scalarConstant(value: string): number | undefined {
    return this.constants.scalarConstant(value);
  }

  /** Computed from constants alone (no graph input, no shape of one). */
  isStatic(value: string): boolean {
    return this.constants.isStatic(value);
  }

  // -------------------------------------------------------------------------------------------
  // Walks

  /** Everything upstream of `value`: the nodes, graph inputs and constants reached. */
  upstream(value: string, options: reach.UpstreamOptions): reach.Upstream {
    return reach.upstream(this, value, options);
  }

  /** Graph inputs whose contents flow into `value` (shape-only uses excluded). */
  inputsRead(value: string): Set<string> {
    return reach.inputsRead(this, value);
  }

  /** True when `ancestor` (or an alias of it) is upstream of `value` along data edges. */
  dependsOn(value: string, ancestor: string): boolean {
    return reach.dependsOn(this, value, ancestor);
  }

  /** The nodes on some data path from `from` (or an alias) to `to`, in topological order. */
  nodesBetween(from: string, to: string): NodeProto[] {
    return reach.nodesBetween(this, from, to);
  }

  // -------------------------------------------------------------------------------------------
  // Types and shapes

  /** Element type of a value (ElemType), inferred through the common ops; undefined when unknown. */
  elemType(value: string): number | undefined {
    return this.shapes.elemType(value);
  }

  /** Rank of a value, inferred through the common ops; undefined when unknown. */
  rank(value: string): number | undefined {
    return this.shapes.rank(value);
  }

  /** The entries of a 1-D shape tensor: numbers where constant, null where computed at run time. */
  shapeVector(value: string): (number | null)[] | undefined {
    return this.shapes.shapeVector(value);
  }
}
