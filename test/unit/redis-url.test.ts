// The Redis URL: one Redis or a cluster's nodes, credentials, TLS, db numbers, and clear errors that never
// show the password; the cluster options per role; the hash tag a cluster prefix needs.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { DEFAULT_SETTINGS, loadSettings } from '../../src/config/settings.js';
import { transportOf } from '../../src/queue/queue-names.js';
import { clusterOptions } from '../../src/queue/redis-options.js';
import { hashTagOf, parseRedisUrl, redisEndpointFor, RedisUrlError } from '../../src/queue/redis-url.js';
import { redactUrl } from '../../src/redact-url.js';

function errorOf(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('parseRedisUrl: one Redis', () => {
  it('reads host, port, db and keeps the URL for ioredis', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/0')).toEqual({
      mode: 'single', tls: false, nodes: [{ host: '127.0.0.1', port: 6379 }], db: 0, singleUrl: 'redis://127.0.0.1:6379/0',
    });
    expect(parseRedisUrl('redis://cache')).toMatchObject({ nodes: [{ host: 'cache', port: 6379 }], db: 0 });
    expect(parseRedisUrl('redis://cache:6380/5')).toMatchObject({ mode: 'single', db: 5 });
    expect(parseRedisUrl('redis://[::1]:6380')).toMatchObject({ nodes: [{ host: '::1', port: 6380 }] });
    // Other query options are ioredis's business, as before.
    expect(parseRedisUrl('redis://h:1/2?family=6').singleUrl).toBe('redis://h:1/2?family=6');
  });

  it('rediss:// is TLS', () => {
    expect(parseRedisUrl('rediss://default:pw@cache.example.com:6380/1')).toMatchObject({
      mode: 'single', tls: true, username: 'default', password: 'pw', db: 1,
    });
  });

  it('?cluster=false is a single Redis and is taken out of the URL ioredis sees', () => {
    expect(parseRedisUrl('redis://h:7000/3?cluster=false&family=4')).toMatchObject({
      mode: 'single', db: 3, singleUrl: 'redis://h:7000/3?family=4',
    });
    expect(parseRedisUrl('redis://h:7000?cluster=false').singleUrl).toBe('redis://h:7000');
  });
});

describe('parseRedisUrl: a cluster', () => {
  it('several hosts are the seed nodes of a cluster', () => {
    expect(parseRedisUrl('redis://10.0.0.1:7000,10.0.0.2:7001,node-3')).toEqual({
      mode: 'cluster', tls: false, db: 0,
      nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: 'node-3', port: 6379 }],
    });
    expect(parseRedisUrl('redis://a:1,b:2/0')).toMatchObject({ mode: 'cluster', db: 0 });
    expect(parseRedisUrl('redis://[::1]:7000,[::1]:7001').nodes).toEqual([{ host: '::1', port: 7000 }, { host: '::1', port: 7001 }]);
  });

  it('?cluster=true makes one seed node a cluster', () => {
    expect(parseRedisUrl('redis://seed:7000?cluster=true')).toMatchObject({ mode: 'cluster', nodes: [{ host: 'seed', port: 7000 }] });
    expect(parseRedisUrl('rediss://u:p@seed:7000/0?cluster=1')).toMatchObject({ mode: 'cluster', tls: true, username: 'u', password: 'p' });
  });

  it('credentials apply to every node; special characters, percent-encoded or not', () => {
    expect(parseRedisUrl('redis://app:p%40ss%2Fw%3Ard%2C%25@a:1,b:2')).toMatchObject({ username: 'app', password: 'p@ss/w:rd,%' });
    // Unencoded @ , and : in a password: the credentials run to the last @, the user name to the first :
    expect(parseRedisUrl('redis://app:p@ss,w:rd@a:1,b:2')).toMatchObject({
      username: 'app', password: 'p@ss,w:rd', nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }],
    });
    expect(parseRedisUrl('redis://:only-password@a:1,b:2')).toEqual(expect.objectContaining({ password: 'only-password' }));
    expect(parseRedisUrl('redis://:only-password@a:1,b:2')).not.toHaveProperty('username');
    expect(parseRedisUrl('redis://just-a-user@a:1,b:2')).toEqual(expect.objectContaining({ username: 'just-a-user' }));
    expect(parseRedisUrl('redis://just-a-user@a:1,b:2')).not.toHaveProperty('password');
  });

  it('has only database 0', () => {
    const err = errorOf(() => parseRedisUrl('redis://:s3cret@a:1,b:2/3'));
    expect(err).toBeInstanceOf(RedisUrlError);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      'Redis URL redis://:***@a:1,b:2/3: selects database 3, but a Redis Cluster has only database 0: drop the /3 (use a prefix of its own to keep runs apart)',
    );
    expect(errorOf(() => parseRedisUrl('redis://a:1?cluster=true/2')).message).toContain('cluster=true/2 is neither true nor false');
    expect(errorOf(() => parseRedisUrl('redis://a:1/2?cluster=true')).message).toContain('only database 0');
  });

  it('takes no other query options, and cluster=false contradicts several hosts', () => {
    expect(errorOf(() => parseRedisUrl('redis://a:1,b:2?family=6')).message).toContain('query options (family)');
    expect(errorOf(() => parseRedisUrl('redis://a:1,b:2?cluster=false')).message).toContain('lists 2 hosts but says cluster=false');
    expect(errorOf(() => parseRedisUrl('redis://a:1?cluster=maybe')).message).toContain('cluster=maybe is neither true nor false');
  });
});

describe('parseRedisUrl: errors name the URL without its password', () => {
  it.each([
    ['http://u:s3cret@h:1', 'http://u:***@h:1', 'must be a redis:// URL'],
    ['redis://u:s3cret@a:70000,b:2', 'redis://u:***@a:70000,b:2', 'the port of host a is "70000", not a number from 1 to 65535'],
    ['redis://u:s3cret@a:1,b:x', 'redis://u:***@a:1,b:x', 'the port of host b is "x"'],
    ['redis://u:s3cret@a:0', 'redis://u:***@a:0', 'the port of host a is "0"'],
    ['redis://u:s3cret@a:1,,b:2', 'redis://u:***@a:1,,b:2', 'an empty host'],
    ['redis://u:s3cret@a:1,', 'redis://u:***@a:1,', 'an empty host'],
    ['redis://u:s3cret@', 'redis://u:***@', 'names no host'],
    ['redis://u:s3cret@::1:6379', 'redis://u:***@::1:6379', 'IPv6 address in brackets'],
    ['redis://u:s3cret@h/db', 'redis://u:***@h/db', 'is not a database number'],
    ['redis://u:s3cr%ZZet@h', 'redis://u:***@h', 'the password is not valid percent-encoding'],
    // An unencoded / in the password ends the host part early: the whole user-info is masked.
    ['redis://u:s3c/ret@h:1,j:2', 'redis://***@h:1,j:2', 'percent-encode / ? # in the password'],
    ['redis://u:s3c#ret@h:1', 'redis://***@h:1', 'percent-encode / ? # in the password'],
  ])('%s', (url, shown, problem) => {
    const err = errorOf(() => parseRedisUrl(url));
    expect(err).toBeInstanceOf(RedisUrlError);
    expect(err.message).toContain(`Redis URL ${shown}: `);
    expect(err.message).toContain(problem);
    expect(err.message).not.toContain('s3c');
  });
});

describe('settings', () => {
  it('REDIS_URL may list a cluster\'s nodes', () => {
    const settings = loadSettings({}, { env: { REDIS_URL: 'redis://:pw@127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002' } });
    expect(settings.redisUrl).toBe('redis://:pw@127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002');
    expect(transportOf(settings)).toEqual({ kind: 'redis', url: settings.redisUrl, prefix: DEFAULT_SETTINGS.prefix });
  });

  it('a bad REDIS_URL is a ConfigError naming the setting, without the password', () => {
    const err = errorOf(() => loadSettings({}, { env: { REDIS_URL: 'redis://:hunter2@a:1,b:2/4' } }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/^Invalid setting redisUrl \(REDIS_URL\): Redis URL redis:\/\/:\*\*\*@a:1,b:2\/4: selects database 4/);
    expect(err.message).not.toContain('hunter2');
  });

  it('a cluster with a prefix that has no hash tag is refused, naming the prefix and the fix', () => {
    const settings = loadSettings({ prefix: 'tf-plain' }, { env: { REDIS_URL: 'redis://:hunter2@a:1,b:2' } });
    const err = errorOf(() => transportOf(settings));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('The queue prefix "tf-plain" has no hash tag, and redis://:***@a:1,b:2 is a Redis Cluster');
    expect(err.message).toContain('--prefix "{tf-plain}"');
    expect(err.message).not.toContain('hunter2');
    // One Redis does not care, and the Postgres backend ignores the Redis URL.
    expect(transportOf(loadSettings({ prefix: 'tf-plain' }, { env: { REDIS_URL: 'redis://a:1' } })).prefix).toBe('tf-plain');
    expect(transportOf(loadSettings({ prefix: 'tf-plain', queueBackend: 'postgres' }, { env: { REDIS_URL: 'redis://a:1,b:2' } })).kind).toBe('postgres');
  });
});

describe('hashTagOf', () => {
  it.each([
    ['{taskfleet}', 'taskfleet'],
    ['{tf-cluster-1a2b}', 'tf-cluster-1a2b'],
    ['app{jobs}.v2', 'jobs'],
    ['{a}{b}', 'a'],
    ['taskfleet', null],
    ['{}taskfleet', null],
    ['{taskfleet', null],
    ['}taskfleet{', null],
  ])('%s -> %s', (prefix, tag) => {
    expect(hashTagOf(prefix)).toBe(tag);
  });

  it('redisEndpointFor accepts a tagged prefix on a cluster, and any prefix on one Redis', () => {
    expect(redisEndpointFor('redis://a:1,b:2', '{tf}').mode).toBe('cluster');
    expect(redisEndpointFor('redis://a:1', 'tf').mode).toBe('single');
    expect(() => redisEndpointFor('redis://a:1?cluster=true', '{}tf')).toThrow(/has no hash tag/);
  });
});

describe('clusterOptions', () => {
  const endpoint = parseRedisUrl('rediss://app:pw@a:1,b:2');

  it('producers fail fast: no offline queue, one retry', () => {
    const opts = clusterOptions('producer', endpoint);
    expect(opts).toMatchObject({
      lazyConnect: true, enableOfflineQueue: false,
      redisOptions: { username: 'app', password: 'pw', tls: {}, maxRetriesPerRequest: 1 },
    });
  });

  it('workers wait: maxRetriesPerRequest null, the offline queue left on, no command timeout', () => {
    const opts = clusterOptions('worker', endpoint);
    expect(opts.redisOptions).toEqual({ username: 'app', password: 'pw', tls: {}, maxRetriesPerRequest: null });
    expect(opts).not.toHaveProperty('enableOfflineQueue');
    expect(opts.redisOptions).not.toHaveProperty('commandTimeout');
    expect(typeof opts.dnsLookup).toBe('function');
  });

  it('no TLS, no credentials: none in the options', () => {
    const opts = clusterOptions('worker', parseRedisUrl('redis://a:1,b:2'));
    expect(opts.redisOptions).toEqual({ maxRetriesPerRequest: null });
    expect(opts).not.toHaveProperty('dnsLookup');
  });
});

describe('redactUrl and the multi-host form', () => {
  it.each([
    ['redis://:s3cret@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002', 'redis://:***@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002'],
    ['rediss://app:p@ss,w@a:1,b:2/0?cluster=true', 'rediss://app:***@a:1,b:2/0?cluster=true'],
    ['redis://a:1,b:2', 'redis://a:1,b:2'],
    ['redis://app@a:1,b:2', 'redis://app@a:1,b:2'],
    // the password as a query parameter, which pg and ioredis both accept
    ['postgres://postgres@db:5432/tms?password=QryS3cret', 'postgres://postgres@db:5432/tms?password=***'],
    ['redis://h:6379/12?password=s3c&db=1', 'redis://h:6379/12?password=***&db=1'],
    ['postgres://u:pw@db/tms?sslmode=require&sslpassword=k3y#x', 'postgres://u:***@db/tms?sslmode=require&sslpassword=***#x'],
  ])('%s -> %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});
