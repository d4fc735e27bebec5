// Issue 6: the Kubernetes manifests in deploy/kubernetes/ run what the code is. Every manifest is parsed;
// names, references, ports, probes, commands and environment variables are checked against the code
// (its settings loader, its CLI definitions, its queue names and prefix, its health servers), and the
// KEDA trigger's list is checked against where BullMQ really keeps waiting jobs, on the real Redis.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, loadSettings } from '../src/config/settings.js';
import { createQueue } from '../src/queue/index.js';
import { DEFAULT_QUEUE_PREFIX } from '../src/queue/transport.js';
import { MIGRATE_QUEUE, WORKER_QUEUES, WORKFLOWS_QUEUE } from '../src/queue/queue-names.js';
import { redisEndpointFor } from '../src/queue/redis-url.js';
import { loadUsersFile } from '../src/server/auth/users-file.js';
import { DEFAULT_STEP_TIMEOUT_SECONDS } from '../src/workflows/dagger-config.js';
import { startHealthServer } from '../src/workers/health-server.js';
import { codeReadsEnv, parseRole, repoFile } from './helpers/deploy-checks.js';
import { startOpsApp } from './helpers/ops-app.js';
import { deleteQueueKeys, REDIS_URL } from './helpers/services.js';

const DIR = fileURLToPath(new URL('../deploy/kubernetes/', import.meta.url));

interface Metadata { name: string; namespace?: string; labels?: Record<string, string> }
interface Manifest { apiVersion: string; kind: string; metadata: Metadata; data?: Record<string, string>; stringData?: Record<string, string> }
interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }
interface Probe { httpGet: { path: string; port: string | number } }
interface Mount { name: string; mountPath: string; readOnly?: boolean }
interface Container {
  name: string; args: string[]; env?: EnvVar[]; envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[]; livenessProbe: Probe; readinessProbe: Probe;
  volumeMounts?: Mount[]; workingDir?: string; securityContext?: { allowPrivilegeEscalation?: boolean };
}
interface Volume { name: string; persistentVolumeClaim?: { claimName: string }; secret?: { secretName: string } }
interface PodSpec {
  containers: Container[]; volumes?: Volume[]; restartPolicy?: string; terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
}
interface Workload extends Manifest {
  spec: {
    selector?: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    podFailurePolicy?: { rules: { action: string; onExitCodes?: { containerName: string; operator: string; values: number[] } }[] };
  };
}
interface Trigger { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }
interface ScaledObject extends Manifest { spec: { scaleTargetRef: { name: string }; minReplicaCount: number; maxReplicaCount: number; triggers: Trigger[] } }
interface TriggerAuthentication extends Manifest { spec: { secretTargetRef: { parameter: string; name: string; key: string }[] } }
interface Selecting extends Manifest { spec: { selector: Record<string, string> & { matchLabels?: Record<string, string> }; ports?: { targetPort: string | number }[]; accessModes?: string[] } }

function loadManifests(): { file: string; doc: Manifest }[] {
  const out: { file: string; doc: Manifest }[] = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const value = doc.toJS() as Manifest | null;
      if (value) out.push({ file, doc: value });
    }
  }
  return out;
}

const manifests = loadManifests();

/** The one manifest of a kind and name (typed as the caller reads it). */
function one<T extends Manifest = Manifest>(kind: string, name: string): T {
  const found = manifests.filter((m) => m.doc.kind === kind && m.doc.metadata.name === name);
  if (found.length !== 1) throw new Error(`deploy/kubernetes holds ${found.length} ${kind} named ${name}, not one`);
  return found[0]!.doc as T;
}

const configMap = one('ConfigMap', 'taskfleet-config');
const configData = configMap.data ?? {};
const secret = one('Secret', 'taskfleet-secrets');
const secretData = secret.stringData ?? {};
const usersSecret = one('Secret', 'taskfleet-users');
const workerDeployment = one<Workload>('Deployment', 'taskfleet-worker');
const serverDeployment = one<Workload>('Deployment', 'taskfleet-server');
const job = one<Workload>('Job', 'taskfleet-migrate');
const scaledObject = one<ScaledObject>('ScaledObject', 'taskfleet-worker');
const manifestPrefix = configData.TASKFLEET_PREFIX ?? DEFAULT_QUEUE_PREFIX;

function podSpec(workload: Workload): PodSpec {
  return workload.spec.template.spec;
}

function container(workload: Workload): Container {
  const containers = podSpec(workload).containers;
  expect(containers).toHaveLength(1);
  return containers[0]!;
}

/** The environment a container gets: its ConfigMaps' data, then its own env (secrets resolved from the examples). */
function environmentOf(workload: Workload): Record<string, string> {
  const c = container(workload);
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    expect(from.configMapRef?.name, JSON.stringify(from)).toBeDefined();
    Object.assign(env, one('ConfigMap', from.configMapRef!.name).data);
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else {
      const ref = e.valueFrom!.secretKeyRef;
      const data = one('Secret', ref.name).stringData ?? {};
      expect(Object.keys(data), `${ref.name} holds ${ref.key}`).toContain(ref.key);
      env[e.name] = data[ref.key]!;
    }
  }
  return env;
}

/** The claim behind the volume a container mounts at a path. */
function claimMountedAt(workload: Workload, path: string): string {
  const mount = container(workload).volumeMounts?.find((m) => m.mountPath === path);
  expect(mount, `${workload.metadata.name} mounts ${path}`).toBeDefined();
  const claim = podSpec(workload).volumes?.find((v) => v.name === mount!.name)?.persistentVolumeClaim?.claimName;
  expect(claim, `${workload.metadata.name}: a claim at ${path}`).toBeDefined();
  return claim!;
}

function portNumber(c: Container, port: string | number): number {
  if (typeof port === 'number') return port;
  const found = c.ports?.find((p) => p.name === port);
  expect(found, `port ${port} of ${c.name}`).toBeDefined();
  return found!.containerPort;
}

/** The commented redis-cluster variant of keda.yaml, uncommented. */
function clusterVariant(): { triggers: Trigger[] } {
  const text = readFileSync(join(DIR, 'keda.yaml'), 'utf8');
  const block = /# --- redis-cluster variant ---\n([\s\S]*?)# --- end of redis-cluster variant ---/.exec(text);
  expect(block, 'keda.yaml keeps a commented redis-cluster variant').not.toBeNull();
  return parseYaml(block![1]!.split('\n').map((line) => line.replace(/^#/, '')).join('\n')) as { triggers: Trigger[] };
}

/** A selector's labels, as the workload's pod template has them (equal to the selector when it matches). */
function podLabels(workload: Workload, selector: Record<string, string>): Record<string, string> {
  const labels = workload.spec.template.metadata.labels;
  return Object.fromEntries(Object.keys(selector).map((k) => [k, labels[k]!]));
}

describe('deploy/kubernetes', () => {
  it('every manifest parses, sits in the taskfleet namespace and has a unique kind/name', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(12);
    expect(one('Namespace', 'taskfleet').apiVersion).toBe('v1');
    const seen = new Set<string>();
    for (const { file, doc } of manifests) {
      expect(doc.apiVersion, file).toBeTruthy();
      expect(doc.metadata.name, file).toMatch(/^[a-z0-9-]+$/);
      if (doc.kind !== 'Namespace') expect(doc.metadata.namespace, `${file}: ${doc.kind} ${doc.metadata.name}`).toBe('taskfleet');
      const key = `${doc.kind}/${doc.metadata.name}`;
      expect(seen.has(key), key).toBe(false);
      seen.add(key);
    }
    for (const kind of ['Deployment', 'Job', 'Secret', 'ConfigMap', 'PodDisruptionBudget', 'ScaledObject', 'TriggerAuthentication', 'Service', 'PersistentVolumeClaim']) {
      expect(manifests.some((m) => m.doc.kind === kind), kind).toBe(true);
    }
  });

  it('every environment variable given to a container is one the code reads, with a valid value', () => {
    expect(Object.keys(configData).length).toBeGreaterThan(3);
    for (const name of Object.keys(configData)) expect(codeReadsEnv(name), `ConfigMap key ${name}`).toBe(true);
    for (const workload of [workerDeployment, serverDeployment, job]) {
      const env = environmentOf(workload);
      for (const name of Object.keys(env)) expect(codeReadsEnv(name), `${workload.metadata.name}: ${name}`).toBe(true);
      expect(Object.keys(env), workload.metadata.name).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL']));
      // The settings loader accepts the whole environment (the examples' URLs included).
      expect(loadSettings({}, { env }).prefix, workload.metadata.name).toBe(manifestPrefix);
    }
    expect(Object.keys(environmentOf(serverDeployment))).toContain('TASKFLEET_JWT_SECRET');
    // The example secret must not start a server: an empty JWT secret is refused at start-up.
    expect(secretData.TASKFLEET_JWT_SECRET).toBe('');
  });

  it('each workload runs a real taskfleet role with flags the CLI knows', () => {
    const worker = parseRole(container(workerDeployment).args);
    const server = parseRole(container(serverDeployment).args);
    const run = parseRole(container(job).args);
    expect([worker.role, server.role, run.role]).toEqual(['worker', 'server', 'run']);
    for (const parsed of [worker, server, run]) {
      expect(parsed.unknown, parsed.role).toEqual([]);
      expect(parsed.operands, parsed.role).toEqual([]);
    }
    // The server must listen beyond loopback, with logins, reading the mounted users file.
    expect(server.opts.host).toBe('0.0.0.0');
    expect(server.opts.auth).toBe(true);
    const usersPath = String(server.opts.users);
    const usersMount = container(serverDeployment).volumeMounts?.find((m) => usersPath.startsWith(`${m.mountPath}/`));
    expect(usersMount, `a volume holds ${usersPath}`).toBeDefined();
    const usersVolume = podSpec(serverDeployment).volumes?.find((v) => v.name === usersMount!.name);
    expect(usersVolume?.secret?.secretName).toBe(usersSecret.metadata.name);
    expect(Object.keys(usersSecret.stringData ?? {})).toContain(usersPath.slice(usersMount!.mountPath.length + 1));
    // The migration runs on the fleet: it starts no workers of its own.
    expect(run.opts.workers).toBe(0);
  });

  it('the example users file is one the server loads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tf-k8s-users-'));
    try {
      const file = join(dir, 'users.yaml');
      await writeFile(file, usersSecret.stringData?.['users.yaml'] ?? '');
      expect(loadUsersFile(file).users.size).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('worker probes: /healthz and /readyz on the health port the worker is given, served by the worker\'s health server', async () => {
    const c = container(workerDeployment);
    const healthPort = loadSettings({}, { env: environmentOf(workerDeployment) }).healthPort;
    // The default (0) serves no health endpoint at all.
    expect(DEFAULT_SETTINGS.healthPort).toBe(0);
    expect(healthPort).toBeGreaterThan(0);
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    for (const probe of [c.livenessProbe, c.readinessProbe]) expect(portNumber(c, probe.httpGet.port)).toBe(healthPort);
    // The very paths answer on the worker's health server.
    const health = await startHealthServer(0, () => Promise.resolve(), '127.0.0.1');
    try {
      for (const path of [c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path]) {
        expect((await fetch(`http://127.0.0.1:${health.port}${path}`)).status, path).toBe(200);
      }
    } finally {
      await health.close();
    }
  });

  it('server probes: /healthz and /readyz on the port the server listens on, served by the operations server', async () => {
    const c = container(serverDeployment);
    const port = parseRole(c.args).opts.port;
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    for (const probe of [c.livenessProbe, c.readinessProbe]) expect(portNumber(c, probe.httpGet.port)).toBe(port);
    const service = one<Selecting>('Service', 'taskfleet-server');
    expect(service.spec.selector).toEqual(podLabels(serverDeployment, service.spec.selector));
    expect(portNumber(c, service.spec.ports![0]!.targetPort)).toBe(port);
    // The probe paths exist on the server's health router: /healthz answers, /readyz says "not ready"
    // for a database that does not exist (503), not "no such route" (404).
    const prefix = `{k8s_${randomBytes(3).toString('hex')}}`;
    const app = await startOpsApp('postgres://postgres@127.0.0.1:5432/taskfleet_k8s_test_absent', prefix, { readyTimeoutMs: 2000 });
    try {
      expect((await fetch(`${app.url}${c.livenessProbe.httpGet.path}`)).status).toBe(200);
      expect((await fetch(`${app.url}${c.readinessProbe.httpGet.path}`)).status).toBe(503);
    } finally {
      await app.close();
      await deleteQueueKeys(prefix);
    }
  });

  it('workers have time to drain, a disruption budget, and the legacy data at the path the migration records', () => {
    const grace = podSpec(workerDeployment).terminationGracePeriodSeconds ?? 30;
    // A draining worker lets its active jobs finish: a workflow step may run up to its default timeout.
    expect(grace).toBeGreaterThan(DEFAULT_STEP_TIMEOUT_SECONDS);
    expect(grace).toBeGreaterThan(DEFAULT_SETTINGS.lockDurationMs / 1000);
    const pdb = one<Selecting>('PodDisruptionBudget', 'taskfleet-worker');
    expect(pdb.apiVersion).toBe('policy/v1');
    const pdbLabels = pdb.spec.selector.matchLabels!;
    expect(pdbLabels).toEqual(podLabels(workerDeployment, pdbLabels));
    const ownLabels = workerDeployment.spec.selector!.matchLabels;
    expect(ownLabels).toEqual(podLabels(workerDeployment, ownLabels));
    // Workers read each chunk back from the legacy files at the path the Job recorded: same volume, same path.
    const legacyDir = String(parseRole(container(job).args).opts.legacyData);
    expect(claimMountedAt(workerDeployment, legacyDir)).toBe(claimMountedAt(job, legacyDir));
    expect(one<Selecting>('PersistentVolumeClaim', claimMountedAt(job, legacyDir)).spec.accessModes).toContain('ReadWriteMany');
    // The Job writes its reports and backups into a volume, not the image.
    const workDir = container(job).workingDir!;
    expect(one<Selecting>('PersistentVolumeClaim', claimMountedAt(job, workDir)).metadata.name).toBeTruthy();
  });

  it('the migration Job runs once, and does not retry a usage error or an unmet gate (exit 2)', () => {
    expect(job.apiVersion).toBe('batch/v1');
    expect(podSpec(job).restartPolicy).toBe('Never');
    const rule = job.spec.podFailurePolicy?.rules.find((r) => r.action === 'FailJob');
    expect(rule?.onExitCodes).toMatchObject({ containerName: container(job).name, operator: 'In', values: [2] });
  });

  it('pods run as the image\'s non-root user', () => {
    const user = /^USER\s+(\d+)(?::(\d+))?\s*$/m.exec(repoFile('Dockerfile'));
    expect(user, 'the Dockerfile sets a numeric USER').not.toBeNull();
    for (const workload of [workerDeployment, serverDeployment, job]) {
      const sc = podSpec(workload).securityContext;
      expect(sc?.runAsNonRoot, workload.metadata.name).toBe(true);
      expect(sc?.runAsUser, workload.metadata.name).toBe(Number(user![1]));
      expect(container(workload).securityContext?.allowPrivilegeEscalation ?? true, workload.metadata.name).toBe(false);
    }
  });

  it('KEDA scales the worker Deployment on the wait list of every taskfleet queue, on the Redis of REDIS_URL', () => {
    expect(scaledObject.apiVersion).toBe('keda.sh/v1alpha1');
    expect(scaledObject.spec.scaleTargetRef.name).toBe(workerDeployment.metadata.name);
    const triggers = scaledObject.spec.triggers;
    expect(triggers.map((t) => t.metadata.listName).sort()).toEqual(WORKER_QUEUES.map((q) => `${manifestPrefix}:${q}:wait`).sort());
    const endpoint = redisEndpointFor(secretData.REDIS_URL!, manifestPrefix);
    expect(endpoint.mode).toBe('single');
    for (const t of triggers) {
      expect(t.type).toBe('redis');
      // KEDA takes strings for its metadata.
      for (const value of Object.values(t.metadata)) expect(typeof value).toBe('string');
      expect(t.metadata.address).toBe(`${endpoint.nodes[0]!.host}:${endpoint.nodes[0]!.port}`);
      expect(Number(t.metadata.databaseIndex ?? '0')).toBe(endpoint.db);
      // Redis's password reaches KEDA through a TriggerAuthentication of the same secret.
      const auth = one<TriggerAuthentication>('TriggerAuthentication', t.authenticationRef!.name);
      const ref = auth.spec.secretTargetRef.find((r) => r.parameter === 'password')!;
      expect(one('Secret', ref.name).stringData?.[ref.key]).toBe(endpoint.password);
    }
    // Never zero workers: workers are what promote due delayed retries back to the wait list.
    expect(scaledObject.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    // The producer's window (waiting + active jobs) must leave room for maxReplicaCount workers' worth
    // of waiting jobs, or KEDA can never reach maxReplicaCount.
    const settings = loadSettings({}, { env: environmentOf(job) });
    const concurrencyOf: Record<string, number> = { [MIGRATE_QUEUE]: settings.concurrency, [WORKFLOWS_QUEUE]: settings.workflowConcurrency };
    for (const t of triggers) {
      const queue = t.metadata.listName!.slice(manifestPrefix.length + 1, -':wait'.length);
      const room = scaledObject.spec.maxReplicaCount * (Number(t.metadata.listLength) + concurrencyOf[queue]!);
      expect(settings.maxWaitingJobs, `${queue}: maxReplicaCount × (listLength + concurrency)`).toBeGreaterThanOrEqual(room);
    }
  });

  it('the commented redis-cluster variant watches the same lists, with a hash-tagged prefix', () => {
    expect(manifestPrefix).toMatch(/^[^{]*\{[^}]+\}/);
    const { triggers } = clusterVariant();
    const single = scaledObject.spec.triggers;
    expect(triggers).toHaveLength(single.length);
    for (const [i, t] of triggers.entries()) {
      expect(t.type).toBe('redis-cluster');
      expect(t.metadata.listName).toBe(single[i]!.metadata.listName);
      expect(t.metadata.listLength).toBe(single[i]!.metadata.listLength);
      const addresses = t.metadata.addresses!.split(',');
      expect(addresses.length).toBeGreaterThan(1);
      // The same nodes as a cluster REDIS_URL would list them.
      const endpoint = redisEndpointFor(`redis://${addresses.join(',')}`, manifestPrefix);
      expect(endpoint.mode).toBe('cluster');
      expect(endpoint.nodes.map((n) => `${n.host}:${n.port}`)).toEqual(addresses);
    }
  });

  it('BullMQ keeps a waiting job in <prefix>:<queue>:wait and a delayed one elsewhere (the real Redis)', async () => {
    const prefix = `{k8s_${randomBytes(4).toString('hex')}}`;
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const queues = WORKER_QUEUES.map((name) => createQueue<{ n: number }>(name, { kind: 'redis', url: REDIS_URL, prefix }));
    try {
      for (const queue of queues) {
        await queue.add('now', { n: 1 });
        await queue.add('later', { n: 2 }, { delay: 60_000 });
      }
      // The triggers' list names, with this test's prefix in place of the manifest's: one job each.
      for (const t of scaledObject.spec.triggers) {
        const key = prefix + t.metadata.listName!.slice(manifestPrefix.length);
        expect(await redis.type(key), key).toBe('list');
        expect(await redis.llen(key), key).toBe(1);
      }
    } finally {
      await Promise.all(queues.map(async (q) => { await q.obliterate({ force: true }); await q.close(); }));
      await redis.quit();
    }
  });
});
