// `npm run bench`: every benchmark, each figure beside its raw-SQL anchor
// measured in the same run. Timings on a shared machine are noisy: compare
// ratios, not absolute numbers.
import os from 'node:os';
import { benchAi } from './ai.ts';
import { benchClaims } from './claims.ts';
import { benchEvents } from './events.ts';
import { benchJobs } from './jobs.ts';
import { benchWebhooks } from './webhooks.ts';

console.log(`Relaydesk benchmarks — ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
console.log('\n# Claims (tickets.claim)');
await benchClaims();
console.log('\n# Job throughput');
await benchJobs();
console.log('\n# Live events');
await benchEvents();
console.log('\n# AI');
await benchAi();
console.log('\n# Webhooks');
await benchWebhooks();
