/**
 * The part of ONNX's protobuf schema (onnx/onnx.proto, IR version 7 and later) that olympian reads and writes:
 * models, graphs, nodes, attributes, tensors (inline or external data) and value types. The message, field and
 * enum names and numbers are the published ones; what is left out (training info, functions, sparse tensors,
 * sequences and maps) is skipped by the decoder and never written.
 */
import protobuf from 'protobufjs';

const field = (type: string, id: number, rule?: 'repeated') => (rule ? { type, id, rule } : { type, id });

const schema = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: field('string', 1),
            type: field('int32', 20),
            f: field('float', 2),
            i: field('int64', 3),
            s: field('bytes', 4),
            t: field('TensorProto', 5),
            g: field('GraphProto', 6),
            floats: field('float', 7, 'repeated'),
            ints: field('int64', 8, 'repeated'),
            strings: field('bytes', 9, 'repeated'),
          },
        },
        ValueInfoProto: { fields: { name: field('string', 1), type: field('TypeProto', 2) } },
        NodeProto: {
          fields: {
            input: field('string', 1, 'repeated'),
            output: field('string', 2, 'repeated'),
            name: field('string', 3),
            opType: field('string', 4),
            domain: field('string', 7),
            attribute: field('AttributeProto', 5, 'repeated'),
          },
        },
        ModelProto: {
          fields: {
            irVersion: field('int64', 1),
            opsetImport: field('OperatorSetIdProto', 8, 'repeated'),
            producerName: field('string', 2),
            producerVersion: field('string', 3),
            domain: field('string', 4),
            modelVersion: field('int64', 5),
            docString: field('string', 6),
            graph: field('GraphProto', 7),
            metadataProps: field('StringStringEntryProto', 14, 'repeated'),
          },
        },
        StringStringEntryProto: { fields: { key: field('string', 1), value: field('string', 2) } },
        GraphProto: {
          fields: {
            node: field('NodeProto', 1, 'repeated'),
            name: field('string', 2),
            initializer: field('TensorProto', 5, 'repeated'),
            input: field('ValueInfoProto', 11, 'repeated'),
            output: field('ValueInfoProto', 12, 'repeated'),
            valueInfo: field('ValueInfoProto', 13, 'repeated'),
          },
        },
        TensorProto: {
          fields: {
            dims: field('int64', 1, 'repeated'),
            dataType: field('int32', 2),
            floatData: field('float', 4, 'repeated'),
            int32Data: field('int32', 5, 'repeated'),
            int64Data: field('int64', 7, 'repeated'),
            name: field('string', 8),
            rawData: field('bytes', 9),
            externalData: field('StringStringEntryProto', 13, 'repeated'),
            dataLocation: field('int32', 14),
            doubleData: field('double', 10, 'repeated'),
            uint64Data: field('uint64', 11, 'repeated'),
          },
        },
        TensorShapeProto: {
          fields: { dim: field('Dimension', 1, 'repeated') },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: { dimValue: field('int64', 1), dimParam: field('string', 2), denotation: field('string', 3) },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: { tensorType: field('Tensor', 1), denotation: field('string', 6) },
          nested: { Tensor: { fields: { elemType: field('int32', 1), shape: field('TensorShapeProto', 2) } } },
        },
        OperatorSetIdProto: { fields: { domain: field('string', 1), version: field('int64', 2) } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(schema);
export const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType: the element types olympian names, by their ONNX number. */
export const OnnxDataType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
} as const;
export type OnnxElementType = keyof typeof OnnxDataType;

/** Bytes per element of each fixed-width element type (string has none). */
export const elementBytes: Record<Exclude<OnnxElementType, 'string'>, number> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8,
  uint32: 4,
  uint64: 8,
};

/** The attribute types of AttributeProto.AttributeType that olympian writes. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7 } as const;

/** TensorProto.DataLocation.EXTERNAL: the tensor's bytes are in a file beside the model. */
export const kExternalLocation = 1;

export interface DimensionMessage {
  dimValue?: number | Long;
  dimParam?: string;
}
export interface TensorMessage {
  name?: string;
  dims?: Array<number | Long>;
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: Array<number | Long>;
  doubleData?: number[];
  uint64Data?: Array<number | Long>;
  externalData?: Array<{ key: string; value: string }>;
  dataLocation?: number;
}
export interface ValueInfoMessage {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: DimensionMessage[] } } };
}
export interface AttributeMessage {
  name: string;
  type?: number;
  f?: number;
  i?: number | Long;
  s?: Uint8Array;
  t?: TensorMessage;
  g?: GraphMessage;
  floats?: number[];
  ints?: Array<number | Long>;
}
export interface NodeMessage {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: AttributeMessage[];
}
export interface GraphMessage {
  node: NodeMessage[];
  name?: string;
  initializer: TensorMessage[];
  input: ValueInfoMessage[];
  output: ValueInfoMessage[];
  valueInfo?: ValueInfoMessage[];
}
export interface ModelMessage {
  irVersion?: number | Long;
  opsetImport: Array<{ domain?: string; version?: number | Long }>;
  producerName?: string;
  graph: GraphMessage;
}

type Long = { toNumber(): number };

export const toNumber = (value: number | Long | undefined): number =>
  value === undefined ? 0 : typeof value === 'number' ? value : value.toNumber();

/** Decodes a model file's bytes; a file that is not an ONNX model throws protobufjs's error. */
export function decodeModel(bytes: Uint8Array): ModelMessage {
  return ModelProto.decode(bytes) as unknown as ModelMessage;
}

export function encodeModel(model: ModelMessage): Uint8Array {
  return ModelProto.encode(ModelProto.fromObject(model as unknown as Record<string, unknown>)).finish();
}
