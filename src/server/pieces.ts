/**
 * A request with more items than its session's `maxBatch` runs as pieces of at most `maxBatch` items, whose
 * outputs are joined on the batch axis (TF-Serving's large-batch splitting): the memory a session was admitted
 * with (activations at maxBatch) then bounds every run, whatever a client sends.
 */
import { arrayTypeOf, batchSizeOf, elementCount, type NamedTensors, type WireTensor } from '../protocol/tensors.js';

/** Pieces a session keeps queued at once: one running and one staged, as for any two requests. */
const kPiecesInFlight = 2;

/** Rows [start, start + count) of every input, each in a buffer of its own (pieces move between threads apart). */
export function splitRows(inputs: NamedTensors, maxRows: number): NamedTensors[] {
  const rows = batchSizeOf(inputs);
  const pieces: NamedTensors[] = [];
  for (let start = 0; start < rows; start += maxRows) {
    const count = Math.min(maxRows, rows - start);
    pieces.push(
      Object.fromEntries(
        Object.entries(inputs).map(([name, tensor]) => {
          const rowSize = elementCount(tensor.shape.slice(1));
          const data = tensor.data.slice(start * rowSize, (start + count) * rowSize) as WireTensor['data'];
          return [name, { dtype: tensor.dtype, shape: [count, ...tensor.shape.slice(1)], data }];
        }),
      ),
    );
  }
  return pieces;
}

/** The pieces' outputs concatenated on the batch axis, output by output. */
export function joinRows(parts: NamedTensors[]): NamedTensors {
  return Object.fromEntries(
    Object.keys(parts[0]).map((name) => {
      const first = parts[0][name];
      const rows = parts.reduce((sum, part) => sum + part[name].shape[0], 0);
      const data = new (arrayTypeOf(first.dtype))(parts.reduce((sum, part) => sum + part[name].data.length, 0));
      let offset = 0;
      for (const part of parts) {
        // Same dtype on both sides (one model's output), so the set is between arrays of one kind.
        (data as Float32Array).set(part[name].data as Float32Array, offset);
        offset += part[name].data.length;
      }
      return [name, { dtype: first.dtype, shape: [rows, ...first.shape.slice(1)], data }];
    }),
  );
}

/**
 * Runs every piece through `run`, at most kPiecesInFlight at a time, in order. The first failure fails the
 * whole request and withdraws the pieces still queued (their shared signal); the caller's signal does too.
 */
export async function inferInPieces(
  pieces: NamedTensors[],
  signal: AbortSignal | undefined,
  run: (inputs: NamedTensors, signal: AbortSignal) => Promise<NamedTensors>,
): Promise<NamedTensors> {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) controller.abort();
  const outputs: NamedTensors[] = new Array(pieces.length);
  let next = 0;
  const lane = async () => {
    while (next < pieces.length) {
      const i = next++;
      outputs[i] = await run(pieces[i], controller.signal);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(kPiecesInFlight, pieces.length) }, lane));
  } catch (error) {
    controller.abort();
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return joinRows(outputs);
}
