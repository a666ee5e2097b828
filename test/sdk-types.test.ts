// The SDK's types come from the server's router: a wrong call is a compile
// error in the app, not a 400 at run time. `npm run typecheck` checks the
// expect-error lines below; these assertions check the inferred shapes.
import { describe, expectTypeOf, it } from 'vitest';
import { createRelaydeskClient, type RelaydeskEvent, type RouterInputs, type RouterOutputs, type Ticket } from '@relaydesk/client';

describe('@relaydesk/client types', () => {
  it('infers inputs and outputs from the router', () => {
    expectTypeOf<RouterInputs['tickets']['create']>().toHaveProperty('title').toEqualTypeOf<string>();
    expectTypeOf<RouterInputs['tickets']['update']['status']>().toEqualTypeOf<
      'open' | 'in_progress' | 'waiting' | 'resolved' | 'closed' | undefined
    >();
    expectTypeOf<RouterOutputs['tickets']['create']['createdAt']>().toEqualTypeOf<string>();
    expectTypeOf<Ticket['messages'][number]['internal']>().toEqualTypeOf<boolean>();
    expectTypeOf<RouterOutputs['tickets']['list']['nextCursor']>().toEqualTypeOf<string | null>();
    // Secrets are not part of any output type.
    expectTypeOf<RouterOutputs['users']['create']>().not.toHaveProperty('password_hash' as never);
  });

  it('types events as a union discriminated by type', () => {
    expectTypeOf<RelaydeskEvent['type']>().toEqualTypeOf<
      | 'ticket.created'
      | 'ticket.updated'
      | 'ticket.assigned'
      | 'ticket.classified'
      | 'ticket.resolved'
      | 'ticket.deleted'
      | 'message.created'
      | 'ai.draft.delta'
      | 'ai.draft.completed'
      | 'ai.draft.failed'
      | 'webhook.disabled'
    >();
    expectTypeOf<Extract<RelaydeskEvent, { type: 'message.created' }>['data']['message']['internal']>().toEqualTypeOf<boolean>();
    expectTypeOf<Extract<RelaydeskEvent, { type: 'ticket.created' }>['data']['ticket']['status']>().toEqualTypeOf<
      'open' | 'in_progress' | 'waiting' | 'resolved' | 'closed'
    >();
    // AI: suggestions, drafts and their events are typed too.
    expectTypeOf<RouterOutputs['tickets']['suggest']['source']>().toEqualTypeOf<'llm' | 'builtin'>();
    expectTypeOf<RouterOutputs['ai']['draftReply']>().toEqualTypeOf<{ draftId: string; ticketId: string }>();
    expectTypeOf<Extract<RelaydeskEvent, { type: 'ai.draft.delta' }>['data']>().toEqualTypeOf<{ draftId: string; index: number; delta: string }>();
    expectTypeOf<Extract<RelaydeskEvent, { type: 'ticket.classified' }>['data']['filled']>().toEqualTypeOf<('category' | 'priority')[]>();
    // A subscription hands each event with its resumable id.
    const rd = createRelaydeskClient({ url: 'http://127.0.0.1:1', token: 'rd_x' });
    const typeOnly = () =>
      rd.events.subscribe.subscribe(
        { lastEventId: '0000000000000001', types: ['ticket.*'] },
        {
          onData(e) {
            expectTypeOf(e.id).toEqualTypeOf<string>();
            expectTypeOf(e.data).toEqualTypeOf<RelaydeskEvent>();
            if (e.data.type === 'ticket.resolved') expectTypeOf(e.data.data.resolution).toEqualTypeOf<string | null>();
          },
        },
      );
    expectTypeOf(typeOnly).toBeFunction();
  });

  it('rejects wrong calls at compile time', () => {
    const rd = createRelaydeskClient({ url: 'http://127.0.0.1:1', token: 'rd_x' });
    const typeOnly = () => {
      // @ts-expect-error priority is an enum
      void rd.tickets.create.mutate({ title: 't', description: 'd', priority: 'urgent' });
      // @ts-expect-error title is required
      void rd.tickets.create.mutate({ description: 'd' });
      // @ts-expect-error no such procedure
      void rd.tickets.destroy.mutate({ id: 'x' });
    };
    expectTypeOf(typeOnly).toBeFunction();
  });
});
