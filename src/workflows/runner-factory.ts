// Picks the process's WorkflowRunner from the Dagger config's `runner` setting: `local`, `dagger` (which
// must find an engine at start-up), or `auto` (Dagger when an engine is reachable, else local). The
// choice and its reason are logged once.
import { Socket } from 'node:net';
import { readDaggerEnvironment, type DaggerEnvironment } from '../config/dagger-environment.js';
import { ConfigError } from '../config/errors.js';
import type { Logger } from '../logger.js';
import type { DaggerConfig } from './dagger-config.js';
import { createDaggerRunner } from './dagger-runner.js';
import { createForkedLocalRunner } from './forked-local-runner.js';
import type { WorkflowRunner } from './types.js';

export interface RunnerFactoryOptions {
  logger: Logger;
  /** Where a Dagger engine may be found (default: read from the environment by src/config). */
  env?: DaggerEnvironment;
  /** How long the session port may take to accept a connection. */
  probeTimeoutMs?: number;
}

/** Whether something accepts TCP connections on 127.0.0.1:port (where the SDK will send its queries). */
export function portAnswers(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (answers: boolean): void => {
      socket.destroy();
      resolve(answers);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1');
  });
}

type Engine = { found: true; reason: string } | { found: false; reason: string };

async function findEngine(env: DaggerEnvironment, probeTimeoutMs: number): Promise<Engine> {
  if (env.sessionPort !== undefined) {
    const port = Number(env.sessionPort);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ConfigError(`DAGGER_SESSION_PORT must be a TCP port number, got "${env.sessionPort}"`);
    }
    if (env.sessionToken === undefined) {
      throw new ConfigError('DAGGER_SESSION_PORT is set but DAGGER_SESSION_TOKEN is not: set both (as `dagger run` does) or neither');
    }
    return (await portAnswers(port, probeTimeoutMs))
      ? { found: true, reason: `a Dagger session answers on 127.0.0.1:${port} (DAGGER_SESSION_PORT)` }
      : { found: false, reason: `DAGGER_SESSION_PORT=${port} is set but nothing answers on 127.0.0.1:${port}` };
  }
  if (env.cliPath !== undefined) {
    return { found: true, reason: `the dagger CLI ${env.cliPath} will start an engine session` };
  }
  return { found: false, reason: 'no Dagger session (DAGGER_SESSION_PORT is not set) and no dagger CLI on PATH or in DAGGER_CLI' };
}

export async function createRunner(config: DaggerConfig, opts: RunnerFactoryOptions): Promise<WorkflowRunner> {
  const { logger } = opts;
  const env = opts.env ?? readDaggerEnvironment();
  const probeTimeoutMs = opts.probeTimeoutMs ?? 1000;
  const dagger = (): WorkflowRunner => createDaggerRunner({ retry: config.retry, logger });
  // Steps are forked from a small helper process, not from the worker (src/workflows/forked-local-runner.ts).
  const local = (): WorkflowRunner => createForkedLocalRunner({ logger });

  switch (config.runner) {
    case 'local':
      logger.info({ runner: 'local', setting: 'local' }, 'Workflows run as local processes (runner: local); step images are not used');
      return local();
    case 'dagger': {
      const engine = await findEngine(env, probeTimeoutMs);
      if (!engine.found) {
        throw new ConfigError(
          `runner: dagger, but no Dagger engine is available: ${engine.reason}. Run the worker under \`dagger run\`, ` +
            'install the dagger CLI, or set runner to local or auto in the Dagger config',
        );
      }
      logger.info({ runner: 'dagger', setting: 'dagger' }, `Workflows run on Dagger (runner: dagger): ${engine.reason}`);
      return dagger();
    }
    case 'auto': {
      const engine = await findEngine(env, probeTimeoutMs);
      if (engine.found) {
        logger.info({ runner: 'dagger', setting: 'auto' }, `Workflows run on Dagger (runner: auto): ${engine.reason}`);
        return dagger();
      }
      logger.info({ runner: 'local', setting: 'auto' }, `Workflows run as local processes (runner: auto): ${engine.reason}; step images are not used`);
      return local();
    }
  }
}
