// AI draft replies: drafts a reply for an agent. The context is the ticket,
// its conversation and the most similar resolved tickets. From the LLM, the
// text streams to subscribers as live `ai.draft.delta` events while it is
// assembled; offline (or when the LLM fails) the draft is composed from the
// similar tickets' resolutions and says so. Either way it is stored as an
// internal AI message, with `ai.draft.completed`; when no draft can be made,
// `ai.draft.failed` says why.
//
// Idempotent: the message carries the draft id (unique), so a job that runs
// again after storing it does nothing.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { appendEvent, appendEvents, type NewEvent } from '../events/append.ts';
import { MAX_LIVE_TEXT, publishLive } from '../events/live.ts';
import type { DraftPayload } from '../jobs/catalogue.ts';
import { brief, type Logger } from '../logger.ts';
import { listMessages } from '../messages/queries.ts';
import { messageDto } from '../messages/schemas.ts';
import { getTicket, lockTicket } from '../tickets/queries.ts';
import { tryLlm, type AiDeps } from './classify.ts';
import { llmDraft } from './llm.ts';
import { draftStored, insertDraftMessage, similarResolved, type SimilarTicket } from './queries.ts';

/** Similar resolved tickets given as context (and, offline, drafted from). */
const SIMILAR = 3;
/** Messages of the conversation given as context: the most recent. */
const THREAD = 30;
// The prompt's budget, in characters (well inside a model's context), and
// what an offline draft quotes of each resolution (it must fit a message).
const DESCRIPTION_CHARS = 8000;
const MESSAGE_CHARS = 2000;
const RESOLUTION_CHARS = 1500;
const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

const worker = { type: 'worker' as const, id: null };

/**
 * Writes the draft asked for by `data`, once; on its last attempt a failure
 * is reported as `ai.draft.failed` before it is thrown again.
 */
export async function writeDraft(ai: AiDeps, db: Kysely<Database>, log: Logger, data: DraftPayload, opts: { lastAttempt: boolean }): Promise<void> {
  if (await draftStored(db, data.draftId)) return;
  try {
    await draft(ai, db, log, data);
  } catch (err) {
    // The job is retried; the agent hears of it only once it is final.
    if (opts.lastAttempt) await failed(db, data, `the draft could not be made: ${brief(err).message}`);
    throw err;
  }
}

async function draft(ai: AiDeps, db: Kysely<Database>, log: Logger, data: DraftPayload) {
  const ticket = await getTicket(db, data.ticketId);
  if (!ticket) return failed(db, data, 'the ticket was deleted');
  const thread = (await listMessages(db, ticket.id, true)).filter((m) => m.author_type !== 'ai').slice(-THREAD);
  const similar = await similarResolved(db, ticket.id, SIMILAR);

  const deltas = new DeltaStream(db, log, ticket.id, data.draftId);
  const llm = await tryLlm(ai, 'drafts', () =>
    llmDraft(
      ai.config,
      {
        ticket: { title: ticket.title, description: cut(ticket.description, DESCRIPTION_CHARS), status: ticket.status },
        conversation: thread.map((m) => ({ from: m.author_role === 'customer' ? 'customer' : 'support', internalNote: m.internal, text: cut(m.body, MESSAGE_CHARS) })),
        similarResolvedTickets: similar.map((s) => ({ title: s.title, resolution: cut(s.resolution, RESOLUTION_CHARS) })),
      },
      (text) => deltas.push(text),
      { maxRetries: ai.config.maxRetries },
    ).finally(() => deltas.close()),
  );
  const why = llm.ok ? '' : llm.why;
  if (!llm.ok && llm.err) log.warn({ err: brief(llm.err), reason: why }, 'LLM draft failed; drafting from similar resolved tickets');
  const model = llm.ok ? ai.config.model : undefined;
  let body = llm.ok ? llm.value : undefined;

  if (body === undefined) {
    if (similar.length === 0) return failed(db, data, `no draft: ${why}, and there is no similar resolved ticket to draft from`);
    body = offlineDraft(ticket.title, similar, why);
  }
  const source = model ? ('llm' as const) : ('builtin' as const);
  await db.transaction().execute(async (trx) => {
    if (!(await lockTicket(trx, ticket.id))) {
      await appendEvent(trx, failedEvent(data, 'the ticket was deleted'));
      return;
    }
    const message = await insertDraftMessage(trx, { ticketId: ticket.id, draftId: data.draftId, body: body! });
    if (!message) return; // stored by an earlier run
    const dto = messageDto({ ...message, author_name: null, author_role: null });
    await appendEvents(trx, [
      { type: 'message.created', ticketId: ticket.id, actor: worker, data: { message: dto } },
      {
        type: 'ai.draft.completed',
        ticketId: ticket.id,
        actor: worker,
        data: {
          draftId: data.draftId,
          messageId: dto.id,
          source,
          ...(model ? { model } : { fallbackReason: why }),
          basedOn: similar.map((s) => s.number),
        },
      },
    ]);
  });
}

/**
 * Offline: the resolutions of the most similar resolved tickets, marked as
 * such for the agent. Other customers' tickets are not named in the body (a
 * reply sent carelessly must not reveal them): `basedOn` lists them.
 */
export function offlineDraft(title: string, similar: SimilarTicket[], why: string): string {
  const cases = similar.map((s) => `- ${cut(s.resolution.trim(), RESOLUTION_CHARS)}`).join('\n');
  return [
    `[Offline draft: composed from the resolutions of similar resolved tickets (${similar.map((s) => `#${s.number}`).join(', ')}), not written by a language model (${cut(why, 300)}). Check it fits, and remove this line, before sending.]`,
    '',
    'Hello,',
    '',
    `Thank you for contacting us about "${cut(title, 200)}". Here is what resolved similar requests:`,
    '',
    cases,
    '',
    'We will confirm which of these applies to you and follow up.',
  ].join('\n');
}

const failedEvent = (data: DraftPayload, reason: string): NewEvent => ({
  type: 'ai.draft.failed',
  ticketId: data.ticketId,
  actor: worker,
  // The ticket may be gone: nobody but staff sees draft events anyway.
  contactId: null,
  data: { draftId: data.draftId, reason },
});

async function failed(db: Kysely<Database>, data: DraftPayload, reason: string) {
  await db.transaction().execute((trx) => appendEvent(trx, failedEvent(data, reason)));
}

/**
 * Token deltas, coalesced: one NOTIFY per `FLUSH_MS` (or per MAX_LIVE_TEXT
 * characters) rather than per token, in order. Publishing never fails the
 * draft: a lost delta only delays what the stored draft shows anyway.
 */
class DeltaStream {
  static readonly FLUSH_MS = 50;
  readonly #db: Kysely<Database>;
  readonly #log: Logger;
  readonly #ticketId: string;
  readonly #draftId: string;
  #pending = '';
  #index = 0;
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<void> = Promise.resolve();

  constructor(db: Kysely<Database>, log: Logger, ticketId: string, draftId: string) {
    this.#db = db;
    this.#log = log;
    this.#ticketId = ticketId;
    this.#draftId = draftId;
  }

  push(text: string) {
    this.#pending += text;
    if (this.#pending.length >= MAX_LIVE_TEXT) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), DeltaStream.FLUSH_MS);
  }

  #flush() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    while (this.#pending) {
      const delta = this.#pending.slice(0, MAX_LIVE_TEXT);
      this.#pending = this.#pending.slice(MAX_LIVE_TEXT);
      const index = this.#index++;
      this.#chain = this.#chain.then(() =>
        publishLive(this.#db, {
          type: 'ai.draft.delta',
          ticketId: this.#ticketId,
          occurredAt: new Date().toISOString(),
          actor: worker,
          data: { draftId: this.#draftId, index, delta },
        }).catch((err) => this.#log.debug({ err: brief(err) }, 'draft delta not published')),
      );
    }
  }

  async close() {
    this.#flush();
    await this.#chain;
  }
}
