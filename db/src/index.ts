export * from './schema.ts';
export { createDb, createPool, type CreateDbOptions } from './pool.ts';
export { migrateToLatest } from './migrate.ts';
