// Real worker processes (node worker/src/main.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { processEnv } from '../../scripts/process-env.ts';
import { repoRoot } from './server.ts';

export interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

/** `output`: the worker's stdout and stderr are also collected there, line by line. */
export async function startWorker(databaseUrl: string, env: Record<string, string> = {}, opts: { output?: string[] } = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'worker/src/main.ts')], {
    env: processEnv({ ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', opts.output ? 'pipe' : 'inherit', opts.output ? 'pipe' : 'inherit', 'ipc'],
  });
  if (opts.output) {
    const lines = opts.output;
    for (const [stream, echo] of [
      [child.stdout, process.stdout],
      [child.stderr, process.stderr],
    ] as const) {
      let rest = '';
      stream!.setEncoding('utf8');
      stream!.on('data', (chunk: string) => {
        echo.write(chunk);
        const parts = (rest + chunk).split('\n');
        rest = parts.pop()!;
        lines.push(...parts);
      });
    }
  }
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not become ready within 30 s')), 30_000);
    child.on('message', (m: { type?: string }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited during start-up (code ${code})`));
    });
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    exited,
    async stop() {
      if (gone()) return;
      child.kill('SIGTERM');
      await exited;
    },
    async kill9() {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Resolves once `check` is true, polling; fails with `what` after `ms`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
