// Following events.subscribe through the SDK, as an app would.
import type { RelaydeskClient, RelaydeskEvent, RouterInputs } from '@relaydesk/client';
import { errorCode } from '@relaydesk/client';
import { waitFor } from './worker.ts';

export type SubscribeInput = RouterInputs['events']['subscribe'];

export interface Follower {
  /** Every event received, in arrival order. */
  events: RelaydeskEvent[];
  /** Set when the subscription ended with an error. */
  error: unknown;
  /** Rejects when the subscription ends with an error. */
  failed: Promise<never>;
  stop(): void;
  /** Waits until `pred` holds over the events received so far. */
  until(label: string, pred: (events: RelaydeskEvent[]) => boolean, timeoutMs?: number): Promise<RelaydeskEvent[]>;
  lastId(): string | undefined;
  /** The connection state tRPC last reported, for diagnostics. */
  state: string;
}

export function follow(rd: RelaydeskClient, input?: SubscribeInput): Follower {
  const events: RelaydeskEvent[] = [];
  let fail!: (err: unknown) => void;
  const failed = new Promise<never>((_resolve, reject) => {
    fail = reject;
  });
  failed.catch(() => {});
  const f: Follower = {
    events,
    error: undefined,
    failed,
    stop: () => sub.unsubscribe(),
    async until(label, pred, timeoutMs = 30_000) {
      await waitFor(
        label,
        async () => {
          if (f.error) throw f.error;
          return pred(events);
        },
        timeoutMs,
      );
      return events;
    },
    lastId: () => events.at(-1)?.id,
    state: 'connecting',
  };
  const sub = rd.events.subscribe.subscribe(input, {
    onData: (e) => {
      events.push(e.data);
    },
    onConnectionStateChange: (st) => {
      f.state = st.error ? `${st.state}: ${st.error.message}` : st.state;
    },
    onError: (err) => {
      f.error = err;
      fail(err);
    },
  });
  return f;
}

/** The code and field a subscription was refused with. */
export async function refusal(rd: RelaydeskClient, input?: SubscribeInput): Promise<{ code?: string; field?: string }> {
  const f = follow(rd, input);
  const accepted = new Promise<'accepted'>((resolve) => setTimeout(() => resolve('accepted'), 10_000).unref());
  try {
    await Promise.race([f.failed, accepted]);
  } catch (err) {
    return { code: errorCode(err), field: (err as { data?: { field?: string } }).data?.field };
  } finally {
    f.stop();
  }
  throw new Error('expected the subscription to be refused, but it ran for 10 s');
}
