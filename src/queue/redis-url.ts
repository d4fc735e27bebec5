// The one reader of REDIS_URL: a single Redis, or the seed nodes of a Redis Cluster.
//
//   redis[s]://[user[:password]@]host[:port][/db][?query]                 one Redis (as before)
//   redis[s]://[user[:password]@]host1:port1,host2:port2,…[/0]            a Redis Cluster: several seed nodes
//   redis[s]://[user[:password]@]host[:port][/0]?cluster=true             a Redis Cluster from one seed node
//
// Kept free of ioredis and BullMQ imports: the settings validate the URL with it at start-up.
import { ConfigError } from '../config/errors.js';
import { redactUrl } from '../redact-url.js';

export interface RedisNode {
  host: string;
  port: number;
}

export interface RedisEndpoint {
  /** 'cluster' when the URL lists several nodes or says `?cluster=true`. */
  mode: 'single' | 'cluster';
  /** rediss:// */
  tls: boolean;
  username?: string;
  password?: string;
  /** One node for a single Redis; the seed nodes (startup nodes) of a cluster. */
  nodes: RedisNode[];
  /** The database number; always 0 on a cluster, which has no other. */
  db: number;
  /**
   * A single Redis: the URL to give ioredis, which reads the rest of it (db, query options such as
   * `?family=6`) as it always did; `cluster=false` is taken out. Undefined for a cluster.
   */
  singleUrl?: string;
}

export const DEFAULT_REDIS_PORT = 6379;

/** Thrown for a REDIS_URL that cannot be used; the message names the URL with its password masked. */
export class RedisUrlError extends ConfigError {
  override name = 'RedisUrlError';

  constructor(url: string, problem: string) {
    super(`Redis URL ${maskForMessage(url)}: ${problem}`);
  }
}

const SCHEME = /^(rediss?):\/\//i;
const CLUSTER_PARAM = 'cluster';

/**
 * Parses a Redis URL. Several hosts (comma separated) make a cluster; so does `?cluster=true` with one.
 * The password may hold any character percent-encoded (`/` → `%2F`, `?` → `%3F`, `#` → `%23`, `%` → `%25`);
 * an unencoded `@`, `:` or `,` also works: the credentials run up to the last `@` before the first `/`, `?`
 * or `#` (as in WHATWG URLs, which ioredis uses), the user name up to the first `:`.
 */
export function parseRedisUrl(url: string): RedisEndpoint {
  const scheme = SCHEME.exec(url);
  if (!scheme) throw new RedisUrlError(url, 'must be a redis:// URL (rediss:// for TLS)');
  const tls = scheme[1]!.toLowerCase() === 'rediss';
  const rest = url.slice(scheme[0].length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd < 0 ? '' : rest.slice(authorityEnd);

  if (tail.includes('@')) {
    // Most likely a password with an unencoded / ? or #, which ends the host part early. Stop before any
    // message quotes a piece of it as a host name.
    throw new RedisUrlError(url, 'has an @ after its host part: percent-encode / ? # in the password (%2F %3F %23)');
  }
  const at = authority.lastIndexOf('@');
  const credentials = at < 0 ? null : authority.slice(0, at);
  const hostList = at < 0 ? authority : authority.slice(at + 1);
  const { username, password } = credentials === null ? {} : parseCredentials(url, credentials);

  if (hostList === '') throw new RedisUrlError(url, 'names no host');
  const nodes = hostList.split(',').map((spec) => parseNode(url, spec));

  const { path, query, fragment } = splitTail(tail);
  if (fragment !== '') throw new RedisUrlError(url, `has a #fragment (${fragment}); a Redis URL has none (percent-encode a # in the password as %23)`);
  const params = new URLSearchParams(query);
  const clusterParam = params.getAll(CLUSTER_PARAM);
  if (clusterParam.length > 1) throw new RedisUrlError(url, `sets ${CLUSTER_PARAM}= more than once`);
  const clusterFlag = clusterParam.length === 0 ? undefined : parseFlag(url, clusterParam[0]!);

  const db = parseDb(url, path);
  const several = nodes.length > 1;
  if (several && clusterFlag === false) {
    throw new RedisUrlError(url, `lists ${nodes.length} hosts but says ${CLUSTER_PARAM}=false: several hosts are the seed nodes of a Redis Cluster`);
  }
  const mode = several || clusterFlag === true ? 'cluster' : 'single';
  const auth = { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };

  if (mode === 'single') {
    const pathStart = url.length - tail.length;
    return { mode, tls, ...auth, nodes, db, singleUrl: clusterParam.length === 0 ? url : withoutParam(url, pathStart, path, params) };
  }
  if (db !== 0) {
    throw new RedisUrlError(url, `selects database ${db}, but a Redis Cluster has only database 0: drop the /${db} (use a prefix of its own to keep runs apart)`);
  }
  const others = [...new Set([...params.keys()].filter((k) => k !== CLUSTER_PARAM))];
  if (others.length > 0) {
    throw new RedisUrlError(url, `has query options (${others.join(', ')}) a cluster URL does not take: only ${CLUSTER_PARAM}=true|false`);
  }
  return { mode, tls, ...auth, nodes, db };
}

/** The problem with a Redis URL, or null when it parses: for the settings' validation. */
export function redisUrlProblem(url: string): string | null {
  try {
    parseRedisUrl(url);
    return null;
  } catch (err) {
    if (err instanceof RedisUrlError) return err.message;
    throw err;
  }
}

function parseCredentials(url: string, credentials: string): { username?: string; password?: string } {
  const colon = credentials.indexOf(':');
  const rawUser = colon < 0 ? credentials : credentials.slice(0, colon);
  const rawPassword = colon < 0 ? undefined : credentials.slice(colon + 1);
  const username = rawUser === '' ? undefined : decode(url, rawUser, 'user name');
  const password = rawPassword === undefined || rawPassword === '' ? undefined : decode(url, rawPassword, 'password');
  // As in ioredis: redis://name@host is a user name without a password (no AUTH); redis://:secret@host a password.
  return { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

function decode(url: string, text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new RedisUrlError(url, `the ${what} is not valid percent-encoding (write a literal % as %25)`);
  }
}

function parseNode(url: string, spec: string): RedisNode {
  if (spec === '') throw new RedisUrlError(url, 'has an empty host in its host list (two commas in a row, or a comma at an end)');
  let host: string;
  let portText: string | undefined;
  if (spec.startsWith('[')) {
    // An IPv6 address: [::1]:6379
    const close = spec.indexOf(']');
    if (close < 0) throw new RedisUrlError(url, `host ${spec} opens a [ it does not close`);
    host = spec.slice(1, close);
    const after = spec.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new RedisUrlError(url, `host ${spec}: expected :port after ]`);
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = spec.lastIndexOf(':');
    if (colon >= 0 && spec.indexOf(':') !== colon) {
      throw new RedisUrlError(url, `host ${spec}: write an IPv6 address in brackets, e.g. [::1]:6379`);
    }
    host = colon < 0 ? spec : spec.slice(0, colon);
    portText = colon < 0 ? undefined : spec.slice(colon + 1);
  }
  if (host === '') throw new RedisUrlError(url, `host ${spec} has no host name`);
  if (!/^[A-Za-z0-9._~:%-]+$/.test(host)) throw new RedisUrlError(url, `host ${JSON.stringify(host)} is not a host name or address`);
  if (portText === undefined) return { host, port: DEFAULT_REDIS_PORT };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new RedisUrlError(url, `the port of host ${host} is ${JSON.stringify(portText)}, not a number from 1 to 65535`);
  }
  return { host, port: Number(portText) };
}

function splitTail(tail: string): { path: string; query: string; fragment: string } {
  const hash = tail.indexOf('#');
  const beforeHash = hash < 0 ? tail : tail.slice(0, hash);
  const fragment = hash < 0 ? '' : tail.slice(hash + 1);
  const q = beforeHash.indexOf('?');
  return { path: q < 0 ? beforeHash : beforeHash.slice(0, q), query: q < 0 ? '' : beforeHash.slice(q + 1), fragment };
}

function parseDb(url: string, path: string): number {
  if (path === '' || path === '/') return 0;
  const db = path.slice(1);
  if (!/^\d{1,5}$/.test(db)) throw new RedisUrlError(url, `the path ${JSON.stringify(path)} is not a database number (redis://host:6379/5)`);
  return Number(db);
}

function parseFlag(url: string, value: string): boolean {
  const v = value.toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new RedisUrlError(url, `${CLUSTER_PARAM}=${value} is neither true nor false`);
}

/** The URL up to its path, the path, and the query without `cluster`: what ioredis gets for a single Redis. */
function withoutParam(url: string, pathStart: number, path: string, params: URLSearchParams): string {
  params.delete(CLUSTER_PARAM);
  const query = params.toString();
  return `${url.slice(0, pathStart)}${path}${query === '' ? '' : `?${query}`}`;
}

/**
 * For error messages: the URL with its password masked. When the URL is too broken for redactUrl to see a
 * password (an unencoded / in it, say), everything up to the last @ is masked instead.
 */
function maskForMessage(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  const at = url.lastIndexOf('@');
  if (!scheme || at < scheme[0].length) return url;
  const authorityEnd = url.slice(scheme[0].length).search(/[/?#]/);
  if (authorityEnd < 0 || at < scheme[0].length + authorityEnd) return redactUrl(url);
  return `${scheme[0]}***${url.slice(at)}`;
}

/**
 * Redis Cluster hashes a key by its hash tag: the text between the first `{` and the next `}`, when that
 * text is not empty. A prefix with one puts every key of every queue under it in one slot.
 */
export function hashTagOf(prefix: string): string | null {
  const open = prefix.indexOf('{');
  if (open < 0) return null;
  const close = prefix.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return null;
  return prefix.slice(open + 1, close);
}

/**
 * The endpoint of a Redis transport, checked against its key prefix: on a cluster the prefix must carry a
 * hash tag, because BullMQ's Lua scripts touch several keys of a queue at once and Redis Cluster runs a
 * script only when all its keys hash to one slot (else CROSSSLOT). Throws ConfigError.
 */
export function redisEndpointFor(url: string, prefix: string): RedisEndpoint {
  const endpoint = parseRedisUrl(url);
  if (endpoint.mode === 'cluster' && hashTagOf(prefix) === null) {
    throw new ConfigError(
      `The queue prefix ${JSON.stringify(prefix)} has no hash tag, and ${maskForMessage(url)} is a Redis Cluster: ` +
        'BullMQ\'s Lua scripts touch several keys of a queue at once, which on a cluster must hash to one slot. ' +
        `Put the prefix (or part of it) in braces, e.g. --prefix "{${prefix.replace(/[{}]/g, '') || 'taskfleet'}}" ` +
        '(or TASKFLEET_PREFIX; the default {taskfleet} has one).',
    );
  }
  return endpoint;
}
