/**
 * comlink carries a thrown error as name/message/stack only; olympian's callers branch on `code`. This
 * replaces comlink's 'throw' handler (a process-wide registry) once, on both sides of the port, so an
 * OlympianError arrives with its code, field and session intact; other errors pass through as comlink does.
 */
import { transferHandlers, type TransferHandler } from 'comlink';
import { fromSerialized, OlympianError, serializeError, type SerializedError } from './errors.js';

const kInstalled = Symbol.for('olympian.rpcErrors');

interface ThrownValue {
  value: unknown;
}

export function installRpcErrors(): void {
  const registry = transferHandlers as Map<string, TransferHandler<unknown, unknown>> & { [kInstalled]?: boolean };
  if (registry[kInstalled]) return;
  const base = registry.get('throw')!;
  registry.set('throw', {
    canHandle: base.canHandle,
    serialize(thrown) {
      const { value } = thrown as ThrownValue;
      if (value instanceof OlympianError) return [{ olympian: serializeError(value) }, []];
      return base.serialize(thrown);
    },
    deserialize(serialized) {
      const olympian = (serialized as { olympian?: SerializedError }).olympian;
      if (olympian) throw fromSerialized(olympian);
      return base.deserialize(serialized);
    },
  });
  registry[kInstalled] = true;
}
