// A real server process (node server/src/api/main.ts) on a free port.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processEnv } from '../../scripts/process-env.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startServer(databaseUrl: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  // Its own data folder (removed when it stops): a first-boot admin's token never lands in the repository's .data.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-server-'));
  const child = spawn(process.execPath, [path.join(repoRoot, 'server/src/api/main.ts')], {
    // Started as npm start starts it (its heap settings and thread pool).
    env: processEnv({ ...process.env, DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', RELAYDESK_DATA_DIR: dataDir, ...env }),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start within 30 s')), 30_000);
    child.on('message', (m: { type?: string; url?: string }) => {
      if (m.type === 'listening') {
        clearTimeout(timer);
        resolve(m.url!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited during start-up (code ${code})`));
    });
  });
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
