// Protocol conversion seen through the official SDKs: each client SDK against each upstream
// protocol it must be converted for (fake upstreams), with text, streaming text, a tool-call
// round trip with two parallel calls, streaming tool calls reassembled by the SDK's own helpers
// and the usage numbers (cached and reasoning tokens included) read back.
//
//   openai 6.x                          -> claude-custom
//   @anthropic-ai/sdk 1.x and 0.x       -> openai-custom
//   @google/genai                       -> openai-custom and claude-custom
//
// What @google/genai puts on the wire (read from its dist/node/index.mjs): POST
// <baseUrl>/v1beta/models/<model>:generateContent and
// <baseUrl>/v1beta/models/<model>:streamGenerateContent?alt=sse, the key as `x-goog-api-key`,
// `Content-Type: application/json`, `User-Agent` and `x-goog-api-client`; extra headers from
// httpOptions.headers. Without httpOptions.retryOptions it does not retry.
//
// Usage semantics each protocol uses (and so the expected numbers):
//   OpenAI    prompt_tokens includes cached_tokens; completion_tokens includes reasoning_tokens.
//   Anthropic input_tokens excludes cache_read_input_tokens and cache_creation_input_tokens.
//   Gemini    promptTokenCount includes cachedContentTokenCount; candidatesTokenCount excludes
//             thoughtsTokenCount; totalTokenCount = prompt + candidates + thoughts.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';

import * as sdk1 from '@anthropic-ai/sdk';
import * as sdk0 from 'anthropic-sdk-0';
import { VERSION as VERSION0 } from 'anthropic-sdk-0/version';
import { VERSION as VERSION1 } from '@anthropic-ai/sdk/version';
import { GoogleGenAI, Type } from '@google/genai';
import OpenAI from 'openai';

import {
  anthropicMessage,
  anthropicStream,
  headersContaining,
  openaiCompletion,
  openaiStream,
  openaiUsage,
  recordingFetch,
  startFakeUpstream,
  startGateway,
  stopAll,
} from './helpers.mjs';

const CLIENT_KEY = 'sk-gateway-client-key-conversion';
const OPENAI_UPSTREAM_KEY = 'sk-upstream-openai-conv';
const CLAUDE_UPSTREAM_KEY = 'sk-ant-upstream-claude-conv';

// One usage fixture per upstream protocol, and what each client protocol must read back.
// OpenAI upstream: 100 prompt tokens of which 40 cached, 50 completion tokens of which 20 reasoning.
const OPENAI_USAGE = openaiUsage({ prompt: 100, completion: 50, cached: 40, reasoning: 20 });
// Anthropic upstream: 60 fresh input tokens + 40 read from cache + 10 written to cache, 50 output.
const CLAUDE_USAGE = { input_tokens: 60, cache_read_input_tokens: 40, cache_creation_input_tokens: 10, output_tokens: 50 };
const CLAUDE_STREAM_USAGE = { inputTokens: 60, cacheReadTokens: 40, cacheCreationTokens: 10, outputTokens: 50 };

// The two tools of the round trips, in each client protocol's form.
const WEATHER = {
  name: 'get_weather',
  description: 'Current weather of a city',
  schema: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'] },
};
const TIME = {
  name: 'get_time',
  description: 'Local time of a time zone',
  schema: { type: 'object', properties: { timezone: { type: 'string' } }, required: ['timezone'] },
};
const OPENAI_TOOLS = [WEATHER, TIME].map((t) => ({
  type: 'function',
  function: { name: t.name, description: t.description, parameters: t.schema },
}));
const ANTHROPIC_TOOLS = [WEATHER, TIME].map((t) => ({ name: t.name, description: t.description, input_schema: t.schema }));
// Gemini's own schema dialect (upper-case Type enum), as the genai docs show it.
const GEMINI_TOOLS = [
  {
    functionDeclarations: [
      {
        name: WEATHER.name,
        description: WEATHER.description,
        parameters: {
          type: Type.OBJECT,
          properties: { city: { type: Type.STRING, description: 'City name' } },
          required: ['city'],
        },
      },
      {
        name: TIME.name,
        description: TIME.description,
        parameters: { type: Type.OBJECT, properties: { timezone: { type: Type.STRING } }, required: ['timezone'] },
      },
    ],
  },
];
const WEATHER_ARGS = { city: 'Paris' };
const TIME_ARGS = { timezone: 'Europe/Paris' };
const QUESTION = 'What is the weather in Paris, and what time is it there?';
// A 1x1 PNG, and an image URL.
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const PNG_DATA_URL = `data:image/png;base64,${PNG_B64}`;
const IMAGE_URL = 'https://example.com/images/cat.jpg';

/** The text of a message content in any protocol's form (string, or parts/blocks with text). */
function textOf(content) {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .filter((p) => p && (p.type === 'text' || p.type === undefined) && typeof p.text === 'string')
      .map((p) => p.text)
      .join('');
  }
  return JSON.stringify(content);
}

/** The value of a JSON-encoded tool result or argument string, or the string itself. */
function jsonOrText(s) {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** The max-tokens value an OpenAI upstream request carries (either field). */
const openaiMaxTokens = (body) => body.max_completion_tokens ?? body.max_tokens;

/** Checks the upstream got the upstream key and nothing of the client's key, in headers or URL. */
function assertUpstreamAuth(got, { header, value }) {
  assert.equal(got.headers[header], value, `the upstream gets ${header}`);
  assert.deepEqual(headersContaining(got.headers, CLIENT_KEY), [], 'the client key must not reach the upstream');
  assert.ok(!got.url.includes(CLIENT_KEY), `the client key must not be in the upstream URL (${got.url})`);
  assert.equal(got.headers['x-goog-api-key'], undefined, 'x-goog-api-key is not forwarded');
}
const OPENAI_AUTH = { header: 'authorization', value: `Bearer ${OPENAI_UPSTREAM_KEY}` };
const CLAUDE_AUTH = { header: 'x-api-key', value: CLAUDE_UPSTREAM_KEY };

/** An Anthropic request's tool_use blocks as { id, name, input }. */
const toolUses = (content) =>
  (Array.isArray(content) ? content : []).filter((b) => b.type === 'tool_use').map(({ id, name, input }) => ({ id, name, input }));

/**
 * Checks an Anthropic upstream request that carries the tool round trip: the user question,
 * the assistant turn with both tool_use blocks (ids, names, inputs kept), then ONE user message
 * with both tool_result blocks (ids kept, in order).
 */
function assertClaudeToolRoundTrip(body, { ids, results }) {
  assert.equal(body.messages.length, 3, `user, assistant, user(tool results): ${JSON.stringify(body.messages)}`);
  const [q, assistant, user] = body.messages;
  assert.equal(q.role, 'user');
  assert.equal(textOf(q.content), QUESTION);
  assert.equal(assistant.role, 'assistant');
  assert.deepEqual(toolUses(assistant.content), [
    { id: ids[0], name: 'get_weather', input: WEATHER_ARGS },
    { id: ids[1], name: 'get_time', input: TIME_ARGS },
  ]);
  assert.equal(user.role, 'user');
  assert.ok(Array.isArray(user.content), 'the tool results are content blocks');
  assert.deepEqual(
    user.content.map((b) => b.type),
    ['tool_result', 'tool_result'],
    'both tool results in one user message',
  );
  assert.deepEqual(
    user.content.map((b) => b.tool_use_id),
    ids,
  );
  assert.deepEqual(
    user.content.map((b) => jsonOrText(textOf(b.content))),
    results,
  );
}

/**
 * Checks an OpenAI upstream request that carries the tool round trip: the user question, the
 * assistant message with both tool_calls (ids, names, arguments kept), then one `tool` message
 * per result with its tool_call_id, in order.
 */
function assertOpenAIToolRoundTrip(body, { ids, results, systemFirst = false }) {
  const messages = systemFirst ? body.messages.slice(1) : body.messages;
  assert.deepEqual(
    messages.map((m) => m.role),
    ['user', 'assistant', 'tool', 'tool'],
    `user, assistant(tool_calls), tool, tool: ${JSON.stringify(body.messages)}`,
  );
  const [q, assistant, r1, r2] = messages;
  assert.equal(textOf(q.content), QUESTION);
  assert.deepEqual(
    (assistant.tool_calls ?? []).map((c) => ({ id: c.id, type: c.type, name: c.function.name, args: JSON.parse(c.function.arguments) })),
    [
      { id: ids[0], type: 'function', name: 'get_weather', args: WEATHER_ARGS },
      { id: ids[1], type: 'function', name: 'get_time', args: TIME_ARGS },
    ],
  );
  assert.deepEqual([r1.tool_call_id, r2.tool_call_id], ids);
  assert.deepEqual([jsonOrText(textOf(r1.content)), jsonOrText(textOf(r2.content))], results);
}

let openaiUp;
let claudeUp;
let gateway;

before(async () => {
  openaiUp = await startFakeUpstream();
  claudeUp = await startFakeUpstream();
  gateway = await startGateway({
    pools: {
      'openai-custom': [{ OPENAI_API_KEY: OPENAI_UPSTREAM_KEY, OPENAI_BASE_URL: `${openaiUp.origin}/v1`, uuid: 'conv-openai-1' }],
      'claude-custom': [{ CLAUDE_API_KEY: CLAUDE_UPSTREAM_KEY, CLAUDE_BASE_URL: claudeUp.origin, uuid: 'conv-claude-1' }],
    },
    modelProvider: 'openai-custom',
    apiKey: CLIENT_KEY,
  });
});

after(() => stopAll(gateway, openaiUp, claudeUp));

beforeEach(() => {
  openaiUp.reset();
  claudeUp.reset();
});

afterEach(() => {
  // Every scripted answer was asked for: no request went missing or to the wrong upstream.
  assert.equal(openaiUp.pending(), 0, 'unused scripted answers on the openai-custom upstream');
  assert.equal(claudeUp.pending(), 0, 'unused scripted answers on the claude-custom upstream');
});

// =============================================================================================
// openai SDK -> claude-custom
// =============================================================================================

describe('openai SDK -> claude-custom (converted)', () => {
  const client = (opts = {}) =>
    new OpenAI({
      apiKey: CLIENT_KEY,
      baseURL: `${gateway.origin}/v1`,
      maxRetries: 0,
      timeout: 10_000,
      defaultHeaders: { 'Model-Provider': 'claude-custom' },
      ...opts,
    });
  const MODEL = 'claude-sonnet-4-6';
  // Anthropic usage as OpenAI usage: prompt = 60 + 40 + 10, cached = 40.
  const expectUsage = (u) => {
    assert.equal(u.prompt_tokens, 110, 'prompt_tokens = input + cache read + cache creation');
    assert.equal(u.completion_tokens, 50);
    assert.equal(u.total_tokens, 160);
    assert.equal(u.prompt_tokens_details?.cached_tokens, 40, 'cache reads are cached_tokens');
  };

  test('non-stream text: content, finish_reason and usage (cached tokens) converted', async () => {
    claudeUp.enqueue({
      status: 200,
      json: anthropicMessage({ id: 'msg_01ConvText', model: MODEL, text: 'Paris is the capital of France.', usage: CLAUDE_USAGE }),
    });
    const completion = await client().chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'What is the capital of France?' },
      ],
      max_tokens: 200,
      temperature: 0.2,
    });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0].message.role, 'assistant');
    assert.equal(completion.choices[0].message.content, 'Paris is the capital of France.');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    expectUsage(completion.usage);

    assert.equal(openaiUp.requests.length, 0);
    assert.equal(claudeUp.requests.length, 1);
    const got = claudeUp.last();
    assert.equal(got.method, 'POST');
    assert.equal(new URL(got.url, 'http://x').pathname, '/v1/messages');
    assertUpstreamAuth(got, CLAUDE_AUTH);
    assert.ok(got.headers['anthropic-version'], 'an Anthropic upstream gets anthropic-version');
    assert.equal(got.json.model, MODEL);
    assert.equal(textOf(got.json.system), 'Answer briefly.', 'the system message becomes `system`');
    assert.equal(got.json.messages.length, 1);
    assert.equal(got.json.messages[0].role, 'user');
    assert.equal(textOf(got.json.messages[0].content), 'What is the capital of France?');
    assert.equal(got.json.max_tokens, 200);
    assert.equal(got.json.temperature, 0.2);
    assert.ok(!got.json.stream, 'not a streamed request');
  });

  test('image input: a data URL and an https URL become Anthropic image blocks', async () => {
    claudeUp.enqueue({ status: 200, json: anthropicMessage({ text: 'A red pixel and a cat.', usage: CLAUDE_USAGE }) });
    const completion = await client().chat.completions.create({
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these images?' },
            { type: 'image_url', image_url: { url: PNG_DATA_URL } },
            { type: 'image_url', image_url: { url: IMAGE_URL } },
          ],
        },
      ],
      max_tokens: 100,
    });
    assert.equal(completion.choices[0].message.content, 'A red pixel and a cat.');
    expectUsage(completion.usage);

    const got = claudeUp.last().json;
    assert.equal(got.messages.length, 1);
    assert.deepEqual(got.messages[0], {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in these images?' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
        { type: 'image', source: { type: 'url', url: IMAGE_URL } },
      ],
    });
  });

  test('streaming text: deltas in order, finish_reason, usage chunk', async () => {
    const pieces = ['The capital ', 'of France ', 'is Paris.'];
    claudeUp.enqueue({
      status: 200,
      splitEvents: true,
      sse: anthropicStream({ id: 'msg_01ConvStream', model: MODEL, textPieces: pieces, ...CLAUDE_STREAM_USAGE }),
    });
    const stream = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas = [];
    const ids = new Set();
    let role;
    let finish;
    let usage;
    let usageChunkLast = false;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      ids.add(chunk.id);
      usageChunkLast = false;
      if (chunk.usage) {
        usage = chunk.usage;
        usageChunkLast = chunk.choices.length === 0;
      }
      for (const choice of chunk.choices) {
        if (choice.delta.role) role = choice.delta.role;
        if (choice.delta.content) deltas.push(choice.delta.content);
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    assert.equal(role, 'assistant');
    assert.deepEqual(deltas, pieces, 'each upstream text delta is one chunk');
    assert.equal(finish, 'stop');
    assert.equal(ids.size, 1, 'every chunk has the same id');
    assert.ok(usage, 'a usage chunk was sent (stream_options.include_usage)');
    assert.ok(usageChunkLast, 'the usage chunk (empty choices) is the last chunk');
    expectUsage(usage);

    const got = claudeUp.last();
    assert.equal(new URL(got.url, 'http://x').pathname, '/v1/messages');
    assert.equal(got.json.stream, true);
    assert.ok(Number.isInteger(got.json.max_tokens) && got.json.max_tokens > 0, 'max_tokens is required by Anthropic');
    assert.equal(got.json.stream_options, undefined, 'no OpenAI-only field reaches Anthropic');
  });

  test('tool round trip with two parallel calls: ids and names kept, results as tool_result blocks', async () => {
    claudeUp.enqueue({
      status: 200,
      json: anthropicMessage({
        id: 'msg_01ConvTools1',
        model: MODEL,
        content: [
          { type: 'text', text: 'Checking both.' },
          { type: 'tool_use', id: 'toolu_01ConvWeather', name: 'get_weather', input: WEATHER_ARGS },
          { type: 'tool_use', id: 'toolu_02ConvTime', name: 'get_time', input: TIME_ARGS },
        ],
        usage: CLAUDE_USAGE,
      }),
    });
    const messages = [{ role: 'user', content: QUESTION }];
    const first = await client().chat.completions.create({
      model: MODEL,
      messages,
      tools: OPENAI_TOOLS,
      max_completion_tokens: 300,
    });
    const choice = first.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, 'Checking both.');
    assert.deepEqual(
      choice.message.tool_calls.map((c) => ({ id: c.id, type: c.type, name: c.function.name, args: JSON.parse(c.function.arguments) })),
      [
        { id: 'toolu_01ConvWeather', type: 'function', name: 'get_weather', args: WEATHER_ARGS },
        { id: 'toolu_02ConvTime', type: 'function', name: 'get_time', args: TIME_ARGS },
      ],
    );
    expectUsage(first.usage);

    const req1 = claudeUp.last().json;
    assert.deepEqual(
      req1.tools,
      ANTHROPIC_TOOLS,
      'the OpenAI tool definitions become Anthropic tools with input_schema',
    );
    assert.equal(req1.max_tokens, 300, 'max_completion_tokens becomes max_tokens');

    claudeUp.enqueue({
      status: 200,
      json: anthropicMessage({ id: 'msg_01ConvTools2', model: MODEL, text: 'Paris: 18°C and cloudy, 14:05.' }),
    });
    const second = await client().chat.completions.create({
      model: MODEL,
      messages: [
        ...messages,
        choice.message,
        { role: 'tool', tool_call_id: 'toolu_01ConvWeather', content: '18°C, cloudy' },
        { role: 'tool', tool_call_id: 'toolu_02ConvTime', content: '14:05' },
      ],
      tools: OPENAI_TOOLS,
      max_completion_tokens: 300,
    });
    assert.equal(second.choices[0].message.content, 'Paris: 18°C and cloudy, 14:05.');
    assert.equal(second.choices[0].finish_reason, 'stop');

    assert.equal(claudeUp.requests.length, 2);
    const req2 = claudeUp.last().json;
    assertClaudeToolRoundTrip(req2, { ids: ['toolu_01ConvWeather', 'toolu_02ConvTime'], results: ['18°C, cloudy', '14:05'] });
    assert.ok(
      req2.messages[1].content.some((b) => b.type === 'text' && b.text === 'Checking both.'),
      'the assistant text before the calls is kept',
    );
  });

  test('streaming tool calls: chat.completions.stream() + finalChatCompletion() reassemble both calls', async () => {
    claudeUp.enqueue({
      status: 200,
      splitEvents: true,
      sse: anthropicStream({
        id: 'msg_01ConvStreamTools',
        model: MODEL,
        textPieces: ['Checking ', 'both.'],
        toolUses: [
          { id: 'toolu_01StreamWeather', name: 'get_weather', jsonPieces: ['{"ci', 'ty": "Pa', 'ris"}'] },
          { id: 'toolu_02StreamTime', name: 'get_time', jsonPieces: ['{"timez', 'one": "Europe/', 'Paris"}'] },
        ],
        ...CLAUDE_STREAM_USAGE,
        fullDeltaUsage: true, // cumulative usage repeated in message_delta, as the current API sends
      }),
    });
    const runner = client().chat.completions.stream({
      model: MODEL,
      messages: [{ role: 'user', content: QUESTION }],
      tools: OPENAI_TOOLS,
      stream_options: { include_usage: true },
    });
    const done = [];
    runner.on('tool_calls.function.arguments.done', (e) => done.push({ index: e.index, name: e.name, args: JSON.parse(e.arguments) }));
    const final = await runner.finalChatCompletion();

    const choice = final.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, 'Checking both.');
    assert.deepEqual(
      choice.message.tool_calls.map((c) => ({ id: c.id, type: c.type, name: c.function.name, args: JSON.parse(c.function.arguments) })),
      [
        { id: 'toolu_01StreamWeather', type: 'function', name: 'get_weather', args: WEATHER_ARGS },
        { id: 'toolu_02StreamTime', type: 'function', name: 'get_time', args: TIME_ARGS },
      ],
    );
    assert.deepEqual(done, [
      { index: 0, name: 'get_weather', args: WEATHER_ARGS },
      { index: 1, name: 'get_time', args: TIME_ARGS },
    ]);
    expectUsage(final.usage);

    const got = claudeUp.last();
    assert.equal(got.json.stream, true);
    assert.deepEqual(got.json.tools, ANTHROPIC_TOOLS);
  });
});

// =============================================================================================
// @anthropic-ai/sdk 1.x and 0.x -> openai-custom
// =============================================================================================

for (const line of [
  { name: `@anthropic-ai/sdk ${VERSION1}`, sdk: sdk1 },
  { name: `@anthropic-ai/sdk ${VERSION0} (anthropic-sdk-0)`, sdk: sdk0 },
]) {
  describe(`${line.name} -> openai-custom (converted)`, () => {
    const client = (opts = {}) =>
      new line.sdk.Anthropic({
        apiKey: CLIENT_KEY,
        baseURL: gateway.origin,
        maxRetries: 0,
        timeout: 10_000,
        defaultHeaders: { 'Model-Provider': 'openai-custom' },
        ...opts,
      });
    const MODEL = 'gpt-4o-mini';
    // OpenAI usage as Anthropic usage: input = 100 - 40 cached, cache reads 40, output 50.
    const expectUsage = (u) => {
      assert.equal(u.input_tokens, 60, 'input_tokens excludes the cached prompt tokens');
      assert.equal(u.cache_read_input_tokens, 40, 'cached_tokens are cache_read_input_tokens');
      assert.equal(u.output_tokens, 50);
    };

    test('non-stream text: content, stop_reason and usage (cached tokens) converted', async () => {
      openaiUp.enqueue({
        status: 200,
        json: openaiCompletion({ id: 'chatcmpl-conv-text', content: 'Bonjour ! Paris est belle.', usage: OPENAI_USAGE }),
      });
      const msg = await client().messages.create({
        model: MODEL,
        max_tokens: 200,
        system: 'Answer in French.',
        messages: [{ role: 'user', content: 'Say hello.' }],
        temperature: 0.3,
      });
      assert.equal(msg.type, 'message');
      assert.equal(msg.role, 'assistant');
      assert.deepEqual(
        msg.content.map((b) => ({ type: b.type, text: b.text })),
        [{ type: 'text', text: 'Bonjour ! Paris est belle.' }],
      );
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(typeof msg.id, 'string');
      expectUsage(msg.usage);

      assert.equal(claudeUp.requests.length, 0);
      assert.equal(openaiUp.requests.length, 1);
      const got = openaiUp.last();
      assert.equal(got.method, 'POST');
      assert.equal(got.url, '/v1/chat/completions');
      assertUpstreamAuth(got, OPENAI_AUTH);
      assert.equal(got.headers['anthropic-version'], undefined, 'anthropic-version is not sent to OpenAI');
      assert.equal(got.json.model, MODEL);
      assert.deepEqual(
        got.json.messages.map((m) => ({ role: m.role, text: textOf(m.content) })),
        [
          { role: 'system', text: 'Answer in French.' },
          { role: 'user', text: 'Say hello.' },
        ],
      );
      assert.equal(openaiMaxTokens(got.json), 200);
      assert.equal(got.json.temperature, 0.3);
      assert.ok(!got.json.stream);
    });

    test('image input: base64 and URL image blocks become OpenAI image_url parts', async () => {
      openaiUp.enqueue({ status: 200, json: openaiCompletion({ content: 'A red pixel and a cat.', usage: OPENAI_USAGE }) });
      const msg = await client().messages.create({
        model: MODEL,
        max_tokens: 100,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
              { type: 'image', source: { type: 'url', url: IMAGE_URL } },
              { type: 'text', text: 'What is in these images?' },
            ],
          },
        ],
      });
      assert.equal(textOf(msg.content), 'A red pixel and a cat.');
      expectUsage(msg.usage);

      const got = openaiUp.last().json;
      assert.equal(got.messages.length, 1);
      const { role, content } = got.messages[0];
      assert.equal(role, 'user');
      assert.ok(Array.isArray(content), 'a multi-part user message');
      assert.deepEqual(
        content.map((p) => (p.type === 'image_url' ? { type: p.type, url: p.image_url.url } : { type: p.type, text: p.text })),
        [
          { type: 'image_url', url: PNG_DATA_URL },
          { type: 'image_url', url: IMAGE_URL },
          { type: 'text', text: 'What is in these images?' },
        ],
      );
    });

    test('streaming text: messages.create({stream: true}) yields the Anthropic event sequence', async () => {
      const pieces = ['Bon', 'jour ', 'Paris!'];
      openaiUp.enqueue({
        status: 200,
        splitEvents: true,
        sse: openaiStream({ id: 'chatcmpl-conv-stream', textPieces: pieces, usage: OPENAI_USAGE }),
      });
      const stream = await client().messages.create({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Say hello.' }],
        stream: true,
      });
      const events = [];
      for await (const ev of stream) events.push(ev);
      const types = events.map((e) => e.type);
      assert.equal(types[0], 'message_start');
      assert.equal(types.at(-1), 'message_stop');
      assert.equal(types.at(-2), 'message_delta');
      assert.equal(events[0].message.role, 'assistant');
      const starts = events.filter((e) => e.type === 'content_block_start');
      assert.deepEqual(
        starts.map((e) => [e.index, e.content_block.type]),
        [[0, 'text']],
      );
      const deltas = events.filter((e) => e.type === 'content_block_delta');
      assert.ok(deltas.every((e) => e.index === 0 && e.delta.type === 'text_delta'));
      assert.deepEqual(
        deltas.map((e) => e.delta.text),
        pieces,
        'each upstream text delta is one text_delta',
      );
      assert.deepEqual(
        events.filter((e) => e.type === 'content_block_stop').map((e) => e.index),
        [0],
      );
      const md = events.at(-2);
      assert.equal(md.delta.stop_reason, 'end_turn');
      assert.equal(md.usage.output_tokens, 50);
      // OpenAI reports usage at the end only, so the totals come with message_delta.
      const input = md.usage.input_tokens ?? events[0].message.usage.input_tokens;
      const cacheRead = md.usage.cache_read_input_tokens ?? events[0].message.usage.cache_read_input_tokens;
      assert.equal(input, 60);
      assert.equal(cacheRead, 40);

      const got = openaiUp.last();
      assert.equal(got.url, '/v1/chat/completions');
      assert.equal(got.json.stream, true);
      assert.equal(got.json.stream_options?.include_usage, true, 'the gateway asks the OpenAI upstream for usage');
    });

    test('tool round trip with two parallel calls: ids and names kept, results as tool messages', async () => {
      openaiUp.enqueue({
        status: 200,
        json: openaiCompletion({
          id: 'chatcmpl-conv-tools-1',
          content: 'Checking both.',
          toolCalls: [
            { id: 'call_ConvWeather01', name: 'get_weather', arguments: JSON.stringify(WEATHER_ARGS) },
            { id: 'call_ConvTime02', name: 'get_time', arguments: JSON.stringify(TIME_ARGS) },
          ],
          usage: OPENAI_USAGE,
        }),
      });
      const messages = [{ role: 'user', content: QUESTION }];
      const first = await client().messages.create({ model: MODEL, max_tokens: 300, tools: ANTHROPIC_TOOLS, messages });
      assert.equal(first.stop_reason, 'tool_use');
      assert.equal(textOf(first.content), 'Checking both.');
      assert.deepEqual(toolUses(first.content), [
        { id: 'call_ConvWeather01', name: 'get_weather', input: WEATHER_ARGS },
        { id: 'call_ConvTime02', name: 'get_time', input: TIME_ARGS },
      ]);
      expectUsage(first.usage);

      const req1 = openaiUp.last().json;
      assert.deepEqual(
        req1.tools.map((t) => ({ type: t.type, name: t.function.name, description: t.function.description, parameters: t.function.parameters })),
        [WEATHER, TIME].map((t) => ({ type: 'function', name: t.name, description: t.description, parameters: t.schema })),
        'the Anthropic tool definitions become OpenAI function tools',
      );

      openaiUp.enqueue({
        status: 200,
        json: openaiCompletion({ id: 'chatcmpl-conv-tools-2', content: 'Paris: 18°C and cloudy, 14:05.' }),
      });
      const second = await client().messages.create({
        model: MODEL,
        max_tokens: 300,
        tools: ANTHROPIC_TOOLS,
        messages: [
          ...messages,
          { role: 'assistant', content: first.content },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'call_ConvWeather01', content: '18°C, cloudy' },
              { type: 'tool_result', tool_use_id: 'call_ConvTime02', content: [{ type: 'text', text: '14:05' }] },
            ],
          },
        ],
      });
      assert.equal(textOf(second.content), 'Paris: 18°C and cloudy, 14:05.');
      assert.equal(second.stop_reason, 'end_turn');

      assert.equal(openaiUp.requests.length, 2);
      const req2 = openaiUp.last().json;
      assertOpenAIToolRoundTrip(req2, { ids: ['call_ConvWeather01', 'call_ConvTime02'], results: ['18°C, cloudy', '14:05'] });
      assert.equal(textOf(req2.messages[1].content), 'Checking both.', 'the assistant text before the calls is kept');
    });

    test('streaming tool calls: messages.stream() + finalMessage() reassemble both tool_use inputs', async () => {
      openaiUp.enqueue({
        status: 200,
        splitEvents: true,
        sse: openaiStream({
          id: 'chatcmpl-conv-stream-tools',
          textPieces: ['Checking ', 'both.'],
          toolCalls: [
            { id: 'call_StreamWeather01', name: 'get_weather', argPieces: ['{"ci', 'ty": "Pa', 'ris"}'] },
            { id: 'call_StreamTime02', name: 'get_time', argPieces: ['{"timez', 'one": "Europe/', 'Paris"}'] },
          ],
          usage: OPENAI_USAGE,
        }),
      });
      const stream = client().messages.stream({
        model: MODEL,
        max_tokens: 300,
        tools: ANTHROPIC_TOOLS,
        messages: [{ role: 'user', content: QUESTION }],
      });
      const text = [];
      stream.on('text', (d) => text.push(d));
      const msg = await stream.finalMessage();

      assert.deepEqual(text, ['Checking ', 'both.']);
      assert.deepEqual(
        msg.content.map((b) => b.type),
        ['text', 'tool_use', 'tool_use'],
      );
      assert.equal(msg.content[0].text, 'Checking both.');
      assert.deepEqual(toolUses(msg.content), [
        { id: 'call_StreamWeather01', name: 'get_weather', input: WEATHER_ARGS },
        { id: 'call_StreamTime02', name: 'get_time', input: TIME_ARGS },
      ]);
      assert.equal(msg.stop_reason, 'tool_use');
      expectUsage(msg.usage);

      const got = openaiUp.last();
      assert.equal(got.json.stream, true);
      assert.equal(got.json.stream_options?.include_usage, true, 'the gateway asks the OpenAI upstream for usage');
    });

    test('streaming tool calls with interleaved argument deltas: each input reaches its own tool_use block', async () => {
      openaiUp.enqueue({
        status: 200,
        splitEvents: true,
        sse: openaiStream({
          id: 'chatcmpl-conv-stream-tools-interleaved',
          textPieces: [],
          interleaveToolCalls: true,
          toolCalls: [
            { id: 'call_InterWeather', name: 'get_weather', argPieces: ['{"ci', 'ty": "Pa', 'ris"}'] },
            { id: 'call_InterTime', name: 'get_time', argPieces: ['{"timez', 'one": "Europe/', 'Paris"}'] },
          ],
          usage: OPENAI_USAGE,
        }),
      });
      const stream = client().messages.stream({
        model: MODEL,
        max_tokens: 300,
        tools: ANTHROPIC_TOOLS,
        messages: [{ role: 'user', content: QUESTION }],
      });
      const msg = await stream.finalMessage();
      assert.deepEqual(toolUses(msg.content), [
        { id: 'call_InterWeather', name: 'get_weather', input: WEATHER_ARGS },
        { id: 'call_InterTime', name: 'get_time', input: TIME_ARGS },
      ]);
      assert.equal(msg.content.length, 2);
      assert.equal(msg.stop_reason, 'tool_use');
      expectUsage(msg.usage);
    });

    test('streaming tool calls sent whole in one chunk (OpenAI-compatible servers): finalMessage() has both', async () => {
      openaiUp.enqueue({
        status: 200,
        sse: openaiStream({
          id: 'chatcmpl-conv-stream-tools-1chunk',
          textPieces: [],
          toolCallsInOneChunk: true,
          toolCalls: [
            { id: 'call_OneChunkWeather', name: 'get_weather', argPieces: [JSON.stringify(WEATHER_ARGS)] },
            { id: 'call_OneChunkTime', name: 'get_time', argPieces: [JSON.stringify(TIME_ARGS)] },
          ],
          usage: OPENAI_USAGE,
        }),
      });
      const stream = client().messages.stream({
        model: MODEL,
        max_tokens: 300,
        tools: ANTHROPIC_TOOLS,
        messages: [{ role: 'user', content: QUESTION }],
      });
      const starts = [];
      stream.on('streamEvent', (ev) => {
        if (ev.type === 'content_block_start') starts.push([ev.index, ev.content_block.type]);
      });
      const msg = await stream.finalMessage();
      assert.deepEqual(starts, [
        [0, 'tool_use'],
        [1, 'tool_use'],
      ]);
      assert.deepEqual(toolUses(msg.content), [
        { id: 'call_OneChunkWeather', name: 'get_weather', input: WEATHER_ARGS },
        { id: 'call_OneChunkTime', name: 'get_time', input: TIME_ARGS },
      ]);
      assert.equal(msg.content.length, 2);
      assert.equal(msg.stop_reason, 'tool_use');
      expectUsage(msg.usage);
    });
  });
}

// =============================================================================================
// @google/genai -> openai-custom and claude-custom
// =============================================================================================

const GENAI_MODEL = 'gemini-2.5-flash';

const GENAI_TARGETS = [
  {
    provider: 'openai-custom',
    up: () => openaiUp,
    other: () => claudeUp,
    auth: OPENAI_AUTH,
    path: '/v1/chat/completions',
    ids: ['call_GemWeather01', 'call_GemTime02'],
    // 100 prompt (40 cached), 50 completion (20 reasoning) as Gemini usageMetadata.
    usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 30, totalTokenCount: 150, cachedContentTokenCount: 40, thoughtsTokenCount: 20 },
    text: (text) => ({ status: 200, json: openaiCompletion({ id: 'chatcmpl-gem-text', content: text, usage: OPENAI_USAGE }) }),
    textStream: (pieces) => ({
      status: 200,
      splitEvents: true,
      sse: openaiStream({ id: 'chatcmpl-gem-stream', textPieces: pieces, usage: OPENAI_USAGE }),
    }),
    toolCalls: (ids) => ({
      status: 200,
      json: openaiCompletion({
        id: 'chatcmpl-gem-tools',
        content: null,
        toolCalls: [
          { id: ids[0], name: 'get_weather', arguments: JSON.stringify(WEATHER_ARGS) },
          { id: ids[1], name: 'get_time', arguments: JSON.stringify(TIME_ARGS) },
        ],
        usage: OPENAI_USAGE,
      }),
    }),
    toolStream: (ids, shape = '') => ({
      status: 200,
      splitEvents: true,
      sse: openaiStream({
        id: 'chatcmpl-gem-stream-tools',
        textPieces: [],
        toolCallsInOneChunk: shape.startsWith('sent whole'),
        interleaveToolCalls: shape.startsWith('interleaved'),
        toolCalls: [
          { id: ids[0], name: 'get_weather', argPieces: ['{"ci', 'ty": "Pa', 'ris"}'] },
          { id: ids[1], name: 'get_time', argPieces: ['{"timez', 'one": "Europe/', 'Paris"}'] },
        ],
        usage: OPENAI_USAGE,
      }),
    }),
    checkText(body, { system, user, maxTokens, temperature }) {
      assert.deepEqual(
        body.messages.map((m) => ({ role: m.role, text: textOf(m.content) })),
        [...(system ? [{ role: 'system', text: system }] : []), { role: 'user', text: user }],
      );
      if (maxTokens !== undefined) assert.equal(openaiMaxTokens(body), maxTokens);
      if (temperature !== undefined) assert.equal(body.temperature, temperature);
    },
    checkStream(body) {
      assert.equal(body.stream, true);
      assert.equal(body.stream_options?.include_usage, true, 'the gateway asks the OpenAI upstream for usage');
    },
    checkImage(body) {
      assert.equal(body.messages.length, 1);
      const { role, content } = body.messages[0];
      assert.equal(role, 'user');
      assert.ok(Array.isArray(content), 'a multi-part user message');
      assert.deepEqual(
        content.map((p) => (p.type === 'image_url' ? { type: p.type, url: p.image_url.url } : { type: p.type, text: p.text })),
        [
          { type: 'text', text: 'What is in this image?' },
          { type: 'image_url', url: PNG_DATA_URL },
        ],
      );
    },
    checkTools(body) {
      assert.deepEqual(
        body.tools.map((t) => ({ type: t.type, name: t.function.name, description: t.function.description, parameters: t.function.parameters })),
        [WEATHER, TIME].map((t) => ({ type: 'function', name: t.name, description: t.description, parameters: t.schema })),
        "Gemini's functionDeclarations become OpenAI function tools with a lower-case JSON schema",
      );
    },
    checkRoundTrip: (body, opts) => assertOpenAIToolRoundTrip(body, opts),
    /** The ids the upstream saw on the assistant's calls and on the results (in order). */
    roundTripIds(body) {
      const assistant = body.messages.find((m) => m.role === 'assistant');
      return {
        calls: (assistant?.tool_calls ?? []).map((c) => [c.id, c.function.name]),
        results: body.messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, jsonOrText(textOf(m.content))]),
      };
    },
  },
  {
    provider: 'claude-custom',
    up: () => claudeUp,
    other: () => openaiUp,
    auth: CLAUDE_AUTH,
    path: '/v1/messages',
    ids: ['toolu_01GemWeather', 'toolu_02GemTime'],
    // 60 fresh + 40 cache read + 10 cache write input, 50 output as Gemini usageMetadata.
    usageMetadata: { promptTokenCount: 110, candidatesTokenCount: 50, totalTokenCount: 160, cachedContentTokenCount: 40 },
    text: (text) => ({ status: 200, json: anthropicMessage({ id: 'msg_01GemText', text, usage: CLAUDE_USAGE }) }),
    textStream: (pieces) => ({
      status: 200,
      splitEvents: true,
      sse: anthropicStream({ id: 'msg_01GemStream', textPieces: pieces, ...CLAUDE_STREAM_USAGE }),
    }),
    toolCalls: (ids) => ({
      status: 200,
      json: anthropicMessage({
        id: 'msg_01GemTools',
        content: [
          { type: 'tool_use', id: ids[0], name: 'get_weather', input: WEATHER_ARGS },
          { type: 'tool_use', id: ids[1], name: 'get_time', input: TIME_ARGS },
        ],
        usage: CLAUDE_USAGE,
      }),
    }),
    toolStream: (ids) => ({
      status: 200,
      splitEvents: true,
      sse: anthropicStream({
        id: 'msg_01GemStreamTools',
        textPieces: [],
        toolUses: [
          { id: ids[0], name: 'get_weather', jsonPieces: ['{"ci', 'ty": "Pa', 'ris"}'] },
          { id: ids[1], name: 'get_time', jsonPieces: ['{"timez', 'one": "Europe/', 'Paris"}'] },
        ],
        ...CLAUDE_STREAM_USAGE,
        fullDeltaUsage: true,
      }),
    }),
    checkText(body, { system, user, maxTokens, temperature }) {
      assert.equal(textOf(body.system ?? ''), system ?? '');
      assert.deepEqual(
        body.messages.map((m) => ({ role: m.role, text: textOf(m.content) })),
        [{ role: 'user', text: user }],
      );
      if (maxTokens !== undefined) assert.equal(body.max_tokens, maxTokens);
      else assert.ok(Number.isInteger(body.max_tokens) && body.max_tokens > 0, 'max_tokens is required by Anthropic');
      if (temperature !== undefined) assert.equal(body.temperature, temperature);
    },
    checkStream(body) {
      assert.equal(body.stream, true);
    },
    checkImage(body) {
      assert.deepEqual(body.messages, [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this image?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
          ],
        },
      ]);
    },
    checkTools(body) {
      assert.deepEqual(
        body.tools,
        ANTHROPIC_TOOLS,
        "Gemini's functionDeclarations become Anthropic tools with a lower-case JSON schema",
      );
    },
    checkRoundTrip: (body, opts) => assertClaudeToolRoundTrip(body, opts),
    roundTripIds(body) {
      const assistant = body.messages.find((m) => m.role === 'assistant');
      const last = body.messages.at(-1);
      return {
        calls: toolUses(assistant?.content).map((u) => [u.id, u.name]),
        results: (Array.isArray(last?.content) ? last.content : [])
          .filter((b) => b.type === 'tool_result')
          .map((b) => [b.tool_use_id, jsonOrText(textOf(b.content))]),
      };
    },
  },
];

const WEATHER_RESULT = { output: '18°C, cloudy' }; // Gemini's text-result convention
const TIME_RESULT = { time: '14:05', timezone: 'Europe/Paris' }; // a structured result

for (const t of GENAI_TARGETS) {
  describe(`@google/genai -> ${t.provider} (converted)`, () => {
    const ai = (httpOptions = {}) =>
      new GoogleGenAI({
        apiKey: CLIENT_KEY,
        httpOptions: { baseUrl: gateway.origin, headers: { 'Model-Provider': t.provider }, timeout: 10_000, ...httpOptions },
      });
    const expectUsage = (u) => {
      assert.ok(u, 'usageMetadata is present');
      const picked = Object.fromEntries(Object.keys(t.usageMetadata).map((k) => [k, u[k]]));
      assert.deepEqual(picked, t.usageMetadata);
      if (!('thoughtsTokenCount' in t.usageMetadata)) assert.ok(!u.thoughtsTokenCount, 'no thoughts tokens invented');
    };

    test('generateContent: text, finishReason and usageMetadata converted', async () => {
      t.up().enqueue(t.text('Paris is the capital of France.'));
      const fetch = recordingFetch();
      const resp = await ai({ fetch }).models.generateContent({
        model: GENAI_MODEL,
        contents: 'What is the capital of France?',
        config: { systemInstruction: 'Answer briefly.', maxOutputTokens: 200, temperature: 0.2 },
      });
      // What the SDK sent: the Gemini route and its key header.
      const sent = fetch.last();
      assert.equal(new URL(sent.url).pathname, `/v1beta/models/${GENAI_MODEL}:generateContent`);
      assert.equal(sent.headers['x-goog-api-key'], CLIENT_KEY);

      assert.equal(resp.text, 'Paris is the capital of France.');
      assert.equal(resp.candidates.length, 1);
      assert.equal(resp.candidates[0].content.role, 'model');
      assert.equal(resp.candidates[0].finishReason, 'STOP');
      expectUsage(resp.usageMetadata);

      assert.equal(t.other().requests.length, 0);
      assert.equal(t.up().requests.length, 1);
      const got = t.up().last();
      assert.equal(got.method, 'POST');
      assert.equal(got.url, t.path, 'the Gemini path and query (alt, key) do not reach the upstream');
      assertUpstreamAuth(got, t.auth);
      assert.equal(got.json.model, GENAI_MODEL, "the client's model is passed on");
      t.checkText(got.json, { system: 'Answer briefly.', user: 'What is the capital of France?', maxTokens: 200, temperature: 0.2 });
      assert.ok(!got.json.stream);
    });

    test('image input: an inlineData part becomes the upstream protocol\'s image', async () => {
      t.up().enqueue(t.text('A red pixel.'));
      const resp = await ai().models.generateContent({
        model: GENAI_MODEL,
        contents: [{ role: 'user', parts: [{ text: 'What is in this image?' }, { inlineData: { mimeType: 'image/png', data: PNG_B64 } }] }],
        config: { maxOutputTokens: 100 },
      });
      assert.equal(resp.text, 'A red pixel.');
      expectUsage(resp.usageMetadata);
      t.checkImage(t.up().last().json);
    });

    test('generateContentStream: text deltas in order, finishReason and usageMetadata', async () => {
      const pieces = ['The capital ', 'of France ', 'is Paris.'];
      t.up().enqueue(t.textStream(pieces));
      const fetch = recordingFetch();
      const stream = await ai({ fetch }).models.generateContentStream({
        model: GENAI_MODEL,
        contents: 'What is the capital of France?',
      });
      const texts = [];
      let finish;
      let usage;
      let chunks = 0;
      for await (const chunk of stream) {
        chunks += 1;
        const c = chunk.candidates?.[0];
        for (const p of c?.content?.parts ?? []) if (typeof p.text === 'string' && p.text && !p.thought) texts.push(p.text);
        if (c?.finishReason) finish = c.finishReason;
        if (chunk.usageMetadata) usage = chunk.usageMetadata;
      }
      const sent = new URL(fetch.last().url);
      assert.equal(sent.pathname, `/v1beta/models/${GENAI_MODEL}:streamGenerateContent`);
      assert.equal(sent.search, '?alt=sse');

      assert.equal(texts.join(''), 'The capital of France is Paris.');
      assert.deepEqual(texts, pieces, 'each upstream text delta is one Gemini chunk (streamed, not buffered)');
      assert.ok(chunks >= pieces.length);
      assert.equal(finish, 'STOP');
      expectUsage(usage);

      assert.equal(t.up().requests.length, 1, 'one upstream request (the SDK did not have to resume the stream)');
      const got = t.up().last();
      assert.equal(got.url, t.path);
      assertUpstreamAuth(got, t.auth);
      t.checkStream(got.json);
      t.checkText(got.json, { user: 'What is the capital of France?' });
    });

    test('function calling round trip with two parallel calls: ids and names kept both ways', async () => {
      t.up().enqueue(t.toolCalls(t.ids));
      const contents = [{ role: 'user', parts: [{ text: QUESTION }] }];
      const config = { tools: GEMINI_TOOLS, maxOutputTokens: 300 };
      const first = await ai().models.generateContent({ model: GENAI_MODEL, contents, config });
      assert.deepEqual(
        first.functionCalls,
        [
          { id: t.ids[0], name: 'get_weather', args: WEATHER_ARGS },
          { id: t.ids[1], name: 'get_time', args: TIME_ARGS },
        ],
        'both calls, with the upstream ids',
      );
      assert.equal(first.candidates[0].finishReason, 'STOP', 'Gemini ends a function-call turn with STOP');
      assert.equal(first.candidates[0].content.role, 'model');
      expectUsage(first.usageMetadata);
      t.checkTools(t.up().last().json);

      t.up().enqueue(t.text('Paris: 18°C and cloudy, 14:05.'));
      const second = await ai().models.generateContent({
        model: GENAI_MODEL,
        contents: [
          ...contents,
          first.candidates[0].content,
          {
            role: 'user',
            parts: [
              { functionResponse: { id: first.functionCalls[0].id, name: 'get_weather', response: WEATHER_RESULT } },
              { functionResponse: { id: first.functionCalls[1].id, name: 'get_time', response: TIME_RESULT } },
            ],
          },
        ],
        config,
      });
      assert.equal(second.text, 'Paris: 18°C and cloudy, 14:05.');

      assert.equal(t.up().requests.length, 2);
      t.checkRoundTrip(t.up().last().json, { ids: t.ids, results: ['18°C, cloudy', TIME_RESULT] });
    });

    test('function calling round trip without ids (functionResponse by name only): calls and results still pair up', async () => {
      t.up().enqueue(t.toolCalls(t.ids));
      const contents = [{ role: 'user', parts: [{ text: QUESTION }] }];
      const config = { tools: GEMINI_TOOLS, maxOutputTokens: 300 };
      const first = await ai().models.generateContent({ model: GENAI_MODEL, contents, config });
      assert.equal(first.functionCalls?.length, 2);

      t.up().enqueue(t.text('Done.'));
      // The classic Gemini history: functionCall / functionResponse parts without ids.
      const modelTurn = {
        role: 'model',
        parts: first.functionCalls.map((c) => ({ functionCall: { name: c.name, args: c.args } })),
      };
      await ai().models.generateContent({
        model: GENAI_MODEL,
        contents: [
          ...contents,
          modelTurn,
          {
            role: 'user',
            parts: [
              { functionResponse: { name: 'get_weather', response: WEATHER_RESULT } },
              { functionResponse: { name: 'get_time', response: TIME_RESULT } },
            ],
          },
        ],
        config,
      });
      const { calls, results } = t.roundTripIds(t.up().last().json);
      assert.deepEqual(
        calls.map(([, name]) => name),
        ['get_weather', 'get_time'],
      );
      assert.ok(calls.every(([id]) => typeof id === 'string' && id.length > 0), `every call has an id: ${JSON.stringify(calls)}`);
      assert.notEqual(calls[0][0], calls[1][0], 'the two calls have distinct ids');
      assert.deepEqual(
        results,
        [
          [calls[0][0], '18°C, cloudy'],
          [calls[1][0], TIME_RESULT],
        ],
        'each result refers to the id of its own call',
      );
    });

    const shapes = t.provider === 'openai-custom' ? ['', 'sent whole in one upstream chunk', 'interleaved argument deltas'] : [''];
    for (const shape of shapes) {
      test(`streaming function calls${shape ? ` (${shape})` : ''}: generateContentStream chunks carry both complete calls`, async () => {
        t.up().enqueue(t.toolStream(t.ids, shape));
        const stream = await ai().models.generateContentStream({
          model: GENAI_MODEL,
          contents: [{ role: 'user', parts: [{ text: QUESTION }] }],
          config: { tools: GEMINI_TOOLS, maxOutputTokens: 300 },
        });
        const calls = [];
        let finish;
        let usage;
        for await (const chunk of stream) {
          calls.push(...(chunk.functionCalls ?? []));
          if (chunk.candidates?.[0]?.finishReason) finish = chunk.candidates[0].finishReason;
          if (chunk.usageMetadata) usage = chunk.usageMetadata;
        }
        assert.deepEqual(calls, [
          { id: t.ids[0], name: 'get_weather', args: WEATHER_ARGS },
          { id: t.ids[1], name: 'get_time', args: TIME_ARGS },
        ]);
        assert.equal(finish, 'STOP');
        expectUsage(usage);

        assert.equal(t.up().requests.length, 1);
        const got = t.up().last();
        t.checkStream(got.json);
        t.checkTools(got.json);
      });
    }
  });
}

describe('@google/genai provider selection by path prefix', () => {
  test('baseUrl <gateway>/claude-custom reaches the claude-custom upstream without a header', async () => {
    claudeUp.enqueue({ status: 200, json: anthropicMessage({ text: 'via path prefix', usage: CLAUDE_USAGE }) });
    const ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: `${gateway.origin}/claude-custom`, timeout: 10_000 } });
    const resp = await ai.models.generateContent({ model: GENAI_MODEL, contents: 'hi' });
    assert.equal(resp.text, 'via path prefix');
    assert.equal(openaiUp.requests.length, 0);
    const got = claudeUp.last();
    assert.equal(got.url, '/v1/messages');
    assertUpstreamAuth(got, CLAUDE_AUTH);
  });
});
