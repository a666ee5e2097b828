// `npm run admin -- <command>`: operator commands against DATABASE_URL (from
// the environment, or ./.env):
//
//   create --email E --name N [--role admin|agent|customer] [--password P]
//   reset-password --email E [--password P]   ends the user's login sessions
//   token --email E [--name N]                a new API token, shown once
//
// A password that is not given is generated and printed once; only its hash
// is stored. Output goes to the terminal only: nothing here writes a log.
// Bad arguments exit with code 2, failures (no such user, the database
// unreachable) with 1, each with one line on stderr.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createDb } from '@relaydesk/db';
import { loadEnv, serverEnv } from '@relaydesk/server/core/env';
import { AppError, fromPgError } from '@relaydesk/server/core/errors';
import { createBoss, ensureQueues } from '@relaydesk/server/core/jobs/boss';
// Not (yet) in @relaydesk/server's exports: imported by path.
import { createJobs } from '../server/src/core/jobs/send.ts';
import { operatorCreateUser, operatorIssueToken, operatorResetPassword } from '../server/src/core/users/operator.ts';
import { createUserInput, password } from '../server/src/core/users/schemas.ts';
import { email } from '../server/src/core/schemas.ts';

const USAGE: Record<string, string> = {
  create: 'create --email E --name N [--role admin|agent|customer] [--password P]',
  'reset-password': 'reset-password --email E [--password P]',
  token: 'token --email E [--name N]',
};
const OPTIONS: Record<string, string[]> = { create: ['email', 'name', 'role', 'password'], 'reset-password': ['email', 'password'], token: ['email', 'name'] };
const usage = () => `usage: npm run admin -- ${Object.values(USAGE).join(' | ')}`;

function badArguments(line: string): never {
  console.error(`admin: ${line}`);
  process.exit(2);
}

function parse() {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: { email: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, password: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    const e = err as { code?: string; message: string };
    const unknown = /Unknown option '([^']+)'/.exec(e.message)?.[1];
    if (unknown) badArguments(`unknown option ${unknown} (${usage()})`);
    const valueless = /Option '(--\w+)/.exec(e.message)?.[1];
    badArguments(valueless ? `${valueless} needs a value` : e.message.split('. ')[0]!);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const [command, ...extra] = positionals;
  if (!command) badArguments(`which command? ${usage()}`);
  if (!Object.hasOwn(USAGE, command)) badArguments(`unknown command "${command}": use create, reset-password or token (${usage()})`);
  if (extra.length) badArguments(`unexpected argument "${extra[0]}" (usage: npm run admin -- ${USAGE[command]})`);
  for (const option of Object.keys(values)) {
    if (!OPTIONS[command]!.includes(option)) badArguments(`--${option} is not an option of ${command} (usage: npm run admin -- ${USAGE[command]})`);
  }
  for (const required of command === 'create' ? ['email', 'name'] : ['email']) {
    if (values[required as keyof typeof values] === undefined) badArguments(`${command} needs --${required} (usage: npm run admin -- ${USAGE[command]})`);
  }
  return { command, values };
}

/** Validates with the same schemas as the API; a bad value is a bad argument, named as the option. */
function valid<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const message = issue.code === 'invalid_value' ? `must be one of ${issue.values.join(', ')}` : issue.message;
  badArguments(`--${String(issue.path[0] ?? 'input')} ${message}`);
}

type Connection = { db: ReturnType<typeof createDb>; jobs: ReturnType<typeof createJobs> };

/** Checks the command's arguments now (before any connection); returns what runs it. */
function plan(command: string, values: Record<string, string | boolean | undefined>): (c: Connection) => Promise<void> {
  if (command === 'create') {
    const input = valid(createUserInput, { email: values.email, name: values.name, role: values.role ?? 'admin', password: values.password });
    return async ({ db, jobs }) => {
      const { user, generatedPassword } = await operatorCreateUser(db, jobs, input);
      console.log(`created the ${user.role} ${user.name} <${user.email}> (id ${user.id})`);
      if (generatedPassword) console.log(`password (shown once): ${generatedPassword}`);
    };
  }
  if (command === 'reset-password') {
    const input = valid(z.object({ email, password: password.optional() }), { email: values.email, password: values.password });
    return async ({ db, jobs }) => {
      const { user, generatedPassword } = await operatorResetPassword(db, jobs, input);
      console.log(`reset the password of ${user.email}: its login sessions are ended (API tokens stay until revoked)`);
      if (generatedPassword) console.log(`new password (shown once): ${generatedPassword}`);
    };
  }
  const input = valid(z.object({ email, name: z.string().trim().min(1).max(100) }), { email: values.email, name: values.name ?? 'admin-cli' });
  return async ({ db }) => {
    const t = await operatorIssueToken(db, input);
    // The token alone on the last line, for `| tail -n 1`.
    console.log(`API token "${t.name}" for ${input.email} (id ${t.id}), shown once:`);
    console.log(t.token);
  };
}

const { command, values } = parse();
const run = plan(command, values);

const env = loadEnv(serverEnv.pick({ DATABASE_URL: true, AUTO_ASSIGN: true }));
const db = createDb(env.DATABASE_URL, { max: 2, applicationName: 'relaydesk-admin' });
// pg-boss starts only if a command sends a job (a new agent wakes the assigner).
const boss = createBoss(env.DATABASE_URL, { max: 1, applicationName: 'relaydesk-admin-boss' });
boss.on('error', () => {});
let bossStarted = false;
const jobs = createJobs(boss, env.AUTO_ASSIGN, async () => {
  bossStarted = true;
  await boss.start();
  await ensureQueues(boss);
});

function failure(err: unknown): string {
  if ((err as { code?: string }).code === '42P01') return 'the database is not migrated: run `npm run migrate` first';
  const e = fromPgError(err);
  if (e instanceof AppError) return e.code === 'UNAVAILABLE' ? `the database is unreachable (${(err as Error).message})` : e.message;
  return (err as Error).message ?? String(err);
}

try {
  await run({ db, jobs });
} catch (err) {
  console.error(`admin: ${failure(err)}`);
  process.exitCode = 1;
} finally {
  if (bossStarted) await boss.stop({ graceful: false, close: true }).catch(() => {});
  await db.destroy();
}
