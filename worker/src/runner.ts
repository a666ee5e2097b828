// Runs one queue's jobs: parses the payload, runs the handler, and turns the
// outcome into a pg-boss disposition. A payload that fails its schema, or an
// AppError that retrying can't fix, goes straight to the dead-letter queue
// with the reason; anything else is retried with the queue's backoff.
import type { JobResult, JobWithMetadata, PgBoss } from 'pg-boss';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { Database } from '@relaydesk/db';
import { AppError, RetryLater } from '@relaydesk/server/core/errors';
import type { Logger } from '@relaydesk/server/core/logger';
import { QUEUE_POLICIES, type QueueName } from '@relaydesk/server/core/jobs/catalogue';

export interface JobContext {
  db: Kysely<Database>;
  log: Logger;
  /** No retry follows if this attempt fails: the handler may report the failure itself. */
  lastAttempt: boolean;
}

export interface JobDefinition<S extends z.ZodType> {
  queue: QueueName;
  schema: S;
  handle(data: z.infer<S>, ctx: JobContext): Promise<void>;
}

export const defineJob = <S extends z.ZodType>(def: JobDefinition<S>) => def;

export interface RunOptions {
  /** Jobs fetched per poll. Default 10. */
  batchSize?: number;
  /** Seconds between polls when idle and not woken by NOTIFY. Default 0.5. */
  pollingIntervalSeconds?: number;
  /**
   * Seconds between polls while the LISTEN connection is up: a backstop for
   * what no NOTIFY announces (a retry coming due, a missed notification).
   * Default 1.
   */
  notifyPollingIntervalSeconds?: number;
  /**
   * The jobs of a fetched batch all ask for the same thing, done after they
   * were sent (a drain of the assignment backlog): the handler runs once, for
   * the first valid payload, and its outcome is every valid job's.
   */
  collapse?: boolean;
  /** Independent fetch loops, each with its own batch: one slow job holds up only its own batch. Default 1. */
  localConcurrency?: number;
  /** Observes every finished job (metrics). */
  onSettled?: (queue: QueueName, outcome: JobResult['status'], seconds: number) => void;
}

export async function runJobs<S extends z.ZodType>(
  boss: PgBoss,
  db: Kysely<Database>,
  log: Logger,
  def: JobDefinition<S>,
  opts: RunOptions = {},
): Promise<string> {
  return boss.work(
    def.queue,
    {
      batchSize: opts.batchSize ?? 10,
      pollingIntervalSeconds: opts.pollingIntervalSeconds ?? 0.5,
      notifyPollingIntervalSeconds: Math.max(opts.pollingIntervalSeconds ?? 0.5, opts.notifyPollingIntervalSeconds ?? 1),
      // A full batch means more is waiting: fetch again at once instead of sleeping.
      burstWhenBatchFull: true,
      perJobResults: true,
      // For each job's own retry limit: a job may carry a schedule other than its queue's.
      includeMetadata: true,
      localConcurrency: opts.localConcurrency ?? 1,
    },
    async (jobs): Promise<JobResult[]> => {
      if (opts.collapse) return runCollapsed(def, jobs, { db, log, onSettled: opts.onSettled });
      return Promise.all(
        jobs.map(async (job) => {
          const started = performance.now();
          const jobLog = log.child({ queue: def.queue, jobId: job.id, attempt: job.retryCount });
          const result = await runOne(def, job, { db, log: jobLog, lastAttempt: isLastAttempt(def.queue, job) });
          warnUnlessDone(jobLog, result);
          opts.onSettled?.(def.queue, result.status, (performance.now() - started) / 1000);
          return result;
        }),
      );
    },
  );
}

/** No retry follows if this attempt fails. */
const isLastAttempt = (queue: QueueName, job: JobWithMetadata<unknown>) => job.retryCount >= (job.retryLimit ?? QUEUE_POLICIES[queue].retryLimit ?? 0);

/** A job that failed for a reason nobody expected is worth a warning. */
function warnUnlessDone(log: Logger, result: JobResult) {
  if (result.status !== 'completed' && !(result.output as { expected?: boolean } | undefined)?.expected) log.warn({ outcome: result.status, output: result.output }, 'job did not complete');
}

/** One run of the handler for a whole batch (see RunOptions.collapse). */
async function runCollapsed<S extends z.ZodType>(
  def: JobDefinition<S>,
  jobs: JobWithMetadata<unknown>[],
  opts: { db: Kysely<Database>; log: Logger; onSettled?: RunOptions['onSettled'] },
): Promise<JobResult[]> {
  const started = performance.now();
  const results: JobResult[] = [];
  const valid: JobWithMetadata<unknown>[] = [];
  for (const job of jobs) {
    if (def.schema.safeParse(job.data).success) valid.push(job);
    else results.push(await runOne(def, job, { db: opts.db, log: opts.log, lastAttempt: true })); // dead-lettered with its issues
  }
  const lead = valid[0];
  if (lead) {
    const jobLog = opts.log.child({ queue: def.queue, jobId: lead.id, attempt: lead.retryCount, batch: valid.length });
    // Retries stop only when every job of the batch has used its own.
    const lastAttempt = valid.every((j) => isLastAttempt(def.queue, j));
    const outcome = await runOne(def, lead, { db: opts.db, log: jobLog, lastAttempt });
    warnUnlessDone(jobLog, outcome);
    for (const job of valid) results.push({ ...outcome, id: job.id });
  }
  const seconds = (performance.now() - started) / 1000;
  for (const r of results) opts.onSettled?.(def.queue, r.status, seconds);
  return results;
}

async function runOne<S extends z.ZodType>(def: JobDefinition<S>, job: JobWithMetadata<unknown>, ctx: JobContext): Promise<JobResult> {
  const parsed = def.schema.safeParse(job.data);
  if (!parsed.success) {
    return {
      id: job.id,
      status: 'deadletter',
      output: { reason: 'invalid payload', issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    };
  }
  try {
    await def.handle(parsed.data, ctx);
    return { id: job.id, status: 'completed' };
  } catch (err) {
    if (err instanceof AppError && !err.retryable) {
      return { id: job.id, status: 'deadletter', output: { reason: err.message, code: err.code } };
    }
    if (err instanceof RetryLater) {
      ctx.log.debug({ reason: err.message }, 'job will be retried');
      return { id: job.id, status: 'failed', output: { reason: err.message, expected: true } };
    }
    ctx.log.warn({ err }, 'job failed; will retry');
    return { id: job.id, status: 'failed', output: { reason: (err as Error).message } };
  }
}

