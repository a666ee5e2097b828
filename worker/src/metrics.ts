// Prometheus metrics of one worker: job durations and outcomes by queue.
// Served on WORKER_METRICS_PORT when set (each worker its own port).
import http from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '@relaydesk/server/core/logger';

export function workerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'relaydesk_worker_' });
  const duration = new Histogram({
    name: 'relaydesk_job_duration_seconds',
    help: 'Job handler time by queue and outcome',
    labelNames: ['queue', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const outcomes = new Counter({
    name: 'relaydesk_jobs_total',
    help: 'Jobs settled by queue and outcome (completed, failed = will retry, deadletter)',
    labelNames: ['queue', 'outcome'] as const,
    registers: [registry],
  });
  return {
    registry,
    onSettled(queue: string, outcome: string, seconds: number) {
      duration.observe({ queue, outcome }, seconds);
      outcomes.inc({ queue, outcome });
    },
  };
}

export async function startWorkerMetrics(m: ReturnType<typeof workerMetrics>, port: number, log: Logger): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': m.registry.contentType }).end(await m.registry.metrics());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  log.info({ port: (server.address() as { port: number }).port }, 'worker metrics at /metrics');
  return server;
}
