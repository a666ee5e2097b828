// The SDK's types come from the server's router: a wrong call is a compile
// error in the app, not a 400 at run time. `npm run typecheck` checks the
// expect-error lines below; these assertions check the inferred shapes.
import { describe, expectTypeOf, it } from 'vitest';
import { createRelaydeskClient, type RouterInputs, type RouterOutputs, type Ticket } from '@relaydesk/client';

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
