// auth.login and auth.me.
import { z } from 'zod';
import { email } from '../../core/schemas.ts';
import { login, me } from '../../core/users/login.ts';
import { userOutput } from '../../core/users/schemas.ts';
import { authedProcedure, publicProcedure, router } from '../trpc.ts';

export const authRouter = router({
  login: publicProcedure
    .input(z.strictObject({ email, password: z.string().min(1).max(256) }))
    .output(z.object({ token: z.string(), user: userOutput }))
    .mutation(({ ctx, input }) => login(ctx.db, ctx.loginLimits, input, ctx.ip)),

  me: authedProcedure.output(userOutput).query(({ ctx }) => me(ctx.db, ctx.user.id)),
});
