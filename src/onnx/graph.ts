/**
 * An ONNX graph's dataflow, for cutting it into sequential pieces: the nodes in a topological order, which
 * node makes each value, and the last node that reads it. A node's reads include the outer-scope values its
 * subgraphs (If, Loop, Scan bodies) use, so a cut never separates a body from what it reads.
 */
import type { GraphMessage, NodeMessage } from './onnx-proto.js';

export interface GraphFlow {
  nodes: NodeMessage[];
  /** Values each node reads (its inputs and its subgraphs' outer-scope values), by node index. */
  reads: string[][];
  /** Node index that makes each value (graph inputs and initializers have none). */
  producer: Map<string, number>;
  /** Index of the last node that reads each value; graph outputs are read "after the end" (nodes.length). */
  lastRead: Map<string, number>;
  initializers: Set<string>;
  /** Graph inputs the caller feeds (initializers that are also listed as inputs excluded). */
  inputs: string[];
  outputs: string[];
}

/** Values a subgraph reads from the scope around it: read inside, made nowhere inside. */
function outerReads(graph: GraphMessage): string[] {
  const made = new Set<string>([
    ...graph.input.map((v) => v.name),
    ...graph.initializer.map((t) => t.name ?? ''),
    ...graph.node.flatMap((n) => n.output),
  ]);
  const reads = graph.node.flatMap((node) => nodeReads(node)).concat(graph.output.map((v) => v.name));
  return [...new Set(reads.filter((name) => name !== '' && !made.has(name)))];
}

function nodeReads(node: NodeMessage): string[] {
  const subgraphs = (node.attribute ?? []).flatMap((a) => (a.g ? [a.g] : []));
  return [...node.input.filter((name) => name !== ''), ...subgraphs.flatMap(outerReads)];
}

/** Kahn's order, stable: nodes already in order (as ONNX asks writers to keep them) stay as they are. */
function topological(graph: GraphMessage, available: Set<string>): NodeMessage[] | null {
  const seen = new Set(available);
  const ordered = graph.node.every((node) => {
    const ok = nodeReads(node).every((name) => seen.has(name));
    for (const name of node.output) seen.add(name);
    return ok;
  });
  if (ordered) return graph.node;
  const pending = graph.node.map((node) => ({ node, reads: nodeReads(node) }));
  const done: NodeMessage[] = [];
  const ready = new Set(available);
  while (pending.length > 0) {
    const index = pending.findIndex((entry) => entry.reads.every((name) => ready.has(name)));
    if (index < 0) return null;
    const [entry] = pending.splice(index, 1);
    done.push(entry.node);
    for (const name of entry.node.output) if (name !== '') ready.add(name);
  }
  return done;
}

/** The graph's flow, or null when its nodes cannot be ordered (a read of a value nothing makes). */
export function graphFlow(graph: GraphMessage): GraphFlow | null {
  const initializers = new Set(graph.initializer.map((t) => t.name ?? ''));
  const inputs = graph.input.map((v) => v.name).filter((name) => !initializers.has(name));
  const nodes = topological(graph, new Set([...inputs, ...initializers]));
  if (nodes === null) return null;
  const reads = nodes.map(nodeReads);
  const producer = new Map<string, number>();
  const lastRead = new Map<string, number>();
  nodes.forEach((node, i) => {
    for (const name of node.output) if (name !== '') producer.set(name, i);
    for (const name of reads[i]) lastRead.set(name, i);
  });
  const outputs = graph.output.map((v) => v.name);
  for (const name of outputs) lastRead.set(name, nodes.length);
  return { nodes, reads, producer, lastRead, initializers, inputs, outputs };
}

/** Values made before node `at` and read at or after it: what a cut before `at` must carry across. */
export function crossing(flow: GraphFlow, at: number): string[] {
  const out: string[] = [];
  for (const [name, made] of flow.producer) {
    if (made < at && (flow.lastRead.get(name) ?? -1) >= at) out.push(name);
  }
  return out;
}
