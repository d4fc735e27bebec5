// A fake Dagger engine session on loopback, for driving the real @dagger.io/dagger SDK without an engine.
// The SDK posts GraphQL to http://127.0.0.1:$DAGGER_SESSION_PORT/query with Basic auth "$TOKEN:"; this
// server checks the token, records every query (raw and parsed into its chain of fields), and answers
// with data nested like the query. It can be scripted to fail a request: HTTP 500, a reset socket, or an
// EXEC_ERROR (a command that exited non-zero).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type GraphQLValue = string | number | boolean | null | GraphQLValue[] | { [name: string]: GraphQLValue };

/** One field of a query: its name, its arguments, and the fields selected under it. */
export interface QueryField {
  name: string;
  args: Record<string, GraphQLValue>;
  selections: QueryField[];
}

export interface RecordedQuery {
  /** 1-based, over every request the server received. */
  n: number;
  authorized: boolean;
  text: string;
  /** The top-level selections of the query document. */
  fields: QueryField[];
  /** What the server did with it. */
  answer: 'data' | 'unauthorized' | 'http-500' | 'reset' | 'exec-error' | 'graphql-error';
}

export type ScriptedFailure =
  | { kind: 'http-500' }
  | { kind: 'reset' }
  | { kind: 'exec-error'; exitCode: number; stdout?: string; stderr?: string }
  /** HTTP 200 with a GraphQL error that is not an exec error (e.g. an image that cannot be pulled). */
  | { kind: 'graphql-error'; message: string };

export interface ScriptEntry {
  /** Fail the Nth request (1-based, counting every request) … */
  nth?: number;
  /** … or the next requests whose query matches. */
  match?: (query: RecordedQuery) => boolean;
  /** How many matching requests to fail (default 1). */
  times?: number;
  failure: ScriptedFailure;
}

export interface FakeDaggerSession {
  port: number;
  token: string;
  readonly queries: RecordedQuery[];
  /** Adds failures to the script. */
  fail(entry: ScriptEntry): void;
  /** stdout a `withExec(args)` produces (default: `ran <args joined by space>\n`). */
  stdoutFor: (args: string[]) => string;
  stderrFor: (args: string[]) => string;
  /** Stops answering: the request is held until `release()` (for timeouts). */
  hold(match: (query: RecordedQuery) => boolean): { release: () => void };
  close(): Promise<void>;
}

// ---- a small parser for the GraphQL the SDK writes: `{ a (x: "v") { b { c } } }`, inline fragments, literals ----

type Token = { kind: 'punct' | 'name' | 'string' | 'number'; text: string };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if (/[\s,]/.test(ch)) {
      i++;
    } else if (src.startsWith('...', i)) {
      tokens.push({ kind: 'punct', text: '...' });
      i += 3;
    } else if ('{}()[]:'.includes(ch)) {
      tokens.push({ kind: 'punct', text: ch });
      i++;
    } else if (ch === '"') {
      let j = i + 1;
      while (src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      tokens.push({ kind: 'string', text: src.slice(i, j + 1) });
      i = j + 1;
    } else if (/[-0-9]/.test(ch)) {
      const m = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(src.slice(i))!;
      tokens.push({ kind: 'number', text: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_]\w*/.exec(src.slice(i))!;
      tokens.push({ kind: 'name', text: m[0] });
      i += m[0].length;
    } else {
      throw new Error(`fake Dagger session: unexpected character ${JSON.stringify(ch)} at ${i} in ${src}`);
    }
  }
  return tokens;
}

export function parseQuery(src: string): QueryField[] {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const take = (text?: string): Token => {
    const t = tokens[pos++];
    if (t === undefined || (text !== undefined && t.text !== text)) {
      throw new Error(`fake Dagger session: expected ${text ?? 'a token'} at token ${pos - 1} in ${src}`);
    }
    return t;
  };
  const value = (): GraphQLValue => {
    const t = take();
    if (t.kind === 'string') return JSON.parse(t.text) as string; // the SDK writes strings with JSON.stringify
    if (t.kind === 'number') return Number(t.text);
    if (t.text === '[') {
      const list: GraphQLValue[] = [];
      while (peek()?.text !== ']') list.push(value());
      take(']');
      return list;
    }
    if (t.text === '{') {
      const obj: Record<string, GraphQLValue> = {};
      while (peek()?.text !== '}') {
        const key = take().text;
        take(':');
        obj[key] = value();
      }
      take('}');
      return obj;
    }
    if (t.text === 'true') return true;
    if (t.text === 'false') return false;
    if (t.text === 'null') return null;
    return t.text; // an enum value
  };
  const selectionSet = (): QueryField[] => {
    take('{');
    const fields: QueryField[] = [];
    while (peek()?.text !== '}') {
      if (peek()?.text === '...') {
        take('...');
        take('on');
        take();
        fields.push(...selectionSet());
        continue;
      }
      const name = take().text;
      const args: Record<string, GraphQLValue> = {};
      if (peek()?.text === '(') {
        take('(');
        while (peek()?.text !== ')') {
          const key = take().text;
          take(':');
          args[key] = value();
        }
        take(')');
      }
      fields.push({ name, args, selections: peek()?.text === '{' ? selectionSet() : [] });
    }
    take('}');
    return fields;
  };
  return selectionSet();
}

/** The chain of a one-path query (the only shape the SDK sends): outermost field first. */
export function chainOf(query: RecordedQuery): QueryField[] {
  const chain: QueryField[] = [];
  let level = query.fields;
  while (level.length > 0) {
    const field = level[0]!;
    chain.push(field);
    level = field.selections;
  }
  return chain;
}

/** The args of the last `withExec` in a query, if any. */
function execArgsOf(fields: QueryField[]): string[] | undefined {
  let found: string[] | undefined;
  const walk = (level: QueryField[]): void => {
    for (const f of level) {
      if (f.name === 'withExec') found = f.args.args as string[];
      walk(f.selections);
    }
  };
  walk(fields);
  return found;
}

export async function startFakeDaggerSession(token = 'fake-session-token'): Promise<FakeDaggerSession> {
  const queries: RecordedQuery[] = [];
  const script: Array<ScriptEntry & { left: number }> = [];
  const holds: Array<{ match: (q: RecordedQuery) => boolean; waiting: Array<() => void>; released: boolean }> = [];
  const expectedAuth = `Basic ${Buffer.from(`${token}:`).toString('base64')}`;
  let idCounter = 0;

  const session: FakeDaggerSession = {
    port: 0,
    token,
    queries,
    fail(entry) {
      script.push({ ...entry, left: entry.times ?? 1 });
    },
    stdoutFor: (args) => `ran ${args.join(' ')}\n`,
    stderrFor: () => '',
    hold(match) {
      const hold = { match, waiting: [] as Array<() => void>, released: false };
      holds.push(hold);
      return {
        release: () => {
          hold.released = true;
          for (const go of hold.waiting.splice(0)) go();
        },
      };
    },
    close: () => closeServer(server),
  };

  // Data shaped like the query: one nested object per field, leaves answered by name.
  // A cache volume's id is stable per key (engine ids are content-addressed), so a retried query is identical.
  const answer = (fields: QueryField[], execArgs: string[] | undefined, parent?: QueryField): Record<string, unknown> => {
    const data: Record<string, unknown> = {};
    for (const f of fields) {
      if (f.selections.length > 0) {
        data[f.name] = answer(f.selections, execArgs, f);
        continue;
      }
      if (f.name === 'id' && parent?.name === 'cacheVolume') {
        data[f.name] = `CacheVolume:${JSON.stringify(parent.args.key)}`;
        continue;
      }
      switch (f.name) {
        case 'version': data[f.name] = 'v0.21.9'; break;
        case 'stdout': data[f.name] = session.stdoutFor(execArgs ?? []); break;
        case 'stderr': data[f.name] = session.stderrFor(execArgs ?? []); break;
        case 'combinedOutput': data[f.name] = session.stdoutFor(execArgs ?? []) + session.stderrFor(execArgs ?? []); break;
        case 'exitCode': data[f.name] = 0; break;
        case 'id': case 'sync': data[f.name] = `fake-id-${++idCounter}`; break;
        default: data[f.name] = null;
      }
    }
    return data;
  };

  const scriptedFailure = (q: RecordedQuery): ScriptedFailure | undefined => {
    for (const entry of script) {
      if (entry.left <= 0) continue;
      const hit = entry.nth !== undefined ? entry.nth === q.n : entry.match?.(q) === true;
      if (hit) {
        entry.left--;
        return entry.failure;
      }
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { query?: string };
    const text = body.query ?? '';
    const q: RecordedQuery = {
      n: queries.length + 1,
      authorized: req.headers.authorization === expectedAuth,
      text,
      fields: parseQuery(text),
      answer: 'data',
    };
    queries.push(q);
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (!q.authorized) {
      q.answer = 'unauthorized';
      send(401, { errors: [{ message: 'unauthorized' }] });
      return;
    }
    const hold = holds.find((h) => !h.released && h.match(q));
    if (hold !== undefined) await new Promise<void>((go) => hold.waiting.push(go));
    const failure = scriptedFailure(q);
    const execArgs = execArgsOf(q.fields);
    if (failure?.kind === 'http-500') {
      q.answer = 'http-500';
      send(500, { errors: [{ message: 'fake engine: internal error' }] });
    } else if (failure?.kind === 'reset') {
      q.answer = 'reset';
      req.socket.destroy();
    } else if (failure?.kind === 'exec-error') {
      q.answer = 'exec-error';
      send(200, {
        data: null,
        errors: [{
          message: `process "${(execArgs ?? []).join(' ')}" did not complete successfully: exit code: ${failure.exitCode}`,
          extensions: {
            _type: 'EXEC_ERROR',
            cmd: execArgs ?? [],
            exitCode: failure.exitCode,
            stdout: failure.stdout ?? '',
            stderr: failure.stderr ?? '',
          },
        }],
      });
    } else if (failure?.kind === 'graphql-error') {
      q.answer = 'graphql-error';
      send(200, { data: null, errors: [{ message: failure.message }] });
    } else {
      send(200, { data: answer(q.fields, execArgs) });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: `fake Dagger session: ${String(err)}` }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  session.port = (server.address() as AddressInfo).port;
  return session;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
