// The official Anthropic SDK, both the 1.x line and the 0.x line, against aiclient-server
// with a claude-custom upstream. The same tests run for both lines.
//
// How the two lines authenticate (read from their client.mjs):
//   0.x: `apiKey` (default env ANTHROPIC_API_KEY)     -> `X-Api-Key: <key>`
//        `authToken` (default env ANTHROPIC_AUTH_TOKEN) -> `Authorization: Bearer <token>`
//        (both may be set; both headers are then sent), `anthropic-version: 2023-06-01`.
//   1.x: at most one credential; `apiKey` (default env ANTHROPIC_API_KEY, which wins over
//        ANTHROPIC_AUTH_TOKEN) and `authToken` are BOTH sent as `Authorization: Bearer <value>`;
//        no X-Api-Key header at all; `anthropic-version: 2026-10-21`.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import * as sdk1 from '@anthropic-ai/sdk';
import * as sdk0 from 'anthropic-sdk-0';
import { VERSION as VERSION0 } from 'anthropic-sdk-0/version';
import { VERSION as VERSION1 } from '@anthropic-ai/sdk/version';

import {
  anthropicError,
  anthropicMessage,
  anthropicStream,
  headersContaining,
  recordingFetch,
  startFakeUpstream,
  startGateway,
  stopAll,
} from './helpers.mjs';

const CLIENT_KEY = 'sk-gateway-client-key-anthropic';
const UPSTREAM_KEY = 'sk-ant-upstream-1';
const MODEL = 'claude-sonnet-4-6';

const LINES = [
  {
    name: `@anthropic-ai/sdk ${VERSION1}`,
    sdk: sdk1,
    keyHeader: 'authorization', // where `apiKey` goes
    keyValue: (k) => `Bearer ${k}`,
  },
  {
    name: `@anthropic-ai/sdk ${VERSION0} (anthropic-sdk-0)`,
    sdk: sdk0,
    keyHeader: 'x-api-key',
    keyValue: (k) => k,
  },
];

/** Runs fn with ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN set as given (others unset). */
async function withAnthropicEnv(vars, fn) {
  const names = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'ANTHROPIC_BASE_URL'];
  const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
  for (const n of names) delete process.env[n];
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const n of names) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
  }
}

let upstream;
let gateway;

before(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({
    pools: {
      'claude-custom': [{ CLAUDE_API_KEY: UPSTREAM_KEY, CLAUDE_BASE_URL: upstream.origin, uuid: 'claude-sdk-test-1' }],
    },
    modelProvider: 'claude-custom',
    apiKey: CLIENT_KEY,
  });
});

after(() => stopAll(gateway, upstream));

for (const line of LINES) {
  const { Anthropic, AuthenticationError, InternalServerError } = line.sdk;

  describe(`${line.name} -> aiclient-server (claude-custom)`, () => {
    beforeEach(() => upstream.reset());

    const client = (opts = {}) =>
      new Anthropic({ apiKey: CLIENT_KEY, baseURL: gateway.origin, maxRetries: 0, timeout: 10_000, ...opts });

    test('messages.create returns the upstream message', async () => {
      upstream.enqueue({
        status: 200,
        json: anthropicMessage({ text: 'Bonjour! Paris is lovely.', usage: { input_tokens: 14, output_tokens: 9 } }),
      });
      const msg = await client().messages.create({
        model: MODEL,
        max_tokens: 256,
        messages: [{ role: 'user', content: 'Say hello in French.' }],
      });
      assert.equal(msg.type, 'message');
      assert.equal(msg.role, 'assistant');
      assert.equal(msg.id, 'msg_01FakeUpstream0000000001');
      assert.equal(msg.content.length, 1);
      assert.equal(msg.content[0].type, 'text');
      assert.equal(msg.content[0].text, 'Bonjour! Paris is lovely.');
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(msg.usage.input_tokens, 14);
      assert.equal(msg.usage.output_tokens, 9);
    });

    test('the upstream gets x-api-key <CLAUDE_API_KEY>, anthropic-version and the body intact', async () => {
      upstream.enqueue({ status: 200, json: anthropicMessage() });
      const fetch = recordingFetch();
      const body = {
        model: MODEL,
        max_tokens: 100,
        system: 'You are a test fixture.',
        messages: [
          { role: 'user', content: 'First question ✓' },
          { role: 'assistant', content: 'First answer.' },
          { role: 'user', content: [{ type: 'text', text: 'Second question' }] },
        ],
        temperature: 0.5,
        metadata: { user_id: 'sdk-test-user' },
      };
      await client({ fetch }).messages.create(body);

      const sent = fetch.last();
      assert.equal(sent.headers[line.keyHeader], line.keyValue(CLIENT_KEY), `${line.name} sends its apiKey in ${line.keyHeader}`);
      assert.ok(sent.headers['anthropic-version'], 'the SDK sends anthropic-version');

      assert.equal(upstream.requests.length, 1);
      const got = upstream.last();
      assert.equal(got.method, 'POST');
      assert.equal(new URL(got.url, 'http://x').pathname, '/v1/messages');
      assert.equal(got.headers['x-api-key'], UPSTREAM_KEY);
      assert.equal(got.headers['anthropic-version'], sent.headers['anthropic-version'], "the client's anthropic-version is forwarded");
      assert.deepEqual(headersContaining(got.headers, CLIENT_KEY), [], 'the client key must not reach the upstream');
      assert.deepEqual(got.json, body);
    });

    test('messages.stream + finalMessage reassemble the text and the tool_use input', async () => {
      upstream.enqueue({
        status: 200,
        splitEvents: true,
        sse: anthropicStream({
          textPieces: ['Let me ', 'look up ', 'the weather.'],
          toolUse: {
            id: 'toolu_01FakeToolUse',
            name: 'get_weather',
            jsonPieces: ['{"loca', 'tion": "San Fra', 'ncisco, CA", "unit": ', '"fahrenheit"}'],
          },
          inputTokens: 25,
          outputTokens: 42,
        }),
      });
      const stream = client().messages.stream({
        model: MODEL,
        max_tokens: 512,
        tools: [
          {
            name: 'get_weather',
            description: 'Current weather',
            input_schema: { type: 'object', properties: { location: { type: 'string' }, unit: { type: 'string' } } },
          },
        ],
        messages: [{ role: 'user', content: 'Weather in San Francisco?' }],
      });
      const textDeltas = [];
      stream.on('text', (delta) => textDeltas.push(delta));
      const msg = await stream.finalMessage();

      assert.deepEqual(textDeltas, ['Let me ', 'look up ', 'the weather.']);
      assert.equal(msg.id, 'msg_01FakeUpstream0000000002');
      assert.equal(msg.content.length, 2);
      assert.equal(msg.content[0].type, 'text');
      assert.equal(msg.content[0].text, 'Let me look up the weather.');
      assert.equal(msg.content[1].type, 'tool_use');
      assert.equal(msg.content[1].id, 'toolu_01FakeToolUse');
      assert.equal(msg.content[1].name, 'get_weather');
      assert.deepEqual(msg.content[1].input, { location: 'San Francisco, CA', unit: 'fahrenheit' });
      assert.equal(msg.stop_reason, 'tool_use');
      assert.equal(msg.usage.input_tokens, 25);
      assert.equal(msg.usage.output_tokens, 42);

      const got = upstream.last();
      assert.equal(got.json.stream, true);
      assert.equal(got.headers['x-api-key'], UPSTREAM_KEY);
    });

    test('messages.create({stream: true}) relays every event in order', async () => {
      const events = anthropicStream({ textPieces: ['a', 'b', 'c'] });
      upstream.enqueue({ status: 200, sse: events });
      const stream = await client().messages.create({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'abc' }],
        stream: true,
      });
      const types = [];
      let text = '';
      for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
      }
      // The SDK skips `ping`; every other upstream event reaches it.
      const expected = events.map((e) => /^event: (\S+)/.exec(e)[1]).filter((t) => t !== 'ping');
      assert.deepEqual(types, expected);
      assert.equal(text, 'abc');
    });

    test('beta.messages.create with betas: same path and query upstream, anthropic-beta forwarded', async () => {
      upstream.enqueue({ status: 200, json: anthropicMessage({ text: 'beta ok' }) });
      const fetch = recordingFetch();
      const msg = await client({ fetch }).beta.messages.create({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'beta?' }],
        betas: ['token-efficient-tools-2025-02-19'],
      });
      assert.equal(msg.content[0].text, 'beta ok');

      const sent = new URL(fetch.last().url);
      const got = upstream.last();
      // 0.x puts ?beta=true on the URL; the gateway passes the client's query string on.
      assert.equal(got.url, sent.pathname + sent.search);
      if (line.sdk === sdk0) assert.equal(got.url, '/v1/messages?beta=true');
      assert.match(got.headers['anthropic-beta'] ?? '', /(^|,)token-efficient-tools-2025-02-19(,|$)/);
      assert.equal(got.headers['x-api-key'], UPSTREAM_KEY);
    });

    for (const [label, opts, env, header, value] of [
      ['authToken option', { apiKey: null, authToken: CLIENT_KEY }, {}, 'authorization', `Bearer ${CLIENT_KEY}`],
      ['ANTHROPIC_API_KEY env', { apiKey: undefined }, { ANTHROPIC_API_KEY: CLIENT_KEY }, line.keyHeader, line.keyValue(CLIENT_KEY)],
      ['ANTHROPIC_AUTH_TOKEN env', { apiKey: undefined }, { ANTHROPIC_AUTH_TOKEN: CLIENT_KEY }, 'authorization', `Bearer ${CLIENT_KEY}`],
    ]) {
      test(`the gateway accepts the key given by ${label} (${header})`, async () => {
        upstream.enqueue({ status: 200, json: anthropicMessage({ text: `via ${label}` }) });
        const fetch = recordingFetch();
        const msg = await withAnthropicEnv(env, async () => {
          const c = new Anthropic({ baseURL: gateway.origin, maxRetries: 0, timeout: 10_000, fetch, ...opts });
          return c.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
        });
        assert.equal(msg.content[0].text, `via ${label}`);
        assert.equal(fetch.last().headers[header], value);
        const got = upstream.last();
        assert.equal(got.headers['x-api-key'], UPSTREAM_KEY);
        assert.deepEqual(headersContaining(got.headers, CLIENT_KEY), []);
      });
    }

    test('a wrong gateway key -> AuthenticationError 401 and nothing sent upstream', async () => {
      await assert.rejects(
        client({ apiKey: 'sk-ant-wrong-key' }).messages.create({
          model: MODEL,
          max_tokens: 16,
          messages: [{ role: 'user', content: 'hi' }],
        }),
        (err) => {
          assert.ok(err instanceof AuthenticationError, `expected AuthenticationError, got ${err?.constructor?.name}: ${err?.message}`);
          assert.equal(err.status, 401);
          assert.equal(err.error?.type, 'error');
          assert.equal(err.error?.error?.type, 'authentication_error');
          assert.ok(typeof err.error?.error?.message === 'string' && err.error.error.message.length > 0);
          return true;
        },
      );
      assert.equal(upstream.requests.length, 0);
    });

    test('an upstream 500 -> the SDK gets a 502 carrying the upstream message', async () => {
      upstream.enqueue({ status: 500, json: anthropicError('Fake Anthropic upstream broke (shard 9)') });
      await assert.rejects(
        client().messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
        (err) => {
          assert.ok(err instanceof InternalServerError, `expected InternalServerError, got ${err?.constructor?.name}: ${err?.message}`);
          assert.equal(err.status, 502);
          assert.match(err.message, /Fake Anthropic upstream broke \(shard 9\)/);
          assert.equal(err.error?.type, 'error');
          return true;
        },
      );
    });
  });
}
