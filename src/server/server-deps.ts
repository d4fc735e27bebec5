// What every part of the operations server (`taskfleet server`) is built from: the ledger's database,
// the queues Bull Board and the metrics look at, the settings and the logger. The server's modules
// (auth, audit, progress API, metrics, health, Bull Board) each take these and return an Express router.
import type { Settings } from '../config/settings.js';
import type { Logger } from '../logger.js';
import type { TransportQueue } from '../queue/index.js';
import type { QueueTransport } from '../queue/transport.js';
import type { Pool } from '../store/pool.js';

export interface ServerDeps {
  settings: Settings;
  logger: Logger;
  /** The new system's database: ledger, tms and ops schemas. */
  db: Pool;
  transport: QueueTransport;
  /** Every taskfleet queue (migrate, workflows), opened once by the server. */
  queues: ReadonlyMap<string, TransportQueue<unknown>>;
}

/** Who a request is, once authenticated (absent with --no-auth: the server runs as `local-admin`). */
export type Role = 'viewer' | 'operator' | 'admin';

export interface Principal {
  username: string;
  role: Role;
}
