// users.*: people and their API tokens (admin only).
import { z } from 'zod';
import { id, page, pageOf } from '../../core/schemas.ts';
import { createUser } from '../../core/users/create.ts';
import { listUsers } from '../../core/users/queries.ts';
import {
  createTokenInput,
  createTokenOutput,
  createUserInput,
  listUsersInput,
  revokeTokenOutput,
  tokensOutput,
  updateUserInput,
  userDto,
  userOutput,
} from '../../core/users/schemas.ts';
import { apiTokensOf, createApiToken, revokeApiToken } from '../../core/users/tokens.ts';
import { updateUser } from '../../core/users/update.ts';
import { adminProcedure, router } from '../trpc.ts';

export const usersRouter = router({
  create: adminProcedure
    .input(createUserInput)
    .output(userOutput)
    .mutation(({ ctx, input }) => createUser(ctx.db, ctx.jobs, input)),

  list: adminProcedure
    .input(listUsersInput)
    .output(pageOf(userOutput))
    .query(async ({ ctx, input }) => page(await listUsers(ctx.db, input), input.limit, userDto)),

  update: adminProcedure
    .input(updateUserInput)
    .output(userOutput)
    .mutation(async ({ ctx, input }) => {
      const user = await updateUser(ctx.db, ctx.jobs, ctx.user, input);
      ctx.authChanged?.(input.id);
      return user;
    }),

  createToken: adminProcedure
    .input(createTokenInput)
    .output(createTokenOutput)
    .mutation(({ ctx, input }) => createApiToken(ctx.db, ctx.user, input)),

  revokeToken: adminProcedure
    .input(z.strictObject({ id }))
    .output(revokeTokenOutput)
    .mutation(async ({ ctx, input }) => {
      const revoked = await revokeApiToken(ctx.db, ctx.user, input.id);
      ctx.authChanged?.();
      return revoked;
    }),

  tokens: adminProcedure
    .input(z.strictObject({ userId: id }))
    .output(tokensOutput)
    .query(({ ctx, input }) => apiTokensOf(ctx.db, ctx.user, input.userId)),
});
