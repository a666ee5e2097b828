// Prometheus metrics for GET /metrics: HTTP latency by procedure, queue
// depths (read from pg-boss at scrape time), and the process defaults.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventHub } from './events/hub.ts';
import type { Jobs } from '../core/jobs/send.ts';
import { queueCounts } from '../core/jobs/stats.ts';
import type { TokenCache } from '../core/users/token-cache.ts';

export function createServerMetrics(jobs: Jobs, hub?: EventHub, tokens?: TokenCache) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'relaydesk_server_' });
  const httpDuration = new Histogram({
    name: 'relaydesk_http_request_duration_seconds',
    help: 'HTTP request latency by tRPC procedure and status code',
    labelNames: ['procedure', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const httpErrors = new Counter({
    name: 'relaydesk_http_errors_total',
    help: 'HTTP responses with status >= 500 by procedure',
    labelNames: ['procedure'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'relaydesk_queue_jobs',
    help: 'Jobs per queue and state (queued, active, completed, failed, dead_lettered)',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of await queueCounts(jobs)) {
        this.set({ queue: q.name, state: 'queued' }, q.queued);
        this.set({ queue: q.name, state: 'active' }, q.active);
        this.set({ queue: q.name, state: 'completed' }, q.completed);
        this.set({ queue: q.name, state: 'failed' }, q.failed);
        this.set({ queue: q.name, state: 'dead_lettered' }, q.deadLettered);
      }
    },
  });
  if (hub) {
    new Gauge({
      name: 'relaydesk_event_subscribers',
      help: 'Open events.subscribe streams on this server',
      registers: [registry],
      collect() {
        this.set(hub.subscriberCount);
      },
    });
    new Gauge({
      name: 'relaydesk_event_subscriber_buffered_events',
      help: 'Events waiting in subscriber buffers on this server (each buffer is bounded)',
      registers: [registry],
      collect() {
        this.set(hub.bufferedTotal);
      },
    });
    new Gauge({
      name: 'relaydesk_event_hub_position',
      help: 'Last event log position this server has read',
      registers: [registry],
      collect() {
        this.set(hub.head ?? 0);
      },
    });
    new Counter({
      name: 'relaydesk_event_hub_dispatched_total',
      help: 'Events this server has read from the log and handed to its subscribers',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(hub.dispatchedTotal);
      },
    });
    new Counter({
      name: 'relaydesk_event_subscribers_lagging_total',
      help: 'Streams closed because their client fell behind (they resume from their last id)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(hub.laggingClosed);
      },
    });
  }
  if (tokens) {
    new Counter({
      name: 'relaydesk_auth_token_lookups_total',
      help: 'Bearer tokens authenticated, by where the answer came from (cache: memory, database: a lookup)',
      labelNames: ['source'] as const,
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ source: 'cache' }, tokens.hits);
        this.inc({ source: 'database' }, tokens.misses);
      },
    });
  }
  return {
    registry,
    /**
     * Records one request; a batch counts once for each procedure in it, but
     * a batch refused whole (over `maxBatch` calls) counts once.
     */
    observe(path: string, status: number, seconds: number, maxBatch = 50) {
      const procedures = path.split(',');
      for (const procedure of procedures.length > maxBatch ? ['batch_refused'] : procedures) {
        httpDuration.observe({ procedure, status: String(status) }, seconds);
        if (status >= 500) httpErrors.inc({ procedure });
      }
    },
  };
}
export type ServerMetrics = ReturnType<typeof createServerMetrics>;
