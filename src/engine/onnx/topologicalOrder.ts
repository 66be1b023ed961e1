/**
 * @file The topological order GraphIndex walks in: Kahn's algorithm with a min-heap of file positions.
 */
import type { NodeProto } from './model';

/**
 * Kahn's algorithm, always taking the ready node that comes first in the file, so a file that is
 * already sorted keeps its order (and its layer order). Nodes left over (cycles, or values only a
 * subgraph defines) are appended in file order.
 */
export function topologicalOrder(nodes: readonly NodeProto[], producers: ReadonlyMap<string, { node: NodeProto }>): NodeProto[] {
  const indexOf = new Map<NodeProto, number>();
  nodes.forEach((node, index) => indexOf.set(node, index));
  const waiting = new Map<NodeProto, number>();
  const dependents = new Map<NodeProto, NodeProto[]>();
  for (const node of nodes) {
    const parents = new Set<NodeProto>();
    for (const input of node.input ?? []) {
      const producer = input ? producers.get(input)?.node : undefined;
      if (producer && producer !== node) {
        parents.add(producer);
      }
    }
    waiting.set(node, parents.size);
    for (const parent of parents) {
      const list = dependents.get(parent) ?? [];
      list.push(node);
      dependents.set(parent, list);
    }
  }
  const heap = new MinHeap();
  for (const node of nodes) {
    if (waiting.get(node) === 0) {
      heap.push(indexOf.get(node) as number);
    }
  }
  const order: NodeProto[] = [];
  const placed = new Set<NodeProto>();
  while (heap.size > 0) {
    const node = nodes[heap.pop()] as NodeProto;
    order.push(node);
    placed.add(node);
    for (const child of dependents.get(node) ?? []) {
      const left = (waiting.get(child) ?? 0) - 1;
      waiting.set(child, left);
      if (left === 0) {
        heap.push(indexOf.get(child) as number);
      }
    }
  }
  for (const node of nodes) {
    if (!placed.has(node)) {
      order.push(node);
    }
  }
  return order;
}

/** A min-heap of node positions in the file: the ready node that comes first is taken first. */
class MinHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(value: number): void {
    const items = this.items;
    items.push(value);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((items[parent] as number) <= value) {
        break;
      }
      items[index] = items[parent] as number;
      index = parent;
    }
    items[index] = value;
  }
  pop(): number {
    const items = this.items;
    const top = items[0] as number;
    const last = items.pop() as number;
    if (items.length > 0) {
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        if (left >= items.length) {
          break;
        }
        const right = left + 1;
        const child = right < items.length && (items[right] as number) < (items[left] as number) ? right : left;
        if ((items[child] as number) >= last) {
          break;
        }
        items[index] = items[child] as number;
        index = child;
      }
      items[index] = last;
    }
    return top;
  }
}
