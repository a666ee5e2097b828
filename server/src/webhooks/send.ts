// One HTTP attempt of a webhook: POST, a deadline over the whole exchange,
// no redirects, a short excerpt of the answer for the delivery log, and the
// address guard inside the connection's own DNS lookup.
import http from 'node:http';
import https from 'node:https';
import { assertPublicLiteral, guardedLookup } from './ssrf.ts';

/** How much of a receiver's answer the delivery log keeps. */
export const EXCERPT_BYTES = 1024;

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
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 }),
};

export function postWebhook(opts: PostOptions): Promise<AttemptResult> {
  const started = performance.now();
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
    return Promise.resolve(done({ statusCode: null, error: (err as Error).message, responseExcerpt: null }));
  }
  const body = Buffer.from(opts.body);
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const finish = (r: Omit<AttemptResult, 'durationMs' | 'ok'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(done(r));
    };
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      agent: agents[url.protocol as 'http:' | 'https:'],
      lookup: guardedLookup(opts.allowPrivate),
      headers: { ...opts.headers, 'content-length': String(body.length) },
    });
    // One deadline for connecting, sending and the answer.
    const timer = setTimeout(() => {
      finish({ statusCode: null, error: `timed out after ${opts.timeoutMs} ms`, responseExcerpt: null });
      request.destroy();
    }, opts.timeoutMs);
    request.on('error', (err: NodeJS.ErrnoException) => {
      finish({ statusCode: null, error: describeError(err, url), responseExcerpt: null });
    });
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const status = res.statusCode ?? 0;
      const error =
        status >= 300 && status < 400
          ? `redirects are not followed (${status} to ${String(res.headers.location ?? 'nowhere').slice(0, 200)})`
          : null;
      const complete = () =>
        finish({ statusCode: status, error, responseExcerpt: size > 0 ? excerpt(Buffer.concat(chunks)) : null });
      res.on('data', (chunk: Buffer) => {
        if (size < EXCERPT_BYTES) chunks.push(chunk.subarray(0, EXCERPT_BYTES - size));
        size += chunk.length;
        // Enough read: don't download a large answer, drop the connection instead.
        if (size >= 64 * 1024) {
          complete();
          res.destroy();
        }
      });
      res.on('end', complete);
      res.on('error', complete);
      res.on('close', complete);
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
