import { z } from 'zod';
import { issueToken, LOGIN_TOKEN_TTL_MS, verifyPassword } from '../auth.ts';
import { AppError } from '../errors.ts';
import { getUser, findLoginUser } from '../queries/users.ts';
import { RateLimiter } from '../rate-limit.ts';
import { authedProcedure, publicProcedure, router } from '../trpc.ts';
import { email } from './shared.ts';
import { userDto, userOutput } from './users.ts';

// Failed logins per 15 minutes: 10 per email, 100 per client address (an
// office behind one NAT shares an address).
const perEmail = new RateLimiter(10, 15 * 60_000);
const perAddress = new RateLimiter(100, 15 * 60_000);

export const authRouter = router({
  login: publicProcedure
    .input(z.object({ email, password: z.string().min(1).max(256) }))
    .output(z.object({ token: z.string(), user: userOutput }))
    .mutation(async ({ ctx, input }) => {
      const wait = Math.max(perEmail.wait(input.email), perAddress.wait(ctx.ip));
      if (wait > 0) throw new AppError('TOO_MANY_REQUESTS', `too many failed logins; try again in ${wait} s`);
      // Counted before the (slow) verification, so parallel or batched
      // guesses can't all slip in under the limit; a success takes it back.
      perEmail.fail(input.email);
      perAddress.fail(ctx.ip);
      const found = await findLoginUser(ctx.db, input.email);
      const ok = await verifyPassword(found?.password_hash ?? null, input.password);
      if (!found || !ok || !found.active) throw new AppError('UNAUTHORIZED', 'wrong email or password');
      perEmail.reset(input.email);
      perAddress.undo(ctx.ip);
      const { token } = await issueToken(ctx.db, found.id, 'login', LOGIN_TOKEN_TTL_MS);
      const user = await getUser(ctx.db, found.id);
      return { token, user: userDto(user!) };
    }),

  me: authedProcedure.output(userOutput).query(async ({ ctx }) => {
    const user = await getUser(ctx.db, ctx.user.id);
    if (!user) throw new AppError('UNAUTHORIZED', 'user no longer exists');
    return userDto(user);
  }),
});
