// What every long-running process (the server, each worker) is started with,
// by `npm start` and by the tests and benchmarks alike; the Dockerfile's ENV
// holds the same values (test/docker.test.ts checks that they agree).
//
// - UV_THREADPOOL_SIZE: DNS lookups (webhook targets) run on libuv's thread
//   pool, and a slow resolver must not starve the rest of the process
//   (default pool: 4).
// - V8's heap: on a large machine Node commits a 128 MB young generation
//   from the start and lets garbage pile up to several times the live heap
//   before a full collection, keeping the pages after it. A heap study of
//   the server with 1,000 subscribers under load found no leak (the live
//   heap stays under 100 MB), yet RSS reached 600 MB. 16 MB semi-spaces and
//   a 384 MB old generation keep it near 230 MB.
//
// An operator's own NODE_OPTIONS come after these, so theirs win.
export const PROCESS_ENV_DEFAULTS = {
  UV_THREADPOOL_SIZE: '16',
  NODE_OPTIONS: '--max-semi-space-size=16 --max-old-space-size=384',
} as const;

/** `env` with the defaults under it; NODE_OPTIONS given in `env` is appended to ours. */
export function processEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const nodeOptions = [PROCESS_ENV_DEFAULTS.NODE_OPTIONS, env.NODE_OPTIONS].filter(Boolean).join(' ');
  return { UV_THREADPOOL_SIZE: PROCESS_ENV_DEFAULTS.UV_THREADPOOL_SIZE, ...env, NODE_OPTIONS: nodeOptions };
}
