import { Session } from '../src/workers/session.js';
const tinyModule = new URL('../test/fixtures/tiny-models.ts', import.meta.url).href;
const image = () => ({ image: { dtype: 'float32' as const, shape: [1, 8, 8, 3], data: new Float32Array(8 * 8 * 3).fill(0.5) } });
const s = await Session.start(null, { name: 'x', model: { module: tinyModule, options: { inputSize: 8, channels: 4, layers: 2 } }, backend: 'wasm' });
for (let round = 0; round < 12; round++) {
  for (let i = 0; i < 1000; i++) await s.infer(image());
  const r = await s.collect();
  console.log(round, r.heapUsedMb.toFixed(3), r.liveTensors);
}
await s.close();
