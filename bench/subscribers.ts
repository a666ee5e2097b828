// Live subscribers in a process of their own, as the browsers and services
// they stand for are: parsing thousands of events a second in the process
// that also issues the benchmark's requests would delay those requests'
// callbacks, and the delay would be counted as the server's. SDK clients
// (`events.subscribe`), started and read over IPC.
//
// Times are epoch milliseconds with sub-millisecond precision
// (performance.timeOrigin + performance.now()), comparable across processes
// on one machine.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRelaydeskClient, type RouterInputs } from '@relaydesk/client';

type SubscribeInput = RouterInputs['events']['subscribe'];

export interface Subscription {
  token: string;
  input: SubscribeInput;
}

/** One delivery: the event's ticket, when it occurred (its occurredAt) and when this subscriber had it. */
export type Delivery = [ticketId: string | null, occurredAt: number, receivedAt: number];

export const epochNow = () => performance.timeOrigin + performance.now();

type Request =
  | { id: number; op: 'start'; url: string; subs: Subscription[]; staggerEvery: number; record: boolean }
  | { id: number; op: 'count'; ticketId: string }
  | { id: number; op: 'received' }
  | { id: number; op: 'take' }
  | { id: number; op: 'stop' };
type Reply = { id: number; value?: unknown; error?: string };
type Call = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

export interface Subscribers {
  /** How many deliveries of this ticket's events so far (all subscribers together). */
  count(ticketId: string): Promise<number>;
  /** Deliveries so far, all subscribers together. */
  received(): Promise<number>;
  /** Hands over the deliveries recorded since the last take (and forgets them). */
  take(): Promise<Delivery[]>;
  /** Unsubscribes everything, ends the process, and hands over the deliveries not yet taken (at most 2 million). */
  stop(): Promise<{ received: number; deliveries: Delivery[] }>;
  child: ChildProcess;
}

/**
 * Starts the subscribers' process and opens every subscription (in waves of
 * `staggerEvery`). `record: false` keeps only counts, for a phase whose
 * deliveries are not measured.
 */
export async function startSubscribers(url: string, subs: Subscription[], opts: { staggerEvery?: number; record?: boolean } = {}): Promise<Subscribers> {
  const child = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  let next = 0;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (m: Reply) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error) w?.reject(new Error(m.error));
    else w?.resolve(m.value);
  });
  child.once('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`the subscribers' process exited (${code})`));
    waiting.clear();
  });
  const call = <T>(req: Call): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = ++next;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ ...req, id });
    });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    await call({ op: 'start', url, subs, staggerEvery: opts.staggerEvery ?? 100, record: opts.record ?? true });
  } catch (err) {
    kill();
    throw err;
  }
  return {
    child,
    count: (ticketId) => call({ op: 'count', ticketId }),
    received: () => call({ op: 'received' }),
    take: () => call({ op: 'take' }),
    async stop() {
      // A child that does not answer within 30 s is killed.
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          call<{ received: number; deliveries: Delivery[] }>({ op: 'stop' }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('the subscribers did not stop within 30 s')), 30_000);
          }),
        ]);
      } finally {
        clearTimeout(timer);
        kill();
      }
    },
  };
}

// ---- the child -----------------------------------------------------------------
if (process.argv.includes('--child') && process.send) {
  const MAX = 2_000_000;
  let deliveries: Delivery[] = [];
  const perTicket = new Map<string, number>();
  let received = 0;
  let live: { unsubscribe(): void }[] = [];
  let record = true;
  const reply = (m: Reply) => process.send!(m);
  // The bench that started it is gone: so are its subscribers.
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (req: Request) => {
    try {
      if (req.op === 'start') {
        record = req.record;
        for (const [k, s] of req.subs.entries()) {
          const rd = createRelaydeskClient({ url: req.url, token: s.token });
          live.push(
            rd.events.subscribe.subscribe(s.input, {
              onData(e) {
                const at = epochNow();
                received++;
                const ticketId = e.data.ticketId ?? null;
                if (ticketId) perTicket.set(ticketId, (perTicket.get(ticketId) ?? 0) + 1);
                if (record && deliveries.length < MAX) deliveries.push([ticketId, Date.parse(e.data.occurredAt), at]);
              },
            }),
          );
          // Connections opened in waves, as a fleet of clients starting would.
          if (k % req.staggerEvery === req.staggerEvery - 1) await new Promise((r) => setTimeout(r, 200));
        }
        reply({ id: req.id });
      } else if (req.op === 'count') {
        reply({ id: req.id, value: perTicket.get(req.ticketId) ?? 0 });
      } else if (req.op === 'received') {
        reply({ id: req.id, value: received });
      } else if (req.op === 'take') {
        reply({ id: req.id, value: deliveries });
        deliveries = [];
      } else {
        for (const s of live) s.unsubscribe();
        live = [];
        process.send!({ id: req.id, value: { received, deliveries } } satisfies Reply, () => process.exit(0));
      }
    } catch (err) {
      reply({ id: req.id, error: (err as Error).message });
    }
  });
}
