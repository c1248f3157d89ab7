import { DeviceArbiter } from '../src/arbiter/arbiter.js';
import { Session } from '../src/workers/session.js';
const tinyModule = new URL('../test/fixtures/tiny-models.ts', import.meta.url).href;
const image = (size: number) => ({ image: { dtype: 'float32' as const, shape: [1, size, size, 3], data: new Float32Array(size * size * 3).fill(0.5) } });
const arbiter = new DeviceArbiter({ policy: 'fair', quantumMs: 1, heirSpin: process.env.SPIN === '1' });
const shapes = JSON.parse(process.argv[2]);
const ss = await Promise.all(shapes.map((options, i) => Session.start(arbiter, { name: `m${i}`, model: { module: tinyModule, options }, backend: 'wasm' })));
let stop = false; const counts = [0, 0];
const clients = ss.flatMap((s, i) => [0, 1, 2].map(async () => { const size = shapes[i].inputSize; while (!stop) { await s.infer(image(size)); counts[i]++; } }));
await new Promise((r) => setTimeout(r, 300));
const b = arbiter.stats();
await new Promise((r) => setTimeout(r, 2000));
const a = arbiter.stats();
stop = true; await Promise.all(clients);
for (let i = 0; i < shapes.length; i++) {
  const x = a.sessions[i], y = b.sessions[i];
  console.log(x.name, 'charged', (x.chargedMs - y.chargedMs).toFixed(1), 'grants', x.grants - y.grants, 'waits', x.waits - y.waits, 'waitMs', (x.waitTotalMs - y.waitTotalMs).toFixed(1), 'holdMax', x.holdMaxMs.toFixed(2), 'vt', x.virtualTime.toFixed(1), 'inferences', counts[i], 'kpi', ss[i].info.kernelsPerInference, 'sessionCharged', ss[i].stats().chargedMs.toFixed(1), 'lastInf', ss[i].stats().lastInferenceMs.toFixed(2));
}
console.log('handoffs', a.handoffs - b.handoffs);
await Promise.all(ss.map((s) => s.close())); arbiter.close();
