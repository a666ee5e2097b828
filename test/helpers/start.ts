// `npm start` as a user runs it (node scripts/start.ts), in its own data
// directory and its own process group, for the end-to-end and supervisor
// tests. Waits are on what the supervisor prints, with deadlines far from
// the normal case: a start takes 3–8 s here, longer on a busy machine.
//
// Cleanup kills only what a test started: the start process's own group
// (supervisor, server, worker) and the Postgres of the test's data directory,
// by pid, never by name.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isAlive } from '@relaydesk/db/embedded';
import { repoRoot } from './server.ts';

/** Bound on one `npm start` reaching "Relaydesk is running". */
export const START_TIMEOUT_MS = 120_000;

export interface StartProcess {
  child: ChildProcess;
  dataDir: string;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  /** The exit code (null when killed by a signal). */
  exit: Promise<number | null>;
  exited(): boolean;
  /**
   * The first match of `re` in the output printed after offset `from`.
   * Fails when the process exits without printing it, or after `timeoutMs`.
   */
  waitFor(re: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<RegExpExecArray>;
  /** Resolves with the URL once "Relaydesk is running" is printed. */
  running(timeoutMs?: number): Promise<string>;
  /** The pid of the live server or worker, as the supervisor last printed it. */
  pid(name: 'server' | 'worker'): number;
}

const started: StartProcess[] = [];

export function npmStart(opts: { dataDir: string; pgPort: number; env?: Record<string, string> }): StartProcess {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RELAYDESK_DATA_DIR: opts.dataDir,
    RELAYDESK_PG_PORT: String(opts.pgPort),
    LOG_LEVEL: 'warn',
    ...opts.env,
  };
  delete env.DATABASE_URL;
  delete env.GROQ_API_KEY; // the built-in classifier: no network
  // Its own process group, so a "Ctrl-C" can go to the whole group as a terminal sends it.
  const child = spawn(process.execPath, [path.join(repoRoot, 'scripts/start.ts')], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners = new Set<() => void>();
  const changed = () => listeners.forEach((l) => l());
  child.stdout!.on('data', (d) => ((out += d), changed()));
  child.stderr!.on('data', (d) => ((out += d), changed()));
  let hasExited = false;
  const exit = new Promise<number | null>((resolve) =>
    // 'close': the exit code, and all the output read.
    child.once('close', (code) => {
      hasExited = true;
      resolve(code);
      changed();
    }),
  );

  const s: StartProcess = {
    child,
    dataDir: opts.dataDir,
    output: () => out,
    exit,
    exited: () => hasExited,
    waitFor(re, { from = 0, timeoutMs = 60_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = new RegExp(re.source, re.flags.replace('g', '')).exec(out.slice(from));
          if (m) return done(() => resolve(m));
          if (hasExited) return done(() => reject(new Error(`npm start exited without printing ${re}:\n${out}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} from npm start:\n${out}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    async running(timeoutMs = START_TIMEOUT_MS) {
      const url = (await s.waitFor(/Relaydesk is running at (http:\/\/\S+) /, { timeoutMs }))[1]!;
      // Printed right after it, maybe in the next chunk read from the pipe.
      await s.waitFor(/\] processes: .*\n/);
      return url;
    },
    pid(name) {
      // "processes: server pid 1, worker pid 2; …" at start, "worker is back (pid 3)" after a
      // restart; matched up to the character after the number, never a number cut short.
      const all = [...out.matchAll(new RegExp(`\\b${name} (?:pid (\\d+)[,;]|is back \\(pid (\\d+)\\))`, 'g'))];
      const last = all.at(-1);
      if (!last) throw new Error(`npm start has not printed the ${name}'s pid:\n${out}`);
      return Number(last[1] ?? last[2]);
    },
  };
  started.push(s);
  return s;
}

/** The pid in `<dataDir>/postgres/postmaster.pid`, while Postgres runs there. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postgres/postmaster.pid'), 'utf8').split('\n')[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Every process below `pid` (from /proc), children first. */
export function descendants(pid: number): number[] {
  const kids: number[] = [];
  for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const ppid = Number(fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      if (ppid === pid) kids.push(Number(d), ...descendants(Number(d)));
    } catch {
      /* exited meanwhile */
    }
  }
  return kids;
}

/** The command line of a live process, or undefined once it is gone. */
export function commandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/** Resolves once `check` holds, polling; fails with `what` after `ms`. */
export async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * For afterAll: kills whatever the file's starts left running — each start's
 * process group and the Postgres of its data directory — and waits for them.
 */
export async function killStarted(): Promise<void> {
  const kill = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  };
  const pids: number[] = [];
  for (const s of started.splice(0)) {
    if (s.child.pid === undefined) continue;
    if (!s.exited()) pids.push(s.child.pid, ...descendants(s.child.pid));
    kill(-s.child.pid, 'SIGKILL');
    const pg = postmasterPid(s.dataDir);
    // Only the postgres serving this test's data directory (not a recycled pid).
    if (pg && commandLine(pg)?.includes(s.dataDir)) {
      kill(pg, 'SIGQUIT');
      pids.push(pg);
    }
  }
  await until('the processes the test started to exit', () => pids.every((p) => !isAlive(p)), 30_000).catch(() => {});
}
