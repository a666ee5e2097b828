// First boot of an empty database: the first admin, with a password and an
// API token. Any process may be the first to boot (npm start, a server, the
// image): an advisory lock makes exactly one of them create it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import { isConnectionError } from '../errors.ts';
import { brief, type Logger } from '../logger.ts';
import { generateToken, hashPassword, hashToken } from './auth.ts';

export const FIRST_ADMIN_EMAIL = 'admin@relaydesk.local';

/** A password for a person to type once and change: 20 URL-safe characters (120 bits). */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}

export interface FirstAdmin {
  email: string;
  /** Set when it was generated: shown once on a terminal, and otherwise only in `passwordFile`. */
  generatedPassword?: string;
  /** Where a generated password was written (mode 0600), for a process with no terminal (a container). */
  passwordFile?: string;
  /** Where its API token was written (mode 0600). */
  tokenFile: string;
}

export interface FirstAdminOptions {
  dataDir: string;
  /** Default admin@relaydesk.local. */
  email?: string;
  /** Default: generated (and returned, to be shown once). */
  password?: string | undefined;
}

/**
 * Creates the first admin when there is no user at all: `email`, with
 * `password` or a generated one, and an API token written to
 * `<dataDir>/admin-token`. Returns what it created, or undefined when the
 * database already had users.
 */
export async function ensureFirstAdmin(db: Kysely<Database>, opts: FirstAdminOptions): Promise<FirstAdmin | undefined> {
  // Cheap check first: every boot but the first stops here.
  if (await db.selectFrom('users').select('id').limit(1).executeTakeFirst()) return undefined;
  const email = (opts.email ?? FIRST_ADMIN_EMAIL).trim().toLowerCase();
  const generatedPassword = opts.password ? undefined : generatePassword();
  const passwordHash = await hashPassword(opts.password ?? generatedPassword!);
  const token = generateToken();
  const tokenFile = path.join(opts.dataDir, 'admin-token');
  const passwordFile = generatedPassword ? path.join(opts.dataDir, 'admin-password') : undefined;
  const created = await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(7390124)`.execute(trx);
    const any = await trx.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (any) return false;
    const id = uuidv7();
    await trx.insertInto('users').values({ id, name: 'Admin', email, role: 'admin', password_hash: passwordHash }).execute();
    await trx.insertInto('api_tokens').values({ id: uuidv7(), user_id: id, token_hash: hashToken(token), name: 'first-boot' }).execute();
    // Written before commit: if the write fails, no admin exists whose token is lost.
    fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    writeSecret(tokenFile, token);
    if (passwordFile) writeSecret(passwordFile, generatedPassword!);
    return true;
  });
  if (!created) return undefined;
  return { email, tokenFile, ...(generatedPassword ? { generatedPassword, passwordFile } : {}) };
}

/** A new file only its owner reads; never through a link someone left in its place. */
function writeSecret(file: string, value: string) {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' });
}

/**
 * Tells the operator what the first boot created, on stdout (never through
 * the log, whose pipelines must not hold a password). A generated password
 * is shown only on a terminal; without one (a container, whose stdout is
 * its log) only the file that holds it is named.
 */
export function announceFirstAdmin(admin: FirstAdmin, print: (line: string) => void, terminal = Boolean(process.stdout.isTTY)) {
  print(`first boot: created the admin ${admin.email}; its API token is in ${admin.tokenFile}`);
  if (!admin.generatedPassword) return;
  if (terminal) print(`its password (shown once, change it with npm run admin -- reset-password): ${admin.generatedPassword}`);
  print(`its generated password is in ${admin.passwordFile} (mode 0600): read it, delete it, or change it with npm run admin -- reset-password`);
}

export interface FirstAdminBoot {
  /** Settles after the first attempt, whatever its outcome: a failed one goes on in the background. */
  ready: Promise<void>;
  /** Ends the retries (shutdown). */
  stop(): void;
}

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 10_000;

/** What an operator can do about a failed attempt, in one line. */
function whyNot(err: unknown, dataDir: string): string {
  const e = err as { code?: string; path?: string; message?: string };
  if (e?.code === '42P01') return 'the database is not migrated yet (run `npm run migrate`); the first admin is created once it is';
  if (isConnectionError(err)) return `the database is unreachable (${brief(err).message}); the first admin is created once it answers`;
  if (e?.path !== undefined && typeof e.code === 'string' && e.code.startsWith('E')) {
    return `cannot write the admin token in ${dataDir} (${e.code}): set RELAYDESK_DATA_DIR to a writable directory`;
  }
  return `could not create the first admin: ${brief(err).message}`;
}

/**
 * ensureFirstAdmin for a long-running process that may boot before its
 * database answers or is migrated: a failed attempt is logged (never with a
 * secret) and retried, 1 s doubling to 10 s apart, until one succeeds or
 * `stop()`. `onCreated` is where the caller shows the generated password,
 * once, on the terminal: never through the log, which must not hold secrets.
 */
export function keepEnsuringFirstAdmin(
  db: Kysely<Database>,
  opts: FirstAdminOptions,
  hooks: { log: Logger; onCreated: (admin: FirstAdmin) => void },
): FirstAdminBoot {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastWarning = '';
  let delay = RETRY_FIRST_MS;
  const attempt = async (): Promise<void> => {
    if (stopped) return;
    try {
      const admin = await ensureFirstAdmin(db, opts);
      if (admin) {
        hooks.log.info({ email: admin.email, tokenFile: admin.tokenFile, passwordGenerated: Boolean(admin.generatedPassword) }, 'created the first admin');
        hooks.onCreated(admin);
      } else if (lastWarning) {
        hooks.log.info('the first admin exists: nothing to create');
      }
    } catch (err) {
      if (stopped) return;
      const why = whyNot(err, opts.dataDir);
      // Once per reason, not once per retry.
      if (why !== lastWarning) hooks.log.warn(why);
      lastWarning = why;
      timer = setTimeout(() => void attempt(), delay);
      timer.unref(); // never what keeps a process alive
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  };
  return {
    ready: attempt(),
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
