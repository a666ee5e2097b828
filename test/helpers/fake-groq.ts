// A local fake of Groq's OpenAI-compatible chat completions API, so the real
// ChatGroq client (and groq-sdk under it) runs in tests over real HTTP.
//
// Behaviour is chosen by markers in the ticket text, so requests sent by
// worker processes are steered from the test: `[fake:429once]` (a 429 with
// Retry-After: 1, then an answer), `[fake:500]`, `[fake:badschema]`,
// `[fake:hang]` (never answers), `[fake:stream-500]`, `[fake:stream-hang]`
// (a few tokens, then silence), `[fake:cat=<category>]`. Otherwise it
// answers a classification request (tool call or JSON, whichever was asked
// for) or streams a draft.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: {
    model: string;
    stream?: boolean;
    messages: { role: string; content: string }[];
    tools?: { type: string; function: { name: string; parameters: unknown } }[];
    tool_choice?: unknown;
    response_format?: { type: string; json_schema?: { name: string; schema: unknown } };
    max_completion_tokens?: number;
    temperature?: number;
  };
  /** What the fake did. */
  outcome: string;
}

export interface FakeGroq {
  url: string;
  requests: FakeRequest[];
  /** The requests whose ticket text contains `marker`. */
  about(marker: string): FakeRequest[];
  /** The draft text the fake streams. */
  draftText: string;
  close(): Promise<void>;
}

export const FAKE_CLASSIFICATION = { category: 'account', priority: 'critical', confidence: 0.93, reason: 'fake: the customer cannot log in' } as const;

const DRAFT_TEXT =
  'Hello, thanks for writing in. I have reset the sign-in link on your account, so please try logging in again and let me know if anything still blocks you.';

export async function startFakeGroq(): Promise<FakeGroq> {
  const requests: FakeRequest[] = [];
  const seen = new Map<string, number>();
  const sockets = new Set<import('node:net').Socket>();

  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/openai/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
        return;
      }
      const body = JSON.parse(raw) as FakeRequest['body'];
      const text = body.messages.map((m) => m.content).join('\n');
      const marker = /\[fake:([\w=-]+)\]/.exec(text)?.[1] ?? '';
      // Per ticket text: "once" behaviours change after the first request.
      const n = (seen.get(text) ?? 0) + 1;
      seen.set(text, n);
      const record: FakeRequest = { at: Date.now(), headers: req.headers, body, outcome: '' };
      requests.push(record);
      const done = (outcome: string) => (record.outcome = outcome);

      if (req.headers.authorization !== 'Bearer test-groq-key') {
        done('401');
        return json(res, 401, { error: { message: 'Invalid API Key', type: 'invalid_request_error', code: 'invalid_api_key' } });
      }
      if (marker === 'hang') {
        done('hang');
        return; // never answers
      }
      if (marker === '429once' && n === 1) {
        done('429');
        res.setHeader('retry-after', '1');
        return json(res, 429, { error: { message: 'Rate limit reached for model. Please try again in 1s.', type: 'tokens', code: 'rate_limit_exceeded' } });
      }
      if (marker === '500' || (body.stream && marker === 'stream-500')) {
        done('500');
        return json(res, 500, { error: { message: 'Internal Server Error', type: 'internal_server_error' } });
      }
      if (body.stream) return streamDraft(res, body.model, marker === 'stream-hang', done);

      const category = /^cat=(\w+)$/.exec(marker)?.[1] ?? FAKE_CLASSIFICATION.category;
      const answer = marker === 'badschema' ? { category: 'spam', priority: 'whenever', confidence: 7 } : { ...FAKE_CLASSIFICATION, category };
      const completion = (message: object, finish: string) => ({
        id: `chatcmpl-${requests.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
        usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 },
      });
      if (body.tools?.length) {
        done('tool_call');
        const name = body.tools[0]!.function.name;
        return json(
          res,
          200,
          completion(
            { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name, arguments: JSON.stringify(answer) } }] },
            'tool_calls',
          ),
        );
      }
      done(body.response_format?.type ?? 'text');
      return json(res, 200, completion({ role: 'assistant', content: JSON.stringify(answer) }, 'stop'));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    draftText: DRAFT_TEXT,
    about: (marker) => requests.filter((r) => r.body.messages.some((m) => m.content.includes(marker))),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function streamDraft(res: http.ServerResponse, model: string, hang: boolean, done: (o: string) => void) {
  done(hang ? 'stream-hang' : 'stream');
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const id = `chatcmpl-${Date.now()}`;
  const chunk = (delta: object, finish: string | null, extra: object = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`;
  const words = DRAFT_TEXT.split(/(?<= )/);
  res.write(chunk({ role: 'assistant', content: '' }, null));
  let i = 0;
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    if (hang && i === 3) return clearInterval(timer); // a few tokens, then silence
    if (i < words.length) {
      res.write(chunk({ content: words[i++] }, null));
      return;
    }
    clearInterval(timer);
    res.write(chunk({}, 'stop', { x_groq: { id, usage: { prompt_tokens: 300, completion_tokens: words.length, total_tokens: 300 + words.length } } }));
    res.end('data: [DONE]\n\n');
  }, 15);
}
