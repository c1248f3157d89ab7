/** The gRPC front: KServe v2, TF-Serving, health and reflection, started by startHttpServer's `grpcPort`. */
export { startGrpcFront, type GrpcFront, type GrpcFrontOptions } from './grpc-server.js';
export { grpcStatusOfCode, kErrorDomain, kStatusDetailsKey } from './status.js';
export { loaderOptions, protoDir, protoFiles } from './protos.js';
