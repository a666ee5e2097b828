export { appRouter, type AppRouter } from './router.ts';
export { createApp } from './app.ts';
export { createContextInner, createCallerFactory, type SessionUser } from './trpc.ts';
export { AppError } from '../core/errors.ts';
