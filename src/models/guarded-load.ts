/**
 * TF.js's loaders allocate before they can fail: `loadLayersModel` builds every layer's variables and
 * decodes every weight before `loadWeights` notices a missing or misshapen one, then throws with all of it
 * still allocated. These wrappers make a failed load leave nothing behind.
 */
import * as tf from '../device/tfjs.js';
import { Errors } from '../protocol/errors.js';

/**
 * Layers models: an engine scope catches the decoded weights and fast-init zeros (plain tensors), and a
 * diff of the variable registry catches the layer variables (engine scopes never track variables).
 * The scope opens inside `load()`, after which TF.js runs synchronously up to the point it returns or
 * throws, so only a microtask or two of other work on this thread could land in it: load a model before
 * serving from the same thread, as a session worker does.
 */
export async function loadLayersGuarded(artifacts: tf.io.ModelArtifacts): Promise<tf.LayersModel> {
  const engine = tf.engine();
  let before: Set<string> | undefined;
  const handler: tf.io.IOHandler = {
    load: async () => {
      before = new Set(Object.keys(engine.registeredVariables));
      engine.startScope();
      return artifacts;
    },
  };
  try {
    return await tf.loadLayersModel(handler, { strict: true });
  } catch (error) {
    for (const [name, variable] of Object.entries(engine.registeredVariables)) {
      if (before !== undefined && !before.has(name)) variable.dispose();
    }
    throw error;
  } finally {
    if (before !== undefined) engine.endScope();
  }
}

type GraphNode = { name?: unknown; op?: unknown; input?: unknown };

/**
 * Graph models keep their weights as plain tensors, so a scope would take them too; instead the checks
 * that would make `loadGraphModel` throw after decoding (or `execute` fail much later) run first.
 */
export function checkGraphTopology(artifacts: tf.io.ModelArtifacts, source: string): void {
  const nodes = (artifacts.modelTopology as { node: GraphNode[] }).node;
  const names = new Set<string>();
  for (const node of nodes) {
    if (typeof node?.name !== 'string' || typeof node.op !== 'string') {
      throw Errors.modelLoadFailed(source, `graph node ${JSON.stringify(node).slice(0, 80)} lacks a name or op`);
    }
    names.add(node.name);
  }
  const weights = new Set((artifacts.weightSpecs ?? []).map((w) => w.name));
  for (const node of nodes) {
    const inputs = node.input ?? [];
    if (!Array.isArray(inputs) || !inputs.every((i) => typeof i === 'string')) {
      throw Errors.modelLoadFailed(source, `graph node ${JSON.stringify(node.name)} has malformed inputs`);
    }
    for (const input of inputs as string[]) {
      const from = input.replace(/^\^/, '').split(':')[0];
      if (!names.has(from)) {
        throw Errors.modelLoadFailed(
          source,
          `graph node ${JSON.stringify(node.name)} reads ${JSON.stringify(input)}, which no node defines`,
        );
      }
    }
    if (node.op === 'Const' && !weights.has(node.name as string)) {
      throw Errors.modelLoadFailed(
        source,
        `constant ${JSON.stringify(node.name)} has no entry in the weights manifest`,
      );
    }
  }
}
