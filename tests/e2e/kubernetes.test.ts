/**
 * deploy/kubernetes: every manifest valid against the Kubernetes API schemas (kubernetes-models),
 * the settings they give robbie valid for robbie, and the probes and drain they configure exercised
 * against the built binary the way a kubelet would: startup and liveness on /livez, readiness on
 * /readyz, then preStop, SIGTERM with a request in flight, and an exit well within the grace period.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { durationCodec } from '../../src/config/kinds.ts';
import { startFakeModel } from '../helpers/fake-model.ts';
import { freePort, killAll, ROOT, sleep, spawnRobbie, waitFor } from '../helpers/process.ts';
import { tempHome } from '../helpers/supervisor.ts';

after(killAll);

const DIR = join(ROOT, 'deploy/kubernetes');

type Doc = { kind: string; apiVersion: string; metadata: { name: string }; [k: string]: unknown };

function manifests(): Doc[] {
  const docs: Doc[] = [];
  for (const f of readdirSync(DIR).filter((x) => x.endsWith('.yaml') && x !== 'kustomization.yaml')) {
    for (const d of parseAllDocuments(readFileSync(join(DIR, f), 'utf8'))) {
      assert.deepEqual(d.errors, [], f);
      docs.push(d.toJS() as Doc);
    }
  }
  return docs;
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  Deployment,
  Service,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  ConfigMap,
  Secret,
};

function byKind<T>(kind: string): T {
  const d = manifests().find((m) => m.kind === kind);
  assert.ok(d, `a ${kind}`);
  return d as T;
}

interface Probe {
  httpGet: { path: string; port: string };
  periodSeconds: number;
  failureThreshold?: number;
}
interface Container {
  args: string[];
  ports: { name: string; containerPort: number }[];
  startupProbe: Probe;
  livenessProbe: Probe;
  readinessProbe: Probe;
  lifecycle: { preStop: { exec: { command: string[] } } };
  securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  env: { name: string; value: string }[];
}
interface DeploymentDoc {
  spec: {
    template: {
      spec: {
        terminationGracePeriodSeconds: number;
        securityContext: { runAsNonRoot: boolean; runAsUser: number };
        containers: Container[];
      };
    };
  };
}

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  it('are valid against the Kubernetes API schemas, and the kustomization lists every one', () => {
    const docs = manifests();
    assert.deepEqual(docs.map((d) => d.kind).sort(), [
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'Secret',
      'Service',
    ]);
    for (const d of docs) {
      const Model = MODELS[d.kind];
      assert.ok(Model, d.kind);
      assert.doesNotThrow(() => new Model(d as never).validate(), `${d.kind} ${d.metadata.name}`);
    }
    const kustomization = parseAllDocuments(
      readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'),
    )[0]?.toJS() as {
      resources: string[];
    };
    assert.deepEqual(
      [...kustomization.resources].sort(),
      readdirSync(DIR)
        .filter((x) => x.endsWith('.yaml') && x !== 'kustomization.yaml')
        .sort(),
    );
    // An invalid manifest is caught (the validation is not a no-op).
    assert.throws(() =>
      new Deployment({ metadata: { name: 'x' }, spec: { replicas: 'two' } } as never).validate(),
    );
  });

  it('probe /livez and /readyz, run non-root on a read-only root, and leave the drain time to finish', () => {
    const deployment = byKind<DeploymentDoc>('Deployment');
    const pod = deployment.spec.template.spec;
    const c = pod.containers[0] as Container;
    assert.deepEqual(c.args, ['serve']);
    assert.equal(c.startupProbe.httpGet.path, '/livez');
    assert.equal(c.livenessProbe.httpGet.path, '/livez');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 10001, 'the uid of the image (Dockerfile)');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    const config = byKind<{ data: Record<string, string> }>('ConfigMap').data;
    const preStop = Number(c.lifecycle.preStop.exec.command[1]);
    const shutdown = (durationCodec().parse(config.ROBBIE_SHUTDOWN_TIMEOUT as string) as number) / 1000;
    assert.ok(pod.terminationGracePeriodSeconds > preStop + shutdown, 'grace > preStop + shutdown timeout');
    assert.equal(Number(config.PORT), c.ports[0]?.containerPort);
  });

  it('what they configure works on the built binary: probes answer, a preStop then SIGTERM drains in time', async () => {
    const deployment = byKind<DeploymentDoc>('Deployment');
    const pod = deployment.spec.template.spec;
    const c = pod.containers[0] as Container;
    const config = byKind<{ data: Record<string, string> }>('ConfigMap').data;
    const fake = await startFakeModel();
    fake.mode = { kind: 'slow', ms: 3000 };
    const { home, cleanup } = tempHome();
    const port = await freePort();
    // The pod's environment: the ConfigMap, a Secret's keys (no database: the local store), the
    // container's env; only the port and the model are this machine's.
    const env: NodeJS.ProcessEnv = {
      ...config,
      ...Object.fromEntries(c.env.map((e) => [e.name, e.value])),
      ROBBIE_HOME: home,
      ROBBIE_API_KEYS: 'k8s-test-key-1234567890',
      ROBBIE_ADMIN_KEY: 'k8s-admin-key-1234567890',
      HOST: '127.0.0.1',
      PORT: String(port),
      OLLAMA_URL: fake.url,
    };
    const proc = spawnRobbie(c.args, env);
    const probe = async (p: Probe) =>
      (
        await fetch(`http://127.0.0.1:${port}${p.httpGet.path}`, { signal: AbortSignal.timeout(2000) }).catch(
          () => undefined,
        )
      )?.status;
    try {
      // startupProbe: within periodSeconds × failureThreshold.
      const budget = c.startupProbe.periodSeconds * (c.startupProbe.failureThreshold ?? 3) * 1000;
      await waitFor('the startup probe', async () => (await probe(c.startupProbe)) === 200, budget, 100);
      assert.equal(await probe(c.livenessProbe), 200);
      assert.equal(await probe(c.readinessProbe), 200);
      // A request in flight when the pod is deleted.
      const inFlight = fetch(`http://127.0.0.1:${port}/api/v2/universal/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': env.ROBBIE_API_KEYS as string },
        body: JSON.stringify({ source: 'chat', ai_service: 'chat', payload: { input: 'slow answer' } }),
      });
      await sleep(200);
      const deleted = performance.now();
      // preStop runs first (the pod keeps serving), then the kubelet sends SIGTERM.
      await sleep(Number(c.lifecycle.preStop.exec.command[1]) * 100); // scaled down tenfold here
      assert.equal(await probe(c.readinessProbe), 200, 'still ready during preStop');
      proc.child.kill('SIGTERM');
      await waitFor(
        'readiness fails once draining',
        async () => (await probe(c.readinessProbe)) !== 200,
        2000,
        20,
      );
      assert.equal((await inFlight).status, 200, 'the in-flight request is answered');
      const { code } = await proc.exited;
      const ms = performance.now() - deleted;
      assert.equal(code, 0);
      assert.ok(ms < pod.terminationGracePeriodSeconds * 1000, `exited ${ms.toFixed(0)} ms after deletion`);
    } finally {
      proc.child.kill('SIGKILL');
      cleanup();
      await fake.close();
    }
  });
});
