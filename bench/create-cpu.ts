// Where the CPU of ticket creation goes. The create load of create.ts (16
// SDK clients on a server, a worker assigning and classifying every ticket)
// at npm start's durability, with each process's CPU time read from /proc
// over the window (the drain of the backlog included), and Postgres's split
// by its connections' application_name: CPU milliseconds per ticket.
//
// A diagnostic, not part of `npm run bench`; Linux only.
//   node bench/create-cpu.ts
//   SERVER_ENV='{"AUTO_ASSIGN":"false","AI_CLASSIFY":"off"}' NO_WORKER=1 node bench/create-cpu.ts
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { sql } from 'kysely';
import { createRelaydeskClient } from '@relaydesk/client';
import { issueToken } from '../server/src/core/users/auth.ts';
import { createUser } from '../server/src/core/users/create.ts';
import { startServer } from '../test/helpers/server.ts';
import { startWorker } from '../test/helpers/worker.ts';
import { benchDatabase, insertAgents, throughput } from './harness.ts';

const CLIENTS = 16;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process (its own), and cutime + cstime (its waited-for children), in ticks. */
function cpuTicks(pid: number): { own: number; children: number } {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { own: Number(fields[11]) + Number(fields[12]), children: Number(fields[13]) + Number(fields[14]) };
  } catch {
    return { own: 0, children: 0 }; // gone
  }
}

/** All of Postgres: the postmaster, its live children, and the children that already exited. */
function postgresTicks(postmaster: number): number {
  const out = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).trim();
  const children = out ? out.split('\n').map(Number) : [];
  const self = cpuTicks(postmaster);
  return self.own + self.children + children.reduce((sum, pid) => sum + cpuTicks(pid).own, 0);
}

const b = await benchDatabase({ fsync: 'on', synchronous_commit: 'on' });
try {
  await insertAgents(b.db, 50, 1000);
  const customer = await createUser(b.db, null, { name: 'Bench customer', email: 'customer@bench.test', role: 'customer' });
  const { token } = await issueToken(b.db, customer.id, 'bench');
  const env = JSON.parse(process.env.SERVER_ENV ?? '{}') as Record<string, string>;
  const server = await startServer(b.url, { LOG_LEVEL: 'warn', ...env });
  const worker = process.env.NO_WORKER ? null : await startWorker(b.url, { LOG_LEVEL: 'warn', ...env });
  try {
    /** CPU ticks of each Postgres backend, summed by application_name. */
    const backends = async () => {
      const { rows } = await sql<{ pid: number; app: string }>`
        select pid, coalesce(nullif(application_name, ''), backend_type) as app from pg_stat_activity`.execute(b.db);
      const byApp = new Map<string, number>();
      for (const r of rows) byApp.set(r.app, (byApp.get(r.app) ?? 0) + cpuTicks(r.pid).own);
      return byApp;
    };
    const processes = () => ({
      server: cpuTicks(server.child.pid!).own,
      worker: worker ? cpuTicks(worker.child.pid!).own : 0,
      postgres: postgresTicks(b.pg.pid),
    });
    const clients = Array.from({ length: CLIENTS }, () => createRelaydeskClient({ url: server.url, token }));
    await clients[0]!.tickets.create.mutate({ title: 'warm-up', description: 'the first request loads code' });

    const appsBefore = await backends();
    const before = processes();
    const benchBefore = process.cpuUsage();
    let created = 0;
    const rate = await throughput(CLIENTS, SECONDS, async (loop) => {
      await clients[loop]!.tickets.create.mutate({ title: `Bench ${created++}: the invoice page shows an error`, description: 'I cannot pay my invoice.' });
    });
    // The window ends when the worker has done its part for every ticket.
    const unfinished = [...(env.AUTO_ASSIGN === 'false' ? [] : [sql`assignee_id is null`]), ...(env.AI_CLASSIFY === 'off' ? [] : [sql`category is null`])];
    while (worker && unfinished.length > 0) {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from tickets where status = 'open' and (${sql.join(unfinished, sql` or `)})`.execute(b.db);
      if (rows[0]!.n === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = processes();
    const appsAfter = await backends();
    const bench = process.cpuUsage(benchBefore);

    const perTicket = (ticks: number) => `${((ticks / TICKS_PER_SECOND) * 1000 / created).toFixed(2)} ms`;
    console.log(`${created} tickets at ${rate.toFixed(0)}/s with ${CLIENTS} clients; CPU per ticket:`);
    console.log(`  server ${perTicket(after.server - before.server)}, worker ${perTicket(after.worker - before.worker)}, postgres ${perTicket(after.postgres - before.postgres)}, this bench's clients ${((bench.user + bench.system) / 1000 / created).toFixed(2)} ms`);
    let attributed = 0;
    for (const [app, ticks] of appsAfter) {
      const used = ticks - (appsBefore.get(app) ?? 0);
      attributed += used;
      if (used > 0) console.log(`  postgres, ${app}: ${perTicket(used)}`);
    }
    console.log(`  postgres, not attributed (backends that exited, the postmaster): ${perTicket(after.postgres - before.postgres - attributed)}`);
  } finally {
    await worker?.stop();
    await server.stop();
  }
} finally {
  await b.close();
}
