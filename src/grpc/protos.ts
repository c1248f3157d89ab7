/**
 * The gRPC services olympian serves, from the .proto files in proto/ (written from the published protocols:
 * their package, message and field names and numbers are the wire contract). Loaded once, in two views of the
 * same files: proto-loader's package definition, which grpc-js serves and server reflection describes, and a
 * protobufjs Root for the messages olympian packs into an Any itself (error details, TF-Serving's signature
 * map).
 *
 * Decoding is wrapped: bytes that are not a valid message become a `MalformedMessage` instead of grpc-js's own
 * INTERNAL answer, so that a handler can refuse them as INVALID_ARGUMENT like any other bad request.
 */
import { fileURLToPath } from 'node:url';
import * as loader from '@grpc/proto-loader';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/** The package root in a checkout and in an install (where this file is under dist/). */
const packageRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/dist[\\/]$/, '');
export const protoDir = `${packageRoot}proto`;

export const protoFiles = [
  'inference/grpc_predict_v2.proto',
  'tensorflow_serving/apis/prediction_service.proto',
  'tensorflow_serving/apis/model_service.proto',
  'grpc/health/v1/health.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
];

/**
 * Field names as the .proto files spell them (model_name, raw_input_contents); int64 as numbers (a value past
 * 2^53 loses digits, and every such value is refused as out of range anyway); enums by name; absent fields
 * as their defaults; each oneof's chosen member named in a field of the oneof's name.
 */
export const loaderOptions: loader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export const kServiceNames = {
  inference: 'inference.GRPCInferenceService',
  prediction: 'tensorflow.serving.PredictionService',
  model: 'tensorflow.serving.ModelService',
  health: 'grpc.health.v1.Health',
} as const;

/** A request that could not be decoded; `why` is protobufjs's reason. */
export class MalformedMessage {
  constructor(readonly why: string) {}
}

export interface Protos {
  definition: loader.PackageDefinition;
  root: protobuf.Root;
  /** A service's definition with decoding that never throws (see MalformedMessage). */
  service(name: (typeof kServiceNames)[keyof typeof kServiceNames]): ServiceDefinition;
}

let loaded: Protos | undefined;

function tolerant(method: MethodDefinition<object, object>): MethodDefinition<object, object> {
  const decode = method.requestDeserialize;
  return {
    ...method,
    requestDeserialize: (bytes: Buffer) => {
      try {
        return decode(bytes);
      } catch (error) {
        return new MalformedMessage((error as Error).message);
      }
    },
  };
}

export function loadProtos(): Protos {
  if (loaded) return loaded;
  const definition = loader.loadSync(protoFiles, { ...loaderOptions, includeDirs: [protoDir] });
  const root = new protobuf.Root();
  // Well-known types (any.proto, wrappers.proto) come with protobufjs; everything else from proto/.
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : `${protoDir}/${target}`);
  root.loadSync(protoFiles, { keepCase: true });
  const services = new Map<string, ServiceDefinition>();
  loaded = {
    definition,
    root,
    service(name) {
      let service = services.get(name);
      if (!service) {
        const plain = definition[name] as ServiceDefinition;
        service = Object.fromEntries(
          Object.entries(plain).map(([method, def]) => [method, tolerant(def as MethodDefinition<object, object>)]),
        );
        services.set(name, service);
      }
      return service;
    },
  };
  return loaded;
}

/** An Any holding `value` as the message type `typeName` (e.g. "google.rpc.BadRequest"). */
export function packAny(root: protobuf.Root, typeName: string, value: object): { type_url: string; value: Buffer } {
  const type = root.lookupType(typeName);
  const bytes = type.encode(type.fromObject(value)).finish();
  return {
    type_url: `type.googleapis.com/${typeName}`,
    value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  };
}
