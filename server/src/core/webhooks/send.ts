// One HTTP attempt of a webhook: POST, a deadline over the whole exchange,
// no redirects, a short excerpt of the answer for the delivery log, and the
// address guard inside the connection's own DNS lookup.
import http from 'node:http';
import https from 'node:https';
import { assertPublicLiteral, guardedLookup } from './ssrf.ts';

/** How much of a receiver's answer the delivery log keeps. */
const EXCERPT_BYTES = 1024;

export interface AttemptResult {
  ok: boolean;
  /** The HTTP status, when the receiver answered. */
  statusCode: number | null;
  /** Why it failed without an answer (timeout, refused, blocked address), or what was wrong with the answer. */
  error: string | null;
  responseExcerpt: string | null;
  durationMs: number;
}

export interface PostOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivate: boolean;
}

// Connections are kept alive between deliveries to the same receiver; each
// new connection goes through the guarded lookup.
// Idle sockets are closed after a few seconds, before most servers' own
// keep-alive timeouts: reusing one the server just closed would fail the attempt.
const agentOptions = { keepAlive: true, maxSockets: 64, maxFreeSockets: 16, timeout: 4000 };
const agents = {
  'http:': new http.Agent(agentOptions),
  'https:': new https.Agent(agentOptions),
};

export async function postWebhook(opts: PostOptions): Promise<AttemptResult> {
  const started = performance.now();
  const first = await attempt(opts, started, opts.timeoutMs);
  // A kept-alive socket the receiver closed as we reused it: the request
  // never reached it, so send once more on a fresh connection.
  if (first.staleSocket) return (await attempt(opts, started, opts.timeoutMs - (performance.now() - started))).result;
  return first.result;
}

function attempt(opts: PostOptions, started: number, timeoutMs: number): Promise<{ result: AttemptResult; staleSocket?: boolean }> {
  const done = (r: Omit<AttemptResult, 'durationMs' | 'ok'>): AttemptResult => ({
    ...r,
    ok: r.error === null && r.statusCode !== null && r.statusCode >= 200 && r.statusCode < 300,
    durationMs: Math.round(performance.now() - started),
  });
  let url: URL;
  try {
    url = new URL(opts.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`);
    assertPublicLiteral(url, opts.allowPrivate);
  } catch (err) {
    return Promise.resolve({ result: done({ statusCode: null, error: (err as Error).message, responseExcerpt: null }) });
  }
  const body = Buffer.from(opts.body);
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: Omit<AttemptResult, 'durationMs' | 'ok'>, staleSocket = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ result: done(r), staleSocket });
    };
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      agent: agents[url.protocol as 'http:' | 'https:'],
      lookup: guardedLookup(opts.allowPrivate),
      headers: { ...opts.headers, 'content-length': String(body.length) },
    });
    // The answer's status, once its headers are in.
    let status: number | null = null;
    const chunks: Buffer[] = [];
    let size = 0;
    const answered = (error: string | null) =>
      finish({ statusCode: status, error, responseExcerpt: size > 0 ? excerpt(Buffer.concat(chunks)) : null });
    // One deadline for connecting, sending and the answer. A receiver that
    // answered 2xx and then dawdles over the body has still accepted the message.
    timer = setTimeout(
      () => {
        if (status !== null && status >= 200 && status < 300) answered(null);
        else finish({ statusCode: status, error: `timed out after ${opts.timeoutMs} ms`, responseExcerpt: null });
        request.destroy();
      },
      Math.max(1, timeoutMs),
    );
    request.on('error', (err: NodeJS.ErrnoException) => {
      const stale = request.reusedSocket && err.code === 'ECONNRESET' && status === null;
      finish({ statusCode: null, error: describeError(err, url), responseExcerpt: null }, stale);
    });
    request.on('response', (res) => {
      status = res.statusCode ?? 0;
      const error =
        status >= 300 && status < 400 ? `redirects are not followed (${status} to ${String(res.headers.location ?? 'nowhere').slice(0, 200)})` : null;
      res.on('data', (chunk: Buffer) => {
        if (size < EXCERPT_BYTES) chunks.push(chunk.subarray(0, EXCERPT_BYTES - size));
        size += chunk.length;
        // Enough read: don't download a large answer, drop the connection instead.
        if (size >= 64 * 1024) {
          answered(error);
          res.destroy();
        }
      });
      res.on('end', () => answered(error));
      res.on('error', () => answered(error));
      res.on('close', () => answered(error));
    });
    request.end(body);
  });
}

function excerpt(buf: Buffer): string {
  // Cut on a character boundary, and keep the log free of NULs (Postgres text can't hold them).
  return buf.subarray(0, EXCERPT_BYTES).toString('utf8').replace(/\uFFFD+$/, '').replaceAll('\u0000', '');
}

function describeError(err: NodeJS.ErrnoException, url: URL): string {
  if (err.name === 'BlockedAddressError') return err.message;
  const where = url.host;
  switch (err.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${where}`;
    case 'ECONNRESET':
      return `connection reset by ${where}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${url.hostname} does not resolve (${err.code})`;
    case 'ETIMEDOUT':
      return `connecting to ${where} timed out`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} is unreachable (${err.code})`;
    default:
      return `${err.code ?? 'error'}: ${err.message}`.slice(0, 300);
  }
}
