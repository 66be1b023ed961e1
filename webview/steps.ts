/**
 * @file The step-through order of a trace, built from its blocks and residual steps: for each
 * stream, its embedding, then per layer every attention block followed by its Add & Norm, then the
 * feed-forward network and its Add & Norm. Also the layer groups the pickers list, and moving by a
 * step or by a layer. Pure.
 */
import type { ResidualStage, StreamName } from '../src/shared/trace';
import type { BlockOverview, TraceOverview } from '../src/shared/protocol';

export type StepKind = 'embedding' | 'attention' | 'feed-forward' | 'add-norm';

export interface Step {
  kind: StepKind;
  stream: StreamName;
  /** null for the embedding. */
  layer: number | null;
  /** The sub-layer the step belongs to (an Add & Norm belongs to the sub-layer before it). */
  stage: ResidualStage;
  /** The block the heatmap shows at this step (an attention step's own block; else the nearest). */
  blockIndex: number | null;
  /** Index into trace.residual of the residual stream's state at this step (null: none recorded). */
  residualIndex: number | null;
  /** The state before it, drawn faintly so growth is visible. */
  previousResidualIndex: number | null;
  /** "Decoder layer 1 · cross-attention · Add & Norm" */
  label: string;
}

/** A (stream, layer) pair as the layer picker lists it. */
export interface LayerGroup {
  key: string;
  stream: StreamName;
  layer: number;
  /** "Encoder L0" for encoder-decoder models, "Layer 0" otherwise. */
  label: string;
  /** Indices into trace.blocks, self-attention before cross-attention. */
  blockIndices: number[];
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function blockStage(block: Pick<BlockOverview, 'kind'>): ResidualStage {
  return block.kind === 'cross' ? 'cross-attention' : 'self-attention';
}

/** "Self-attention", "Masked self-attention", "Cross-attention (decoder → encoder)". */
export function blockTitle(block: Pick<BlockOverview, 'kind' | 'queryStream' | 'keyStream' | 'maskKind'>): string {
  switch (block.kind) {
    case 'cross':
      return `Cross-attention (${block.queryStream} → ${block.keyStream})`;
    case 'decoder-self':
      return block.maskKind.includes('causal') ? 'Masked self-attention' : 'Decoder self-attention';
    case 'encoder-self':
      return 'Encoder self-attention';
    case 'self':
      return 'Self-attention';
    default: {
      const unreachable: never = block.kind;
      return String(unreachable);
    }
  }
}

/** "Self", "Masked self", "Cross": a block picker's option, short enough for the side bar (blockTitle is its tooltip). */
export function blockShortTitle(block: Pick<BlockOverview, 'kind' | 'maskKind'>): string {
  if (block.kind === 'cross') return 'Cross';
  if (block.kind === 'decoder-self' && block.maskKind.includes('causal')) return 'Masked self';
  return 'Self';
}

/** Streams in the order the trace computes them (the encoder first). */
function streamOrder(trace: TraceOverview): StreamName[] {
  const names: StreamName[] = [];
  const add = (name: StreamName): void => {
    if (!names.includes(name)) names.push(name);
  };
  for (const block of trace.blocks) add(block.queryStream);
  for (const step of trace.residual) add(step.stream);
  const rank = (name: StreamName): number => (name === 'encoder' ? 0 : 1);
  return names.sort((a, b) => rank(a) - rank(b));
}

function layerName(stream: StreamName, layer: number): string {
  return `${capitalize(stream)} layer ${layer}`;
}

/** Layer groups in step order; blocks within a group: self-attention first, then cross. */
export function layerGroups(trace: TraceOverview): LayerGroup[] {
  const groups: LayerGroup[] = [];
  const encDec = trace.model.kind === 'encoder-decoder' || new Set(trace.blocks.map((b) => b.queryStream)).size > 1;
  for (const stream of streamOrder(trace)) {
    const layers = new Set<number>();
    trace.blocks.forEach((block) => { if (block.queryStream === stream) layers.add(block.layer); });
    for (const layer of [...layers].sort((a, b) => a - b)) {
      const blockIndices = trace.blocks
        .map((block, index) => ({ block, index }))
        .filter(({ block }) => block.queryStream === stream && block.layer === layer)
        .sort((a, b) => Number(a.block.kind === 'cross') - Number(b.block.kind === 'cross'))
        .map(({ index }) => index);
      groups.push({ key: `${stream}:${layer}`, stream, layer, label: encDec ? `${capitalize(stream)} L${layer}` : `Layer ${layer}`, blockIndices });
    }
  }
  return groups;
}

/** The whole step-through order of a trace. */
export function buildSteps(trace: TraceOverview): Step[] {
  const steps: Step[] = [];
  const groups = layerGroups(trace);
  for (const stream of streamOrder(trace)) {
    let current: number | null = null;
    let previous: number | null = null;
    const advance = (residualIndex: number): void => {
      previous = current;
      current = residualIndex;
    };
    const streamGroups = groups.filter((group) => group.stream === stream);
    const residualOf = (layer: number | null) => trace.residual
      .map((step, index) => ({ step, index }))
      .filter(({ step }) => step.stream === stream && step.layer === layer);

    for (const { index } of residualOf(null)) {
      advance(index);
      steps.push({
        kind: 'embedding', stream, layer: null, stage: 'embedding', blockIndex: streamGroups[0]?.blockIndices[0] ?? null,
        residualIndex: current, previousResidualIndex: previous, label: `${capitalize(stream)} · embedding + positions`,
      });
    }
    const layers = new Set<number>(streamGroups.map((group) => group.layer));
    for (const step of trace.residual) {
      if (step.stream === stream && step.layer !== null) layers.add(step.layer);
    }
    for (const layer of [...layers].sort((a, b) => a - b)) {
      const blockIndices = streamGroups.find((group) => group.layer === layer)?.blockIndices ?? [];
      const residual = residualOf(layer);
      const used = new Set<number>();
      let lastBlock: number | null = blockIndices[0] ?? null;
      const name = layerName(stream, layer);
      for (const blockIndex of blockIndices) {
        const stage = blockStage(trace.blocks[blockIndex]);
        lastBlock = blockIndex;
        steps.push({ kind: 'attention', stream, layer, stage, blockIndex, residualIndex: current, previousResidualIndex: previous, label: `${name} · ${stage}` });
        const after = residual.find(({ step, index }) => step.stage === stage && !used.has(index));
        if (after) {
          used.add(after.index);
          advance(after.index);
          steps.push({ kind: 'add-norm', stream, layer, stage, blockIndex, residualIndex: current, previousResidualIndex: previous, label: `${name} · ${stage} · Add & Norm` });
        }
      }
      for (const { step, index } of residual) {
        if (used.has(index)) continue;
        used.add(index);
        if (step.stage === 'feed-forward') {
          steps.push({ kind: 'feed-forward', stream, layer, stage: 'feed-forward', blockIndex: lastBlock, residualIndex: current, previousResidualIndex: previous, label: `${name} · feed-forward` });
        }
        advance(index);
        steps.push({ kind: 'add-norm', stream, layer, stage: step.stage, blockIndex: lastBlock, residualIndex: current, previousResidualIndex: previous, label: `${name} · ${step.stage} · Add & Norm` });
      }
    }
  }
  // Blocks of a stream no residual step or group reached (never for our traces): still reachable.
  trace.blocks.forEach((block, blockIndex) => {
    if (!steps.some((step) => step.kind === 'attention' && step.blockIndex === blockIndex)) {
      const stage = blockStage(block);
      steps.push({ kind: 'attention', stream: block.queryStream, layer: block.layer, stage, blockIndex, residualIndex: null, previousResidualIndex: null, label: `${layerName(block.queryStream, block.layer)} · ${stage}` });
    }
  });
  return steps;
}

/** The attention step that shows a block (pickers jump there). */
export function stepOfBlock(steps: readonly Step[], blockIndex: number): number {
  const index = steps.findIndex((step) => step.kind === 'attention' && step.blockIndex === blockIndex);
  return index;
}

function groupKey(step: Step): string {
  return `${step.stream}:${step.layer ?? 'embedding'}`;
}

/** One step forward or back, clamped to the ends. */
export function moveStep(steps: readonly Step[], current: number, direction: 'next' | 'previous'): number {
  if (steps.length === 0) return 0;
  return Math.min(steps.length - 1, Math.max(0, current + (direction === 'next' ? 1 : -1)));
}

/**
 * One layer forward or back, at the same position within the layer where the target has it (so
 * "cross-attention · Add & Norm" of decoder layer 0 goes to the same sub-step of layer 1).
 * Embeddings are passed over unless they are the only thing in that direction.
 */
export function moveLayer(steps: readonly Step[], current: number, direction: 'next' | 'previous'): number {
  if (steps.length === 0) return 0;
  // Runs of equal (stream, layer): [start, end).
  const runs: Array<{ start: number; end: number; embedding: boolean }> = [];
  steps.forEach((step, index) => {
    const last = runs[runs.length - 1];
    if (last && groupKey(steps[last.start]) === groupKey(step)) last.end = index + 1;
    else runs.push({ start: index, end: index + 1, embedding: step.layer === null });
  });
  const here = runs.findIndex((run) => current >= run.start && current < run.end);
  if (here < 0) return current;
  const offset = runs[here].embedding ? 0 : current - runs[here].start;
  const delta = direction === 'next' ? 1 : -1;
  let target = -1;
  for (let r = here + delta; r >= 0 && r < runs.length; r += delta) {
    if (!runs[r].embedding) {
      target = r;
      break;
    }
  }
  if (target < 0) {
    // Nothing but embeddings that way: the nearest one, if any.
    const next = here + delta;
    if (next < 0 || next >= runs.length) return current;
    target = next;
  }
  const run = runs[target];
  return Math.min(run.end - 1, run.start + offset);
}
