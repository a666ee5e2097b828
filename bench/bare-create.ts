// The nearest simple system to tickets.create over HTTP, for bench/create.ts:
// a bare node:http server whose handler runs the same transaction as the
// raw-SQL anchor (ticket, event, its two jobs) on a pg pool, with no
// framework, no validation, no auth and no logging. Its rate beside ours
// shows what the framework and the rest of the request path cost.
//
// Started as a child process (like the real server), it reports its port over IPC.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { rawCreate } from './create-sql.ts';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL ?? 16) });
const contactId = process.env.CONTACT_ID!;

const server = http.createServer((req, res) => {
  if (req.url === '/ping') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    const { title, description } = JSON.parse(body) as { title: string; description: string };
    rawCreate(pool, contactId, title, description).then(
      (id) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id })),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ type: 'listening', port: (server.address() as AddressInfo).port }));
process.on('disconnect', () => process.exit(0));
