// Run with the project's Node while `npm start` is up:
//   npx node examples/quickstart.ts
// It reads the first admin's token from .data/admin-token (or RELAYDESK_TOKEN).
import fs from 'node:fs';
import path from 'node:path';
import { createRelaydeskClient } from '@relaydesk/client';

const url = process.env.RELAYDESK_URL ?? 'http://127.0.0.1:3000';
const token =
  process.env.RELAYDESK_TOKEN ?? fs.readFileSync(path.join(process.env.RELAYDESK_DATA_DIR ?? '.data', 'admin-token'), 'utf8').trim();

const rd = createRelaydeskClient({ url, token });
const ticket = await rd.tickets.create.mutate({
  title: 'My first ticket',
  description: 'Created through @relaydesk/client',
  contact: { email: 'someone@example.com', name: 'Someone' },
});
console.log(`created ticket #${ticket.number} (${ticket.id})`);
const { items } = await rd.tickets.list.query({ limit: 10 });
console.log(`latest tickets: ${items.map((t) => `#${t.number} ${t.title}`).join(', ')}`);
