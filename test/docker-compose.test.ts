// Issue 6: the container image (Dockerfile) and the compose fleet (docker-compose.yml) run what the code
// is. No Docker engine runs here, so the Dockerfile is checked by reading it, and docker-compose.yml by a
// real compose implementation's `config` (which needs no engine): it must be valid, and what it resolves
// to must match the code's environment variables, CLI flags, health endpoints and queue needs.
// .ci/run installs Debian's docker-compose when no compose is present; without one this test fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../src/config/settings.js';
import { WORKER_NODE_FLAGS } from '../src/cli/spawn-workers.js';
import { DEFAULT_STEP_TIMEOUT_SECONDS } from '../src/workflows/dagger-config.js';
import { codeReadsEnv, durationSeconds, parseRole, repoFile } from './helpers/deploy-checks.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

// ---- the Dockerfile ------------------------------------------------------------------------------------

interface Instruction { op: string; args: string }

/** Instructions of a Dockerfile: continuation lines joined, comment lines (also inside a continuation) dropped. */
function dockerfileInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const [, op, args] = /^(\S+)\s+([\s\S]*)$/.exec(full)!;
    out.push({ op: op!.toUpperCase(), args: args! });
  }
  return out;
}

/** The stages: each FROM starts one. */
function stages(instructions: Instruction[]): { from: string; name: string | null; body: Instruction[] }[] {
  const result: { from: string; name: string | null; body: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const [, image, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      result.push({ from: image!, name: name ?? null, body: [] });
    } else {
      result.at(-1)!.body.push(ins);
    }
  }
  return result;
}

/** An exec-form instruction's argument array (JSON), or null for the shell form. */
function execForm(args: string): string[] | null {
  try {
    const value: unknown = JSON.parse(args);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : null;
  } catch {
    return null;
  }
}

const dockerfile = stages(dockerfileInstructions(repoFile('Dockerfile')));
const finalStage = dockerfile.at(-1)!;
const only = (op: string) => {
  const found = finalStage.body.filter((i) => i.op === op);
  expect(found, `the final stage has one ${op}`).toHaveLength(1);
  return found[0]!;
};

describe('Dockerfile', () => {
  it('builds in one stage and ships production dependencies only in the final one', () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    const build = dockerfile.find((s) => s.name !== null && dockerfile.indexOf(s) < dockerfile.length - 1)!;
    expect(build, 'a named build stage').toBeDefined();
    const buildRuns = build.body.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    expect(buildRuns).toMatch(/\bnpm ci\b/);
    expect(buildRuns).toMatch(/npm prune --omit=dev|npm ci [^&]*--omit=dev/);
    // `npm ci` runs the `prepare` build: the build stage holds what it compiles.
    const pkg = JSON.parse(repoFile('package.json')) as { scripts: Record<string, string>; bin: Record<string, string> };
    expect(pkg.scripts.prepare).toBe('npm run build');
    const buildTsconfig = /-p (\S+)/.exec(pkg.scripts.build!)![1]!;
    const tsconfig = JSON.parse(repoFile(buildTsconfig)) as { extends?: string };
    const copied = build.body.filter((i) => i.op === 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const needed of ['package.json', 'package-lock.json', buildTsconfig, tsconfig.extends!.replace(/^\.\//, ''), 'src', 'db']) {
      expect(copied, needed).toContain(needed);
    }
    for (const source of copied.filter((s) => !s.startsWith('--'))) expect(existsSync(join(ROOT, source)), source).toBe(true);
    // The final stage: the pruned node_modules and the compiled code from the build, nothing compiled here.
    const fromBuild = finalStage.body.filter((i) => i.op === 'COPY' && i.args.startsWith(`--from=${build.name!}`)).map((i) => i.args.split(/\s+/)[1]);
    expect(fromBuild).toEqual(expect.arrayContaining(['/app/node_modules', '/app/dist']));
    expect(finalStage.body.filter((i) => i.op === 'RUN').map((i) => i.args).join(' ')).not.toMatch(/npm (ci|install)/);
    const finalCopies = finalStage.body.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    // The package root (found by package.json) and the command (package.json's bin).
    expect(finalCopies).toEqual(expect.arrayContaining(['package.json', Object.values(pkg.bin)[0]!.split('/')[0]!]));
  });

  it('ships every file of config/ the repository holds, and never a local users file', () => {
    const finalCopies = finalStage.body.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    const tracked = spawnSync('git', ['ls-files', 'config'], { cwd: ROOT, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    expect(tracked.length).toBeGreaterThan(3);
    for (const file of tracked) expect(finalCopies.some((c) => file === c || file.startsWith(`${c}/`)), file).toBe(true);
    // config/users.yaml is git-ignored: it holds password hashes, maybe a JWT secret.
    expect(finalCopies.some((c) => 'config/users.yaml' === c || 'config/users.yaml'.startsWith(`${c}/`))).toBe(false);
  });

  it('runs as a non-root user', () => {
    const user = only('USER').args.split(':')[0]!;
    expect(['root', '0']).not.toContain(user);
    const order = finalStage.body.map((i) => i.op);
    expect(order.indexOf('USER')).toBeLessThan(order.indexOf('ENTRYPOINT'));
  });

  it('starts node in exec form (no shell), so SIGTERM reaches the process that drains', () => {
    const entry = execForm(only('ENTRYPOINT').args);
    expect(entry, 'ENTRYPOINT in exec (JSON) form').not.toBeNull();
    expect(entry!.some((a) => /(^|\/)(ba)?sh$/.test(a)) || entry!.includes('-c')).toBe(false);
    const node = entry!.indexOf('node');
    expect(node).toBeGreaterThanOrEqual(0);
    // An init in front (tini) forwards signals only with `--` before the command it runs.
    if (node > 0) {
      expect(entry![0]).toMatch(/tini$/);
      expect(entry![node - 1]).toBe('--');
    }
    // The same node flags the CLI gives the workers it starts itself.
    expect(entry!.slice(node + 1, -1)).toEqual(WORKER_NODE_FLAGS);
    // By its absolute path in the app's directory: the migrate Job and the compose migrate service run
    // in a working directory of their own, where a relative path found no script (scale-out probe).
    expect(entry!.at(-1)).toBe(`${only('WORKDIR').args}/bin/taskfleet.js`);
  });

  it('one image for every role: the default is a worker serving health on the port the HEALTHCHECK asks', () => {
    const cmd = execForm(only('CMD').args)!;
    const worker = parseRole(cmd);
    expect(worker.role).toBe('worker');
    expect(worker.unknown).toEqual([]);
    const port = worker.opts.healthPort as number;
    expect(port).toBeGreaterThan(0);
    expect(only('EXPOSE').args.split(/\s+/)).toContain(String(port));
    for (const role of [['server', '--host', '0.0.0.0'], ['board'], ['migrate', '--legacy-data', '/data/legacy'], ['run', '--legacy-data', '/data/legacy']]) {
      expect(parseRole(role).unknown, role[0]).toEqual([]);
    }
    const check = /^(--\S+\s+)*CMD\s+(\[.*\])$/.exec(only('HEALTHCHECK').args);
    expect(check, 'HEALTHCHECK … CMD [exec form]').not.toBeNull();
    const probe = execForm(check![2]!)!;
    expect(probe[0]).toBe('node');
    const script = probe.join(' ');
    expect(script).toContain('/readyz');
    expect(script).toContain(`'${port}'`);
    // The port variable it reads is the one the worker reads.
    const variable = /process\.env\.([A-Z_]+)/.exec(script)![1]!;
    expect(codeReadsEnv(variable)).toBe(true);
    expect(loadSettings({}, { env: { [variable]: String(port) } }).healthPort).toBe(port);
  });
});

// ---- docker-compose.yml --------------------------------------------------------------------------------

/** A compose implementation: the v2 plugin (`docker compose`), else the standalone `docker-compose`. */
function findCompose(): string[] | null {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8' });
    if (r.status === 0) return cmd;
  }
  return null;
}

function composeConfig(compose: string[], envFile: string) {
  // A clean environment: nothing of the caller's (a POSTGRES_PASSWORD of theirs) leaks into the check.
  return spawnSync(compose[0]!, [...compose.slice(1), '--project-directory', ROOT, '-f', join(ROOT, 'docker-compose.yml'), '--env-file', envFile, '--profile', 'migrate', 'config'], {
    encoding: 'utf8', cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
  });
}

/** The parts of a resolved compose service the tests read (v1 and v2 print some of them differently). */
interface Service {
  build?: unknown; image?: string; command?: string[] | string; container_name?: string; profiles?: string[]; restart?: string;
  environment?: Record<string, string | null> | string[]; ports?: (string | { target: number })[];
  volumes?: (string | { source: string; target: string; read_only?: boolean })[]; working_dir?: string;
  depends_on?: Record<string, { condition?: string }>; healthcheck?: { test?: string[]; disable?: boolean };
  secrets?: unknown[]; stop_grace_period?: string;
}

/** A service's mounts, from the short ("src:dst:ro") or the long form, whichever the implementation prints. */
function mounts(service: Service): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target, readOnly: v.read_only === true };
    const [source, target, mode] = v.split(':');
    return { source: source!, target: target!, readOnly: mode === 'ro' };
  });
}

/** Container ports a service publishes, from "3000:3000/tcp" or { target: 3000 }. */
function publishedTargets(service: Service): number[] {
  return (service.ports ?? []).map((p) => (typeof p === 'string' ? Number(p.split('/')[0]!.split(':').at(-1)) : p.target));
}

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v ?? '']));
}

/** A service's command as an argument list (compose v1 may print the short string form). */
function commandOf(service: Service): string[] {
  return Array.isArray(service.command) ? service.command : String(service.command ?? '').split(/\s+/).filter(Boolean);
}

function healthcheckDisabled(service: Service): boolean {
  const hc = service.healthcheck;
  return hc?.disable === true || (hc?.test?.[0] === 'NONE');
}

const JWT_SECRET = 'x'.repeat(48);

describe('docker-compose.yml', () => {
  const compose = findCompose();
  let dir = '';
  let resolved: { services: Record<string, Service>; volumes?: Record<string, unknown>; secrets?: Record<string, { file: string }> };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tf-compose-'));
    if (!compose) return;
    const envFile = join(dir, 'test.env');
    await writeFile(envFile, [
      'POSTGRES_PASSWORD=compose-test-password', `TASKFLEET_JWT_SECRET=${JWT_SECRET}`,
      `LEGACY_DATA_DIR=${join(dir, 'legacy')}`, 'TASKFLEET_USERS_FILE=./config/users.example.yaml', '',
    ].join('\n'));
    const r = composeConfig(compose, envFile);
    expect(r.status, r.stderr).toBe(0);
    resolved = parseYaml(r.stdout, { merge: true }) as typeof resolved;
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is valid for a real compose implementation (`compose config`)', () => {
    expect(compose, 'no compose implementation: install one (`apt-get install docker-compose`, as .ci/run does)').not.toBeNull();
    expect(Object.keys(resolved.services).sort()).toEqual(['migrate', 'postgres', 'redis', 'server', 'worker']);
  });

  it('refuses to start without its secrets (none is hard-coded, .env.example leaves them empty)', () => {
    // .env.example as shipped: its secrets are empty, and compose says which one is missing.
    const r = composeConfig(compose!, join(ROOT, '.env.example'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/POSTGRES_PASSWORD|TASKFLEET_JWT_SECRET/);
  });

  it('Redis never evicts and keeps an append-only file; Postgres keeps a volume and a healthcheck', () => {
    const redis = resolved.services.redis!;
    const args = commandOf(redis);
    expect(args[args.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
    expect(args[args.indexOf('--appendonly') + 1]).toBe('yes');
    expect(mounts(redis).some((m) => m.target === '/data' && Object.keys(resolved.volumes ?? {}).includes(m.source))).toBe(true);
    const postgres = resolved.services.postgres!;
    expect(mounts(postgres).some((m) => m.target === '/var/lib/postgresql/data' && Object.keys(resolved.volumes ?? {}).includes(m.source))).toBe(true);
    expect((postgres.healthcheck?.test ?? []).join(' ')).toContain('pg_isready');
    expect(environment(postgres).POSTGRES_PASSWORD).toBe('compose-test-password');
  });

  it('every taskfleet service gets only variables the code reads, pointing at the compose services', () => {
    const taskfleet = Object.entries(resolved.services).filter(([, s]) => s.build !== undefined);
    expect(taskfleet.map(([name]) => name).sort()).toEqual(['migrate', 'server', 'worker']);
    for (const [name, service] of taskfleet) {
      const env = environment(service);
      for (const key of Object.keys(env)) expect(codeReadsEnv(key), `${name}: ${key}`).toBe(true);
      const settings = loadSettings({}, { env });
      expect(new URL(settings.databaseUrl).hostname, name).toBe('postgres');
      expect(new URL(settings.redisUrl).hostname, name).toBe('redis');
      expect(new URL(settings.databaseUrl).password).toBe('compose-test-password');
      for (const dep of ['postgres', 'redis']) expect(service.depends_on?.[dep]?.condition, `${name} waits for ${dep}`).toBe('service_healthy');
    }
  });

  it('the server listens beyond loopback, behind logins, on the port compose publishes', () => {
    const server = resolved.services.server!;
    const parsed = parseRole(commandOf(server));
    expect(parsed).toMatchObject({ role: 'server', unknown: [], operands: [] });
    expect(parsed.opts.host).toBe('0.0.0.0');
    expect(parsed.opts.auth).toBe(true);
    expect(publishedTargets(server)).toEqual([parsed.opts.port]);
    expect(environment(server).TASKFLEET_JWT_SECRET).toBe(JWT_SECRET);
    // The users file is a compose secret, mounted where --users reads it.
    const users = String(parsed.opts.users);
    const secretName = users.replace(/^\/run\/secrets\//, '');
    expect(users).toBe(`/run/secrets/${secretName}`);
    expect(Object.keys(resolved.secrets ?? {})).toContain(secretName);
    expect(JSON.stringify(server.secrets)).toContain(secretName);
    expect((server.healthcheck?.test ?? []).join(' ')).toContain(`127.0.0.1:${String(parsed.opts.port)}/readyz`);
  });

  it('workers scale (`--scale worker=8`): no fixed name, no host port, a health check on their health port, time to drain', () => {
    const worker = resolved.services.worker!;
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports ?? []).toEqual([]);
    const parsed = parseRole(commandOf(worker));
    expect(parsed).toMatchObject({ role: 'worker', unknown: [] });
    const healthPort = (parsed.opts.healthPort as number | undefined) ?? loadSettings({}, { env: environment(worker) }).healthPort;
    expect(healthPort).toBeGreaterThan(0);
    expect(healthcheckDisabled(worker)).toBe(false);
    expect((worker.healthcheck?.test ?? []).join(' ')).toContain(`127.0.0.1:${healthPort}/readyz`);
    expect(durationSeconds(worker.stop_grace_period ?? '10s')).toBeGreaterThan(DEFAULT_STEP_TIMEOUT_SECONDS);
  });

  it('the migrate profile runs `taskfleet run` once, on the fleet, over the legacy directory the workers read too', () => {
    const migrate = resolved.services.migrate!;
    expect(migrate.profiles).toEqual(['migrate']);
    expect(migrate.restart).toBe('no');
    expect(healthcheckDisabled(migrate)).toBe(true);
    const parsed = parseRole(commandOf(migrate));
    expect(parsed).toMatchObject({ role: 'run', unknown: [], operands: [] });
    expect(parsed.opts.workers).toBe(0);
    expect(migrate.depends_on?.worker?.condition).toBe('service_healthy');
    // Workers read each chunk from the legacy files at the path the migration recorded: same source, same path.
    const legacy = String(parsed.opts.legacyData);
    const at = (service: Service) => mounts(service).find((m) => m.target === legacy);
    expect(at(migrate)?.source).toBe(join(dir, 'legacy'));
    expect(at(resolved.services.worker!)?.source).toBe(join(dir, 'legacy'));
    expect(at(resolved.services.worker!)?.readOnly).toBe(true);
    // Reports, logs, backups and the archive (relative paths) land in a volume, not in the container.
    expect(mounts(migrate).some((m) => m.target === migrate.working_dir && Object.keys(resolved.volumes ?? {}).includes(m.source))).toBe(true);
  });
});
