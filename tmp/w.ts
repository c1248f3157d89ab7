import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { getKernelsForBackend } from '@tensorflow/tfjs';
const t0 = performance.now();
await tf.setBackend('wasm'); await tf.ready();
console.log('backend', tf.getBackend(), (performance.now()-t0).toFixed(0), 'ms', 'SIMD', await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), 'threads', await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
console.log('kernels', getKernelsForBackend('wasm').length, getKernelsForBackend('cpu').length);
const x = tf.ones([2, 2]); console.log(x.matMul(x).dataSync());
