// The queue transport: BullMQ on Redis, or BullMQ's Postgres backend, behind one small API.
export { DEFAULT_QUEUE_PREFIX, postgresSchemaForPrefix } from './transport.js';
export type { QueueTransport } from './transport.js';
export { closeQueue, createQueue, EVENTS_STREAM_MAX_LEN, queuesReady } from './queue.js';
export type { CreateQueueOptions, PostgresQueue, RedisQueue, TransportQueue } from './queue.js';
export { createWorker } from './worker.js';
export type { CreateWorkerOptions, JobProcessor, PostgresWorker, RedisWorker, TransportWorker } from './worker.js';
export { ensureTransportReady, redisAnswers } from './readiness.js';
export { queueDepth } from './depth.js';
export type { CountsJobs, QueueDepth } from './depth.js';
export { obliterateQueues } from './obliterate.js';
export { redactUrl } from '../redact-url.js';
export { hashTagOf, parseRedisUrl, RedisUrlError } from './redis-url.js';
export type { RedisEndpoint, RedisNode } from './redis-url.js';
export { lostQueueConnection, TransportUnavailableError } from './errors.js';
