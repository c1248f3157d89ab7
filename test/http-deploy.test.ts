/**
 * The deployment files cannot be built or applied here (no Docker, no cluster): these checks parse them and
 * hold the fields that matter to what the code does — ports (gRPC too), probes, the drain, one GPU per replica, the
 * configuration each one mounts (run through the real validator) and the secret the admin token comes from.
 */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { validateServeConfig } from '../src/http/config-file.js';

type Doc = Record<string, any>;
const file = (path: string) => readFileSync(new URL(`../deploy/${path}`, import.meta.url), 'utf8');

function documents(path: string): Doc[] {
  return parseAllDocuments(file(path)).map((doc) => {
    assert.equal(doc.errors, [], `${path}: ${doc.errors.join('; ')}`);
    return doc.toJS() as Doc;
  });
}

const byKind = (docs: Doc[], kind: string) => {
  const found = docs.filter((d) => d.kind === kind);
  assert.is(found.length, 1, `one ${kind}`);
  return found[0];
};

/** The olympian.json a ConfigMap carries, checked by the serve command's own validator. */
async function mountedConfig(configMap: Doc) {
  const text = configMap.data['olympian.json'];
  process.env.OLYMPIAN_ADMIN_TOKEN = 'manifest-check-token-0123';
  try {
    return { raw: JSON.parse(text), options: await validateServeConfig(JSON.parse(text), '/etc/olympian') };
  } finally {
    delete process.env.OLYMPIAN_ADMIN_TOKEN;
  }
}

/** Readiness by HTTP (`/v2/health/ready`) or, where gRPC is served, by grpc.health.v1 on its port: the same state. */
function checkContainer(container: Doc, port: number, volumes: Doc[], grpcPort?: number): void {
  assert.equal(container.args.slice(0, 2), ['--config', '/etc/olympian/olympian.json']);
  assert.ok(
    container.ports.some((p: Doc) => p.containerPort === port),
    `container port ${port}`,
  );
  if (container.readinessProbe.grpc)
    assert.is(container.readinessProbe.grpc.port, grpcPort, 'the gRPC probe asks the gRPC port');
  else assert.is(container.readinessProbe.httpGet.path, '/v2/health/ready');
  assert.is(container.resources.limits['nvidia.com/gpu'], 1, 'one device, so one arbiter, per replica');
  const token = container.env.find((e: Doc) => e.name === 'OLYMPIAN_ADMIN_TOKEN');
  assert.ok(token?.valueFrom?.secretKeyRef?.name, 'the admin token comes from a Secret');
  for (const mount of container.volumeMounts)
    assert.ok(
      volumes.some((v) => v.name === mount.name),
      `volume ${mount.name} is declared`,
    );
  assert.ok(container.volumeMounts.some((m: Doc) => m.mountPath === '/etc/olympian'));
}

const manifests = suite('deploy manifests');

manifests(
  'Deployment + Service: stateless replicas, probes on the v2 health routes, a drain that fits the grace period',
  async () => {
    const docs = documents('k8s/olympian.yaml');
    const deployment = byKind(docs, 'Deployment');
    const service = byKind(docs, 'Service');
    const { raw, options } = await mountedConfig(byKind(docs, 'ConfigMap'));
    assert.is(deployment.apiVersion, 'apps/v1');
    assert.ok(deployment.spec.replicas >= 2);
    const labels = deployment.spec.template.metadata.labels;
    for (const [key, value] of Object.entries(deployment.spec.selector.matchLabels)) assert.is(labels[key], value);
    for (const [key, value] of Object.entries(service.spec.selector))
      assert.is(labels[key], value, 'the Service selects the pods');
    const pod = deployment.spec.template.spec;
    assert.is(pod.containers.length, 1);
    const container = pod.containers[0];
    assert.is(options.host, '0.0.0.0');
    assert.is(options.port, 8501);
    assert.is(options.grpcPort, 8500);
    checkContainer(container, options.port!, pod.volumes, options.grpcPort);
    const grpcPort = container.ports.find((p: Doc) => p.containerPort === options.grpcPort);
    assert.ok(grpcPort, 'the gRPC port is declared');
    assert.ok(
      service.spec.ports.some((p: Doc) => p.targetPort === grpcPort.name && p.appProtocol === 'kubernetes.io/h2c'),
      'the Service carries gRPC',
    );
    assert.ok(container.readinessProbe.grpc, 'readiness by the gRPC health service');
    assert.is(container.livenessProbe.httpGet.path, '/v2/health/live');
    assert.is(container.startupProbe.httpGet.path, '/v2/health/live');
    const named = container.ports.find((p: Doc) => p.containerPort === options.port).name;
    assert.ok(service.spec.ports.some((p: Doc) => p.targetPort === named));
    const pause = Number(container.lifecycle.preStop.exec.command[1]);
    assert.ok(pod.terminationGracePeriodSeconds > pause + 10, 'room to drain after the preStop pause');
    const modelsMount = container.volumeMounts.find((m: Doc) => m.name === 'models').mountPath;
    for (const model of raw.models)
      assert.ok(model.basePath.startsWith(`${modelsMount}/`), `${model.name} lives on the models volume`);
    assert.is(deployment.spec.template.metadata.annotations['prometheus.io/path'], '/metrics');
  },
);

manifests(
  'KServe InferenceService: a custom predictor on port 8080 with models from the storage initializer',
  async () => {
    const docs = documents('k8s/inferenceservice.yaml');
    const service = byKind(docs, 'InferenceService');
    const { options } = await mountedConfig(byKind(docs, 'ConfigMap'));
    assert.is(service.apiVersion, 'serving.kserve.io/v1beta1');
    const predictor = service.spec.predictor;
    assert.is(predictor.containers.length, 1);
    const container = predictor.containers[0];
    assert.is(container.name, 'kserve-container');
    assert.is(options.port, 8080, 'KServe routes to 8080');
    assert.is(options.host, '0.0.0.0');
    checkContainer(container, 8080, predictor.volumes);
    assert.is(container.readinessProbe.httpGet.port, 8080);
    assert.ok(container.env.some((e: Doc) => e.name === 'STORAGE_URI'));
    for (const model of options.models)
      assert.ok(model.basePath?.startsWith('/mnt/models/'), 'under the storage initializer mount');
  },
);

manifests('Dockerfile: node 20, npm ci, built output, non-root, exec-form entry to the serve command', async () => {
  const lines = file('Dockerfile')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  assert.ok(lines.filter((l) => l.startsWith('FROM ')).every((l) => /^FROM node:20[-\w]*/.test(l)));
  assert.ok(lines.some((l) => l.includes('npm ci')));
  assert.ok(lines.some((l) => l.includes('npm run build')));
  assert.ok(lines.includes('USER node'));
  const entry = lines.find((l) => l.startsWith('ENTRYPOINT '))!;
  assert.equal(JSON.parse(entry.slice('ENTRYPOINT '.length)), ['node', 'dist/src/cli.js', 'serve']);
  const copied = lines.find((l) => l.includes('/etc/olympian/olympian.json') && l.startsWith('COPY'))!.split(' ')[1];
  const { options } = await mountedConfig({ data: { 'olympian.json': file(copied.replace(/^deploy\//, '')) } });
  assert.ok(lines.includes(`EXPOSE ${options.port}`));
  assert.ok(lines.includes('EXPOSE 8500'), 'the gRPC port');
  assert.ok(
    lines.some((l) => l.startsWith('COPY --from=build /app/proto ')),
    'the gRPC service definitions ship in the image',
  );
  assert.is(options.host, '0.0.0.0', 'a container must listen beyond its loopback');
});

manifests.run();
