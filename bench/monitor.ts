// Watches a running load every few seconds, so a stall can be told apart:
// the server's event loop (its own /metrics), the load generator's event
// loop, CPU per process and for the machine, and what Postgres's backends
// are waiting on. Each window's actions are summarised beside it.
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type pg from 'pg';
import { percentile } from './harness.ts';

export interface LoadView {
  inflight: number;
  errors: number;
  /** Latencies of actions completed since the monitor last looked; it empties this. */
  window: number[];
}

export interface Window {
  at: number;
  /** Actions completed in the window: count, p99 and max in ms. */
  done: number;
  p99: number;
  max: number;
  inflight: number;
  errors: number;
  /** Longest event-loop delay in the window, ms (null: the server did not answer /metrics in time). */
  serverLoop: number | null;
  serverGcMs: number | null;
  /** The server's V8 heap in use, MB. */
  serverHeapMb: number | null;
  generatorLoop: number;
  /** CPU % of one core per process, and the machine's busy, stolen and iowait % of all cores. */
  cpu: Record<string, number>;
  machine: { busy: number; iowait: number; steal: number };
  /** Non-idle backends by what they wait on (`CPU` when running). */
  waits: Record<string, number>;
  idleInTransaction: number;
}

const ticksPerSecond = 100; // USER_HZ on Linux

function processTicks(pid: number): number {
  try {
    // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
    const rest = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return NaN;
  }
}

function machineTicks() {
  const [, ...xs] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const n = xs.map(Number);
  const total = n.reduce((a, b) => a + b, 0);
  return { total, idle: n[3]!, iowait: n[4]!, steal: n[7] ?? 0 };
}

async function serverMetrics(url: string): Promise<{ loopMs: number; gcSeconds: number; heapMb: number } | null> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const loop = /^relaydesk_server_nodejs_eventloop_lag_max_seconds (\S+)/m.exec(text);
    let gc = 0;
    for (const m of text.matchAll(/^relaydesk_server_nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)/gm)) gc += Number(m[1]);
    const heap = /^relaydesk_server_nodejs_heap_size_used_bytes (\S+)/m.exec(text);
    return { loopMs: loop ? Number(loop[1]) * 1000 : NaN, gcSeconds: gc, heapMb: heap ? Number(heap[1]) / 2 ** 20 : NaN };
  } catch {
    return null;
  }
}

export function startMonitor(opts: {
  view: LoadView;
  pool: pg.Pool;
  serverUrl: string;
  pids: Record<string, number>;
  everyMs?: number;
  /** Called with each window as it closes. */
  onWindow?: (w: Window) => void;
}) {
  const every = opts.everyMs ?? 5000;
  const pids = { ...opts.pids, generator: process.pid };
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const windows: Window[] = [];
  let lastTicks = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processTicks(pid)]));
  let lastMachine = machineTicks();
  let lastGc: number | null = null;
  let lastErrors = 0;
  let lastAt = performance.now();
  // The server keeps its event-loop figures since its last scrape: start its window now.
  void serverMetrics(opts.serverUrl).then((m) => (lastGc = m?.gcSeconds ?? null));

  const tick = async () => {
    const now = performance.now();
    const seconds = (now - lastAt) / 1000;
    lastAt = now;
    const lat = opts.view.window.splice(0);
    const ticks = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processTicks(pid)]));
    const cpu = Object.fromEntries(Object.keys(pids).map((k) => [k, Math.round(((ticks[k]! - lastTicks[k]!) / ticksPerSecond / seconds) * 100)]));
    lastTicks = ticks;
    const m = machineTicks();
    const dt = m.total - lastMachine.total || 1;
    const machine = {
      busy: Math.round((1 - (m.idle + m.iowait - lastMachine.idle - lastMachine.iowait) / dt) * 100),
      iowait: Math.round(((m.iowait - lastMachine.iowait) / dt) * 100),
      steal: Math.round(((m.steal - lastMachine.steal) / dt) * 100),
    };
    lastMachine = m;
    const generatorLoop = loop.max / 1e6;
    loop.reset();
    const errors = opts.view.errors - lastErrors;
    lastErrors = opts.view.errors;
    const [server, activity] = await Promise.all([
      serverMetrics(opts.serverUrl),
      opts.pool
        .query<{ wait: string; n: number; iit: number }>(
          `select coalesce(wait_event_type || ':' || wait_event, 'CPU') as wait,
                  count(*) filter (where state = 'active')::int as n,
                  count(*) filter (where state like 'idle in transaction%')::int as iit
             from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() and state <> 'idle'
            group by 1`,
        )
        .then((r) => r.rows)
        .catch(() => []),
    ]);
    const waits: Record<string, number> = {};
    let idleInTransaction = 0;
    for (const r of activity) {
      if (r.n) waits[r.wait] = r.n;
      idleInTransaction += r.iit;
    }
    const w: Window = {
      at: Math.round(now / 1000),
      done: lat.length,
      p99: lat.length ? percentile(lat, 99) : 0,
      max: lat.length ? Math.max(...lat) : 0,
      inflight: opts.view.inflight,
      errors,
      serverLoop: server ? server.loopMs : null,
      serverGcMs: server && lastGc !== null ? Math.round((server.gcSeconds - lastGc) * 1000) : null,
      serverHeapMb: server ? Math.round(server.heapMb) : null,
      generatorLoop,
      cpu,
      machine,
      waits,
      idleInTransaction,
    };
    if (server) lastGc = server.gcSeconds;
    windows.push(w);
    opts.onWindow?.(w);
  };
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(tick);
  }, every);
  return {
    windows,
    async stop() {
      clearInterval(timer);
      await running;
      loop.disable();
    },
  };
}

export function describeWindow(w: Window): string {
  const waits = Object.entries(w.waits)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}×${n}`)
    .join(' ');
  const cpu = Object.entries(w.cpu)
    .map(([k, v]) => `${k} ${v}%`)
    .join(', ');
  return (
    `${w.done} done (p99 ${Math.round(w.p99)} ms, max ${Math.round(w.max)} ms), ${w.inflight} in flight, ${w.errors} errors; ` +
    `event loop max: server ${w.serverLoop === null ? 'no answer' : `${Math.round(w.serverLoop)} ms`} (GC ${w.serverGcMs ?? '?'} ms, heap ${w.serverHeapMb ?? '?'} MB), generator ${Math.round(w.generatorLoop)} ms; ` +
    `CPU ${cpu}; machine ${w.machine.busy}% busy (${w.machine.steal}% stolen by the host), ${w.machine.iowait}% iowait; ` +
    `Postgres: ${waits || 'idle'}${w.idleInTransaction ? `, ${w.idleInTransaction} idle in transaction` : ''}`
  );
}
