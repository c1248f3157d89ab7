/**
 * Runs a layers model one layer at a time with an await point between layers, so a session can wait for the
 * GPU in the middle of an inference (webgpu `strict` mode: the token goes on only once the GPU has finished
 * the holder's work, which is a promise). `predictOnBatch` runs every layer in one synchronous call and has
 * no such point.
 *
 * It launches exactly the kernels `predictOnBatch` launches, in the same order — profiles are recorded
 * through `predictOnBatch`, and a session charges a profile's costs only while its kernel sequence matches
 * (src/profiler/sequence.ts). So the walk is TF.js's own (tfjs-layers engine/executor.ts `execute`): layers
 * in the depth-first order its topological sort gives from each output, the input sliced first and each
 * output copied last (predictLoop's batch slice and concat of one batch), an intermediate disposed once its
 * last reader has run.
 */
import * as tf from '../device/tfjs.js';

/** Called after each layer; a promise pauses the walk until it settles (null: carry on at once). */
export type Between = () => Promise<void> | null;

interface Step {
  layer: tf.layers.Layer;
  inputs: number[];
  outputs: number[];
}

interface Plan {
  steps: Step[];
  /** How many times steps read each symbolic tensor (by id), plus one for each model output it is. */
  readers: Map<number, number>;
  /** No layer starts a mask (Masking, an Embedding with maskZero): the walk, which carries none, is exact. */
  maskFree: boolean;
}

const plans = new WeakMap<tf.LayersModel, Plan>();

/** null until the model is built (a Sequential builds its graph at its first predict). */
function planOf(model: tf.LayersModel): Plan | null {
  let plan = plans.get(model);
  if (plan) return plan;
  // A built Sequential mirrors its inner functional graph's inputs and outputs.
  if (!model.inputs?.length || !model.outputs?.length) return null;
  const fed = new Set(model.inputs.map((t) => t.name));
  const sorted: tf.SymbolicTensor[] = [];
  const merged = new Set<string>();
  for (const output of model.outputs) {
    for (const symbolic of sortFrom(output, fed)) {
      if (merged.has(symbolic.name)) continue;
      merged.add(symbolic.name);
      sorted.push(symbolic);
    }
  }
  const steps: Step[] = [];
  const produced = new Set<number>();
  const readers = new Map<number, number>();
  for (const symbolic of sorted) {
    // A layer with several outputs runs once (TF.js's executor would run it once per output).
    if (produced.has(symbolic.id)) continue;
    const outputs = nodeOutputs(symbolic).map((t) => t.id);
    outputs.forEach((id) => produced.add(id));
    const inputs = symbolic.inputs.map((t) => t.id);
    for (const id of inputs) readers.set(id, (readers.get(id) ?? 0) + 1);
    steps.push({ layer: symbolic.sourceLayer as tf.layers.Layer, inputs, outputs });
  }
  for (const output of model.outputs) readers.set(output.id, (readers.get(output.id) ?? 0) + 1);
  const maskFree = steps.every(({ layer }) => {
    const config = layer.getConfig() as { maskZero?: boolean };
    return layer.getClassName() !== 'Masking' && !(layer.getClassName() === 'Embedding' && config.maskZero);
  });
  plan = { steps, readers, maskFree };
  plans.set(model, plan);
  return plan;
}

/** getTopologicalSortAndRecipientCountsForOneFetch's order: depth-first from `fetch`, fed tensors excluded. */
function sortFrom(fetch: tf.SymbolicTensor, fed: Set<string>): tf.SymbolicTensor[] {
  const visited = new Set(fed);
  const sorted: tf.SymbolicTensor[] = [];
  const stack = [fetch];
  const marks: number[] = [];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (visited.has(top.name)) {
      stack.pop();
      continue;
    }
    const topIsMarked = marks[marks.length - 1] === stack.length - 1;
    if (top.inputs.length === 0 || topIsMarked) {
      stack.pop();
      sorted.push(top);
      visited.add(top.name);
      if (topIsMarked) marks.pop();
    } else {
      marks.push(stack.length - 1);
      for (const input of top.inputs) if (!visited.has(input.name)) stack.push(input);
    }
  }
  return sorted;
}

/** All outputs of the layer call that produced `symbolic` (its node, for a layer called more than once). */
function nodeOutputs(symbolic: tf.SymbolicTensor): tf.SymbolicTensor[] {
  const nodes = symbolic.sourceLayer.inboundNodes;
  return nodes.find((node) => node.outputTensors.some((t) => t.id === symbolic.id))?.outputTensors ?? [symbolic];
}

/**
 * Whether the walk computes what `predictOnBatch` does: it carries no masks, so a model with a layer that
 * starts one (Masking, an Embedding with maskZero) runs in one piece instead.
 */
export function canExecuteLayers(model: tf.LayersModel): boolean {
  // Asked before every strict-mode inference: the answer is worked out once, with the plan.
  return planOf(model)?.maskFree ?? false;
}

/**
 * The model's outputs for `inputs` (in `model.inputs` order), computed layer by layer, calling `between`
 * after each. The caller owns the outputs; nothing else outlives the call, a failure included.
 */
export async function executeLayers(
  model: tf.LayersModel,
  inputs: tf.Tensor[],
  between: Between,
): Promise<tf.Tensor[]> {
  const { steps, readers } = planOf(model)!;
  const values = new Map<number, tf.Tensor>();
  const left = new Map(readers);
  try {
    // predictLoop's batch slice (one batch: a copy of the whole input).
    model.inputs.forEach((symbolic, i) =>
      values.set(
        symbolic.id,
        tf.slice(
          inputs[i],
          inputs[i].shape.map(() => 0),
          inputs[i].shape,
        ),
      ),
    );
    for (const step of steps) {
      const args = step.inputs.map((id) => values.get(id)!);
      // tidy: a layer that leaks a temporary in its call() must not leak it here either (predictOnBatch's
      // own tidy around the whole walk catches those).
      const produced = tf.tidy(() => {
        const out = step.layer.apply(args);
        return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
      });
      step.outputs.forEach((id, i) => values.set(id, produced[i]));
      for (const id of step.inputs) {
        const remaining = left.get(id)! - 1;
        left.set(id, remaining);
        if (remaining === 0) {
          values.get(id)!.dispose();
          values.delete(id);
        }
      }
      const pause = between();
      if (pause) await pause;
    }
    // predictLoop's concat of one batch: a copy per output, which is also what keeps an output that is an
    // input too (or is listed twice) from being handed out as a tensor the caller owns already.
    return model.outputs.map((symbolic) => values.get(symbolic.id)!.clone());
  } finally {
    for (const value of values.values()) value.dispose();
  }
}
