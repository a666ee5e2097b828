// @relaydesk/client as a user gets it: `npm pack`ed, installed into a fresh
// project that has none of the server's dependencies, type-checked there with
// strict settings (library checks on), then run against a real server.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useWorld } from './helpers/fixtures.ts';
import { repoRoot } from './helpers/server.ts';

const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });

describe('@relaydesk/client from npm pack', () => {
  const w = useWorld('sdkpack');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-consumer-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('installs, type-checks and runs in a project without the server', { timeout: 240_000 }, async () => {
    run(process.execPath, [path.join(repoRoot, 'scripts/build-sdk.ts')], repoRoot);
    const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], path.join(repoRoot, 'client-sdk'))) as {
      filename: string;
      files: { path: string }[];
    }[];
    expect(packed[0]!.files.map((f) => f.path).sort()).toEqual(['dist/app-router.d.ts', 'dist/events.d.ts', 'dist/index.d.ts', 'dist/index.js', 'package.json']);

    const tsVersion = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules/typescript/package.json'), 'utf8')).version as string;
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', path.join(dir, packed[0]!.filename), `typescript@${tsVersion}`], dir);
    // Nothing of the server came along.
    for (const pkg of ['kysely', 'pino', 'express', 'pg', 'pg-boss', 'zod', '@relaydesk/server']) {
      expect(fs.existsSync(path.join(dir, 'node_modules', pkg)), pkg).toBe(false);
    }

    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          // @trpc/server's own declarations use Disposable (TypeScript's esnext.disposable lib).
          lib: ['es2022', 'dom', 'esnext.disposable'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          skipLibCheck: false,
          types: [],
          outDir: 'out',
        },
        files: ['consumer.ts'],
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'consumer.ts'),
      `import { createRelaydeskClient, errorCode, type RelaydeskEvent, type RouterInputs, type RouterOutputs } from '@relaydesk/client';
const env = (globalThis as unknown as { process: { env: Record<string, string> } }).process.env;
const rd = createRelaydeskClient({ url: env.RELAYDESK_URL!, token: env.RELAYDESK_TOKEN });
const input: RouterInputs['tickets']['create'] = { title: 'From a packed SDK', description: 'typed end to end', priority: 'high' };
const ticket: RouterOutputs['tickets']['create'] = await rd.tickets.create.mutate(input);
// @ts-expect-error priority is an enum
const wrong: RouterInputs['tickets']['create'] = { title: 'x', description: 'y', priority: 'urgent' };
void wrong;
const status: 'open' | 'in_progress' | 'waiting' | 'resolved' | 'closed' = ticket.status;
const missing = await rd.tickets.get.query({ id: '01900000-0000-7000-8000-000000000000' }).catch((e: unknown) => errorCode(e));
// Live events over SSE (the eventsource package), replayed from the start of the log.
const created = await new Promise<string>((resolve, reject) => {
  const sub = rd.events.subscribe.subscribe({ ticketId: ticket.id, lastEventId: '0' }, {
    onData(e) {
      const event: RelaydeskEvent = e.data;
      // The union narrows on type.
      if (event.type === 'ticket.created') {
        sub.unsubscribe();
        resolve(event.data.ticket.title);
      }
    },
    onError: reject,
  });
});
console.log(JSON.stringify({ number: ticket.number, status, missing, created }));
`,
    );
    try {
      run(process.execPath, [path.join(dir, 'node_modules/typescript/bin/tsc'), '-p', dir], dir);
    } catch (err) {
      throw new Error(`the consumer does not type-check:\n${(err as { stdout?: string }).stdout}`);
    }
    const out = run(process.execPath, [path.join(dir, 'out/consumer.js')], dir, { ...process.env, RELAYDESK_URL: w.url, RELAYDESK_TOKEN: w.admin.token });
    expect(JSON.parse(out)).toMatchObject({ status: 'open', missing: 'NOT_FOUND', created: 'From a packed SDK' });
  });
});
