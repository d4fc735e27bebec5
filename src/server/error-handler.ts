// The last two handlers of the app: 404 for paths nobody serves, and the error handler, which turns
// every error into a JSON answer with a message a client can act on — bad JSON 400, a malformed
// %-escape in the URL 400, a body over the limit 413, invalid input 400 (zod), a refused lifecycle gate 409 — and never sends a stack trace:
// an unexpected error is logged with an id, and only the id is returned.
import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
import { GateError } from '../lifecycle/phase-events.js';
import type { Logger } from '../logger.js';

/** The largest request body any endpoint accepts. */
export const BODY_LIMIT = '64kb';

/** An error whose message is meant for the client, with its HTTP status. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

interface BodyParserError extends Error { type?: string; status?: number; expose?: boolean }

export function describeZodError(err: ZodError): string {
  return err.issues.slice(0, 5).map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

export const notFound: RequestHandler = (req, res) => {
  res.status(404).json({ error: `Not found: ${req.method} ${req.path}` });
};

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) {
      // Too late for a clean answer (e.g. a stream broke): end the connection, let express log nothing more.
      logger.warn({ err, path: req.path }, `The answer to ${req.method} ${req.path} failed after it started: ${(err as Error).message}`);
      req.socket.destroy();
      return;
    }
    const e = err as BodyParserError;
    let status = 500;
    let message: string;
    if (err instanceof HttpError) {
      status = err.status;
      message = err.message;
    } else if (err instanceof ZodError) {
      status = 400;
      message = `Invalid request: ${describeZodError(err)}`;
    } else if (err instanceof GateError) {
      status = 409;
      message = err.message;
    } else if (e.type === 'entity.parse.failed') {
      status = 400;
      message = 'The request body is not valid JSON';
    } else if (e.type === 'entity.too.large') {
      status = 413;
      message = `The request body is too large (the limit is ${BODY_LIMIT})`;
    } else if (err instanceof URIError && e.status === 400) {
      // Express could not decode a path parameter: the client sent a broken %-escape.
      message = `The URL is not valid: it has a malformed %-escape (${err.message}); escape a literal % as %25`;
      status = 400;
    } else if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      status = e.status;
      message = e.expose !== false && e.message ? e.message : 'The request was not understood';
    } else {
      const id = randomUUID();
      logger.error({ err, errorId: id, method: req.method, path: req.path }, `${req.method} ${req.path} failed: ${(err as Error)?.message ?? String(err)}`);
      message = `Internal error (logged as ${id})`;
    }
    res.status(status).json({ error: message });
  };
}
