// webhooks.*: endpoints (admin only), their delivery log, and redelivery.
import { deliveryLog } from '../../core/webhooks/deliveries.ts';
import { createEndpoint, deleteEndpoint, rotateSecret, updateEndpoint } from '../../core/webhooks/endpoints.ts';
import { listEndpoints } from '../../core/webhooks/queries.ts';
import { redeliver } from '../../core/webhooks/redeliver.ts';
import {
  createEndpointInput,
  deleteEndpointOutput,
  deliveriesOutput,
  endpointDto,
  endpointOutput,
  listDeliveriesInput,
  listEndpointsInput,
  redeliverInput,
  redeliverOutput,
  rotateSecretInput,
  updateEndpointInput,
  withSecret,
} from '../../core/webhooks/schemas.ts';
import { id, page, pageOf } from '../../core/schemas.ts';
import { z } from 'zod';
import { adminProcedure, router } from '../trpc.ts';

export const webhooksRouter = router({
  create: adminProcedure
    .input(createEndpointInput)
    .output(withSecret)
    .mutation(({ ctx, input }) => createEndpoint(ctx.db, ctx.webhooks, ctx.user, input, ctx.log)),

  list: adminProcedure
    .input(listEndpointsInput)
    .output(pageOf(endpointOutput))
    .query(async ({ ctx, input }) => page(await listEndpoints(ctx.db, input), input.limit, endpointDto)),

  update: adminProcedure
    .input(updateEndpointInput)
    .output(endpointOutput)
    .mutation(({ ctx, input }) => updateEndpoint(ctx.db, ctx.webhooks, ctx.user, input)),

  rotateSecret: adminProcedure
    .input(rotateSecretInput)
    .output(withSecret)
    .mutation(({ ctx, input }) => rotateSecret(ctx.db, ctx.user, input, ctx.log)),

  delete: adminProcedure
    .input(z.strictObject({ id }))
    .output(deleteEndpointOutput)
    .mutation(({ ctx, input }) => deleteEndpoint(ctx.db, ctx.user, input.id)),

  deliveries: adminProcedure
    .input(listDeliveriesInput)
    .output(deliveriesOutput)
    .query(({ ctx, input }) => deliveryLog(ctx.db, ctx.user, input)),

  redeliver: adminProcedure
    .input(redeliverInput)
    .output(redeliverOutput)
    .mutation(({ ctx, input }) => redeliver(ctx.db, ctx.jobs, ctx.webhooks, ctx.user, input)),
});
