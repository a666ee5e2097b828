// The one error vocabulary of server and worker. The server maps it to tRPC
// codes; the worker uses `retryable` to choose retry or dead-letter.
export type AppErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'TOO_MANY_REQUESTS'
  | 'PRECONDITION_FAILED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** How long a client should wait before retrying when the database is away. */
export const UNAVAILABLE_RETRY_AFTER_S = 2;

export class AppError extends Error {
  override name = 'AppError';
  readonly code: AppErrorCode;
  /** The input field the error is about, when there is one. */
  readonly field: string | undefined;
  /** TOO_MANY_REQUESTS, UNAVAILABLE: when trying again makes sense, in seconds (HTTP Retry-After). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: AppErrorCode, message: string, opts: { field?: string; cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.field = opts.field;
    this.retryAfterSeconds = opts.retryAfterSeconds ?? (code === 'UNAVAILABLE' ? UNAVAILABLE_RETRY_AFTER_S : undefined);
  }

  /** Worth retrying later: the same input may succeed once the world changes. */
  get retryable(): boolean {
    return this.code === 'UNAVAILABLE' || this.code === 'TOO_MANY_REQUESTS' || this.code === 'INTERNAL';
  }
}

/**
 * An expected failure the code has already recorded (a webhook receiver
 * that is down): the job is retried on its schedule, logged at debug only.
 */
export class RetryLater extends Error {
  override name = 'RetryLater';
}

interface PgError {
  code?: string;
  constraint?: string;
  column?: string;
  detail?: string;
}

// Constraint name → the input field it guards, for messages users can act on.
const constraintFields: Record<string, string> = {
  users_email_key: 'email',
  contacts_email_key: 'email',
  tickets_title_check: 'title',
  tickets_description_check: 'description',
  tickets_tags_check: 'tags',
  messages_body_check: 'body',
  tickets_resolved_at_matches_status: 'status',
  tickets_assignee_id_fkey: 'assigneeId',
};

/**
 * Turns the Postgres errors that input can cause (constraint violations,
 * malformed values) into AppErrors; anything else is returned unchanged.
 */
export function fromPgError(err: unknown): unknown {
  const e = err as PgError & { message?: string };
  if (isConnectionError(err)) return new AppError('UNAVAILABLE', 'the database is unavailable; try again shortly', { cause: err });
  if ((err as PgError | undefined)?.code === '57014') return new AppError('UNAVAILABLE', 'the request took too long; try again shortly', { cause: err });
  if (!e || typeof e.code !== 'string' || !/^[0-9A-Z]{5}$/.test(e.code)) return err;
  const field = (e.constraint && constraintFields[e.constraint]) ?? e.column;
  switch (e.code) {
    case '23505':
      return new AppError('CONFLICT', field ? `${field} is already taken` : 'already exists', { field, cause: err });
    case '23514':
    case '23502':
    case '22001':
    case '22P02':
    case '22021': // e.g. a NUL byte in text
      return new AppError('BAD_REQUEST', `${field ?? 'input'} is not valid (${e.constraint ?? e.code})`, { field, cause: err });
    case 'RD409': // raised by the open-tickets trigger
      return new AppError('CONFLICT', 'the assignee is at capacity', { field: 'assigneeId', cause: err });
    case 'RD422':
      return new AppError('BAD_REQUEST', 'assigneeId must be an active agent or admin', { field: 'assigneeId', cause: err });
    case '23503':
      return new AppError('BAD_REQUEST', field === 'assigneeId' ? 'assigneeId must be an active agent or admin' : `${field ?? 'a referenced row'} does not exist`, { field, cause: err });
    case '40001':
    case '40P01':
      return new AppError('CONFLICT', 'concurrent update, try again', { cause: err });
    default:
      return err;
  }
}

const connectionCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
// Server shutting down or starting, too many connections, connection failures.
const unavailableStates = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006']);

/** The database could not be reached or dropped the connection: worth a retry, not a 500. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && (connectionCodes.has(e.code) || unavailableStates.has(e.code))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/.test(e.message ?? '');
}
