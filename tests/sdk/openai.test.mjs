// The official `openai` SDK against aiclient-server with an openai-custom upstream.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import OpenAI, { AuthenticationError, InternalServerError } from 'openai';

import {
  headersContaining,
  openaiCompletion,
  openaiError,
  openaiStream,
  recordingFetch,
  startFakeUpstream,
  startGateway,
  stopAll,
} from './helpers.mjs';

const CLIENT_KEY = 'sk-gateway-client-key-openai';
const UPSTREAM_KEY = 'sk-upstream-1';

describe('openai SDK -> aiclient-server (openai-custom)', () => {
  let upstream;
  let gateway;

  before(async () => {
    upstream = await startFakeUpstream();
    gateway = await startGateway({
      pools: {
        'openai-custom': [
          { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.origin}/v1`, uuid: 'openai-sdk-test-1' },
        ],
      },
      modelProvider: 'openai-custom',
      apiKey: CLIENT_KEY,
    });
  });

  after(() => stopAll(gateway, upstream));

  beforeEach(() => upstream.reset());

  const client = (opts = {}) =>
    new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.origin}/v1`, maxRetries: 0, timeout: 10_000, ...opts });

  test('chat.completions.create returns the upstream content and usage', async () => {
    upstream.enqueue({
      status: 200,
      json: openaiCompletion({ content: 'Paris is the capital of France.', usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 } }),
    });
    const completion = await client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'What is the capital of France?' },
      ],
      temperature: 0.2,
    });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices[0].message.role, 'assistant');
    assert.equal(completion.choices[0].message.content, 'Paris is the capital of France.');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.equal(completion.usage.prompt_tokens, 12);
    assert.equal(completion.usage.completion_tokens, 7);
    assert.equal(completion.usage.total_tokens, 19);
  });

  test('the upstream gets the instance key (never the client key) and the request body intact', async () => {
    upstream.enqueue({ status: 200, json: openaiCompletion() });
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say "hi" — and ünïcödé ✓' },
    ];
    const fetch = recordingFetch();
    await client({ fetch }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      max_tokens: 64,
      user: 'sdk-test',
    });
    // What the SDK sent to the gateway: its own key as a bearer token.
    assert.equal(fetch.last().headers.authorization, `Bearer ${CLIENT_KEY}`);

    assert.equal(upstream.requests.length, 1);
    const got = upstream.last();
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/v1/chat/completions');
    assert.equal(got.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    assert.deepEqual(headersContaining(got.headers, CLIENT_KEY), [], 'the client key must not reach the upstream');
    assert.equal(got.json.model, 'gpt-4o-mini');
    assert.deepEqual(got.json.messages, messages);
    assert.equal(got.json.max_tokens, 64);
    assert.equal(got.json.user, 'sdk-test');
  });

  test('streaming reassembles the text, the tool call and sees the usage chunk', async () => {
    upstream.enqueue({
      status: 200,
      splitEvents: true,
      sse: openaiStream({
        textPieces: ['The ', 'weather ', 'in Paris', ' is:'],
        toolCall: {
          id: 'call_Fake123',
          name: 'get_weather',
          argPieces: ['{"ci', 'ty": "Par', 'is", "unit', '": "celsius"}'],
        },
        usage: { prompt_tokens: 20, completion_tokens: 11, total_tokens: 31 },
      }),
    });
    const stream = await client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } } },
          },
        },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let role;
    const calls = new Map();
    let finish;
    let usage;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        if (choice.delta.role) role = choice.delta.role;
        if (choice.delta.content) text += choice.delta.content;
        for (const tc of choice.delta.tool_calls ?? []) {
          const c = calls.get(tc.index) ?? { id: undefined, name: '', arguments: '' };
          if (tc.id) c.id = tc.id;
          if (tc.function?.name) c.name += tc.function.name;
          if (tc.function?.arguments) c.arguments += tc.function.arguments;
          calls.set(tc.index, c);
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    assert.equal(chunks, 12, 'every chunk of the upstream reaches the client (1 role + 4 text + 5 tool + finish + usage)');
    assert.equal(role, 'assistant');
    assert.equal(text, 'The weather in Paris is:');
    assert.equal(calls.size, 1);
    const call = calls.get(0);
    assert.equal(call.id, 'call_Fake123');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris', unit: 'celsius' });
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(usage, { prompt_tokens: 20, completion_tokens: 11, total_tokens: 31 });

    const got = upstream.last();
    assert.equal(got.json.stream, true);
    assert.deepEqual(got.json.stream_options, { include_usage: true });
    assert.equal(got.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
  });

  test('the stream helper (chat.completions.stream) gives the final completion', async () => {
    upstream.enqueue({ status: 200, sse: openaiStream({ textPieces: ['one ', 'two ', 'three'] }) });
    const runner = client().chat.completions.stream({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Count to three.' }],
      stream_options: { include_usage: true },
    });
    const deltas = [];
    runner.on('content', (delta) => deltas.push(delta));
    const final = await runner.finalChatCompletion();
    assert.deepEqual(deltas, ['one ', 'two ', 'three']);
    assert.equal(final.choices[0].message.content, 'one two three');
    assert.equal(final.choices[0].finish_reason, 'stop');
    assert.equal(final.usage.total_tokens, 31);
  });

  test('a wrong gateway key -> AuthenticationError 401 and nothing sent upstream', async () => {
    await assert.rejects(
      client({ apiKey: 'sk-wrong-key' }).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err) => {
        assert.ok(err instanceof AuthenticationError, `expected AuthenticationError, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 401);
        assert.equal(err.type, 'authentication_error');
        assert.ok(typeof err.error?.message === 'string' && err.error.message.length > 0);
        return true;
      },
    );
    assert.equal(upstream.requests.length, 0);
  });

  test('an upstream 500 -> the SDK gets a 502 carrying the upstream message', async () => {
    upstream.enqueue({ status: 500, json: openaiError('The fake upstream exploded (db-17 down)') });
    await assert.rejects(
      client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      (err) => {
        assert.ok(err instanceof InternalServerError, `expected InternalServerError, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 502);
        assert.match(err.message, /The fake upstream exploded \(db-17 down\)/);
        return true;
      },
    );
    assert.ok(upstream.requests.length >= 1);
  });
});
