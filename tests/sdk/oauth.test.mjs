// The OAuth provider types seen through the official SDKs: openai 6.x, @anthropic-ai/sdk 1.x and
// @google/genai against openai-qwen-oauth, gemini-cli-oauth and claude-kiro-oauth, each with
// fake token / API servers on 127.0.0.1 (facts: /work/shared/PROVIDERS.md sections 1-3; the
// pools entries point the gateway at the fakes as tests/integration/oauth_test.cpp does).
//
//   openai-qwen-oauth  creds file with an EXPIRED token: the gateway refreshes it once at the
//                      token server (form body grant_type=refresh_token) and calls the OpenAI
//                      chat completions API at {resource_url}/v1/chat/completions with the new
//                      bearer token and X-DashScope-AuthType: qwen-oauth.
//   gemini-cli-oauth   Code Assist: POST /v1internal:generateContent and
//                      /v1internal:streamGenerateContent?alt=sse, bodies {model, project,
//                      request}, answers (and SSE events) wrapped in {"response": ...}.
//   claude-kiro-oauth  POST /generateAssistantResponse answering a binary AWS event-stream.
//
// Each SDK x type: non-streaming text and streaming text; plus a Kiro tool call reassembled by
// the Anthropic SDK's messages.stream().finalMessage().
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';

import { headersContaining, openaiCompletion, openaiStream, sseData, startFakeUpstream, startGateway, stopAll } from './helpers.mjs';

const CLIENT_KEY = 'sk-gateway-client-key-oauth';

let tmp;
before(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'aiclient-sdk-oauth-'));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The three clients, all pointed at the gateway (no retries, short timeouts). */
function clients(gateway) {
  return {
    openai: new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.origin}/v1`, maxRetries: 0, timeout: 10_000 }),
    anthropic: new Anthropic({ apiKey: CLIENT_KEY, baseURL: gateway.origin, maxRetries: 0, timeout: 10_000 }),
    genai: new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: gateway.origin, timeout: 10_000 } }),
  };
}

/** Collects the text of an openai SDK chat stream. */
async function openaiStreamText(stream) {
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices ?? []) {
      if (c.delta?.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish };
}

/** Collects the text of an Anthropic SDK raw event stream, and the event types seen. */
async function anthropicStreamText(stream) {
  let text = '';
  const types = [];
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
  }
  return { text, types };
}

/** Collects the text of a genai stream. */
async function genaiStreamText(stream) {
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.text ?? '';
    const f = chunk.candidates?.[0]?.finishReason;
    if (f) finish = f;
  }
  return { text, finish };
}

const anthropicText = (m) => m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

/** Asserts the client key did not reach an upstream. */
function assertNoClientKey(req) {
  assert.deepEqual(headersContaining(req.headers, CLIENT_KEY), [], 'the client key must not reach the upstream');
  assert.ok(!req.url.includes(CLIENT_KEY));
  assert.ok(!req.bodyText.includes(CLIENT_KEY));
}

// =============================================================================================
// openai-qwen-oauth
// =============================================================================================

describe('openai-qwen-oauth (expired token refreshed, OpenAI chat completions API)', () => {
  let tokenServer;
  let api;
  let gateway;
  let c;
  let credsPath;
  const MODEL = 'coder-model';

  before(async () => {
    tokenServer = await startFakeUpstream();
    api = await startFakeUpstream();
    credsPath = path.join(tmp, 'qwen_oauth_creds.json');
    await writeFile(
      credsPath,
      JSON.stringify({
        access_token: 'qwen-old-token',
        refresh_token: 'qwen-refresh-1',
        token_type: 'Bearer',
        resource_url: api.origin,
        expiry_date: Date.now() - 60_000,
      }),
    );
    // Exactly one refresh is scripted: a second one would get a 599.
    tokenServer.enqueue({
      status: 200,
      json: {
        access_token: 'qwen-new-token-1',
        token_type: 'Bearer',
        expires_in: 3600,
        refresh_token: 'qwen-rotated-1',
        resource_url: api.origin,
      },
    });
    gateway = await startGateway({
      pools: {
        'openai-qwen-oauth': [
          {
            QWEN_OAUTH_CREDS_FILE_PATH: credsPath,
            QWEN_TOKEN_URL: `${tokenServer.origin}/api/v1/oauth2/token`,
            uuid: 'sdk-qwen-1',
          },
        ],
      },
      modelProvider: 'openai-qwen-oauth',
      apiKey: CLIENT_KEY,
    });
    c = clients(gateway);
  });

  after(() => stopAll(gateway, tokenServer, api));

  beforeEach(() => api.reset());
  afterEach(() => assert.equal(api.pending(), 0, 'unused scripted answers on the qwen API'));

  /** The API request: right path, refreshed token, qwen headers, no client key. */
  function assertApiRequest(req, { stream }) {
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/v1/chat/completions');
    assert.equal(req.headers.authorization, 'Bearer qwen-new-token-1', 'the API sees the refreshed token');
    assert.equal(req.headers['x-dashscope-authtype'], 'qwen-oauth');
    assertNoClientKey(req);
    assert.equal(req.json.model, MODEL);
    assert.equal(Boolean(req.json.stream), stream);
  }

  test('openai SDK non-streaming: the expired token is refreshed once before use', async () => {
    api.enqueue({ status: 200, json: openaiCompletion({ model: MODEL, content: 'qwen says hi' }) });
    const r = await c.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0].message.content, 'qwen says hi');
    assert.equal(r.choices[0].finish_reason, 'stop');

    assert.equal(tokenServer.requests.length, 1, 'one refresh');
    const t = tokenServer.requests[0];
    assert.equal(t.method, 'POST');
    assert.equal(t.url, '/api/v1/oauth2/token');
    assert.match(t.headers['content-type'] ?? '', /application\/x-www-form-urlencoded/);
    const form = new URLSearchParams(t.bodyText);
    assert.equal(form.get('grant_type'), 'refresh_token');
    assert.equal(form.get('refresh_token'), 'qwen-refresh-1');
    assertNoClientKey(t);

    assert.equal(api.requests.length, 1, 'the API is called once, with the new token (no 401 round)');
    assertApiRequest(api.requests[0], { stream: false });
    assert.equal(api.requests[0].json.messages.at(-1).content, 'hi');

    const saved = JSON.parse(await readFile(credsPath, 'utf8'));
    assert.equal(saved.access_token, 'qwen-new-token-1', 'the new token is written back');
    assert.equal(saved.refresh_token, 'qwen-rotated-1', 'the rotated refresh token is written back');
  });

  test('openai SDK streaming', async () => {
    api.enqueue({ sse: openaiStream({ model: MODEL, textPieces: ['Qw', 'en ', 'streams'] }) });
    const stream = await c.openai.chat.completions.create({
      model: MODEL,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const { text, finish } = await openaiStreamText(stream);
    assert.equal(text, 'Qwen streams');
    assert.equal(finish, 'stop');
    assertApiRequest(api.last(), { stream: true });
  });

  test('Anthropic SDK non-streaming (converted)', async () => {
    api.enqueue({ status: 200, json: openaiCompletion({ model: MODEL, content: 'qwen for claude' }) });
    const m = await c.anthropic.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.equal(anthropicText(m), 'qwen for claude');
    assert.equal(m.stop_reason, 'end_turn');
    assertApiRequest(api.last(), { stream: false });
  });

  test('Anthropic SDK streaming (converted)', async () => {
    api.enqueue({ sse: openaiStream({ model: MODEL, textPieces: ['stream', 'ed ', 'qwen'] }) });
    const stream = await c.anthropic.messages.create({
      model: MODEL,
      max_tokens: 64,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const { text, types } = await anthropicStreamText(stream);
    assert.equal(text, 'streamed qwen');
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assertApiRequest(api.last(), { stream: true });
  });

  test('genai SDK non-streaming (converted)', async () => {
    api.enqueue({ status: 200, json: openaiCompletion({ model: MODEL, content: 'qwen for gemini' }) });
    const r = await c.genai.models.generateContent({ model: MODEL, contents: 'hi' });
    assert.equal(r.text, 'qwen for gemini');
    assert.equal(r.candidates[0].finishReason, 'STOP');
    assertApiRequest(api.last(), { stream: false });
  });

  test('genai SDK streaming (converted)', async () => {
    api.enqueue({ sse: openaiStream({ model: MODEL, textPieces: ['gem', 'ini ', 'via qwen'] }) });
    const stream = await c.genai.models.generateContentStream({ model: MODEL, contents: 'hi' });
    const { text, finish } = await genaiStreamText(stream);
    assert.equal(text, 'gemini via qwen');
    assert.equal(finish, 'STOP');
    assertApiRequest(api.last(), { stream: true });
  });

  test('the refreshed token was reused: still exactly one refresh', () => {
    assert.equal(tokenServer.requests.length, 1);
    assert.equal(tokenServer.pending(), 0);
  });
});

// =============================================================================================
// gemini-cli-oauth
// =============================================================================================

/** A Code Assist answer: a GenerateContentResponse wrapped in {"response": ...}. */
function codeAssistResponse({ text, finishReason = 'STOP', usage = null, model = 'gemini-2.5-pro' }) {
  const response = {
    candidates: [{ index: 0, content: { role: 'model', parts: [{ text }] }, ...(finishReason ? { finishReason } : {}) }],
    modelVersion: model,
  };
  if (usage) response.usageMetadata = usage;
  return { response, traceId: 'trace-1' };
}

/** A wrapped Code Assist SSE stream of text pieces (finishReason and usage in the last one). */
function codeAssistStream(pieces) {
  return pieces.map((p, i) =>
    sseData(
      codeAssistResponse({
        text: p,
        finishReason: i === pieces.length - 1 ? 'STOP' : null,
        usage: i === pieces.length - 1 ? { promptTokenCount: 4, candidatesTokenCount: 3, totalTokenCount: 7 } : null,
      }),
    ),
  );
}

describe('gemini-cli-oauth (Code Assist v1internal, wrapped answers)', () => {
  let api;
  let gateway;
  let c;
  const MODEL = 'gemini-2.5-pro';
  const USAGE = { promptTokenCount: 4, candidatesTokenCount: 3, totalTokenCount: 7 };

  before(async () => {
    api = await startFakeUpstream();
    const credsPath = path.join(tmp, 'gemini_oauth_creds.json');
    await writeFile(
      credsPath,
      JSON.stringify({
        access_token: 'g-token',
        refresh_token: 'g-refresh',
        token_type: 'Bearer',
        expiry_date: Date.now() + 24 * 3600 * 1000,
      }),
    );
    gateway = await startGateway({
      pools: {
        'gemini-cli-oauth': [
          {
            GEMINI_OAUTH_CREDS_FILE_PATH: credsPath,
            GEMINI_CODE_ASSIST_BASE: `${api.origin}/v1internal`,
            PROJECT_ID: 'p1',
            uuid: 'sdk-gemini-1',
          },
        ],
      },
      modelProvider: 'gemini-cli-oauth',
      apiKey: CLIENT_KEY,
    });
    c = clients(gateway);
  });

  after(() => stopAll(gateway, api));

  beforeEach(() => api.reset());
  afterEach(() => assert.equal(api.pending(), 0, 'unused scripted answers on the Code Assist API'));

  /** The Code Assist request: method URL, bearer token, wrapper with model/project/request. */
  function assertApiRequest(req, { stream, text = 'hi' }) {
    assert.equal(req.method, 'POST');
    assert.equal(req.url, stream ? '/v1internal:streamGenerateContent?alt=sse' : '/v1internal:generateContent');
    assert.equal(req.headers.authorization, 'Bearer g-token');
    assertNoClientKey(req);
    assert.equal(req.json.model, MODEL);
    assert.equal(req.json.project, 'p1');
    assert.ok(req.json.request && Array.isArray(req.json.request.contents), `wrapped request: ${req.bodyText}`);
    const last = req.json.request.contents.at(-1);
    assert.equal(last.role, 'user');
    assert.equal(last.parts.map((p) => p.text ?? '').join(''), text);
  }

  test('genai SDK non-streaming: the answer is unwrapped', async () => {
    api.enqueue({ status: 200, json: codeAssistResponse({ text: 'gemini cli says hi', usage: USAGE }) });
    const r = await c.genai.models.generateContent({ model: MODEL, contents: 'hi' });
    assert.equal(r.text, 'gemini cli says hi');
    assert.equal(r.candidates[0].finishReason, 'STOP');
    assert.equal(r.usageMetadata?.totalTokenCount, 7);
    assertApiRequest(api.last(), { stream: false });
  });

  test('genai SDK streaming: the events are unwrapped', async () => {
    api.enqueue({ sse: codeAssistStream(['Hel', 'lo ', 'Gemini']) });
    const stream = await c.genai.models.generateContentStream({ model: MODEL, contents: 'hi' });
    const { text, finish } = await genaiStreamText(stream);
    assert.equal(text, 'Hello Gemini');
    assert.equal(finish, 'STOP');
    assertApiRequest(api.last(), { stream: true });
  });

  test('openai SDK non-streaming (converted)', async () => {
    api.enqueue({ status: 200, json: codeAssistResponse({ text: 'gemini for openai', usage: USAGE }) });
    const r = await c.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0].message.content, 'gemini for openai');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage?.total_tokens, 7);
    assertApiRequest(api.last(), { stream: false });
  });

  test('openai SDK streaming (converted)', async () => {
    api.enqueue({ sse: codeAssistStream(['gem', 'ini ', 'streams']) });
    const stream = await c.openai.chat.completions.create({
      model: MODEL,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const { text, finish } = await openaiStreamText(stream);
    assert.equal(text, 'gemini streams');
    assert.equal(finish, 'stop');
    assertApiRequest(api.last(), { stream: true });
  });

  test('Anthropic SDK non-streaming (converted)', async () => {
    api.enqueue({ status: 200, json: codeAssistResponse({ text: 'gemini for claude', usage: USAGE }) });
    const m = await c.anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(anthropicText(m), 'gemini for claude');
    assert.equal(m.stop_reason, 'end_turn');
    assertApiRequest(api.last(), { stream: false });
  });

  test('Anthropic SDK streaming (converted)', async () => {
    api.enqueue({ sse: codeAssistStream(['claude ', 'via ', 'gemini']) });
    const stream = await c.anthropic.messages.create({
      model: MODEL,
      max_tokens: 64,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const { text, types } = await anthropicStreamText(stream);
    assert.equal(text, 'claude via gemini');
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assertApiRequest(api.last(), { stream: true });
  });

  /** The Code Assist countTokens request: {request: {model: "models/<m>", contents}}. */
  function assertCountRequest(req, text) {
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/v1internal:countTokens');
    assert.equal(req.headers.authorization, 'Bearer g-token');
    assertNoClientKey(req);
    assert.equal(req.json.request.model, `models/${MODEL}`);
    const last = req.json.request.contents.at(-1);
    assert.equal(last.role, 'user');
    assert.equal(last.parts.map((p) => p.text ?? '').join(''), text);
  }

  test('genai SDK countTokens: counted by Code Assist', async () => {
    api.enqueue({ status: 200, json: { totalTokens: 17 } });
    const r = await c.genai.models.countTokens({ model: MODEL, contents: 'count these words' });
    assert.equal(r.totalTokens, 17);
    assertCountRequest(api.last(), 'count these words');
  });

  test('Anthropic SDK messages.countTokens: counted by Code Assist (converted)', async () => {
    api.enqueue({ status: 200, json: { totalTokens: 23 } });
    const r = await c.anthropic.messages.countTokens({
      model: MODEL,
      messages: [{ role: 'user', content: 'count these too' }],
    });
    assert.equal(r.input_tokens, 23);
    assertCountRequest(api.last(), 'count these too');
  });
});

// =============================================================================================
// claude-kiro-oauth
// =============================================================================================

// CRC32 (IEEE / zlib): node:zlib has crc32 since Node 20.15 / 22.2; a table otherwise.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(buf) >>> 0;
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One AWS event-stream message with string headers and a JSON payload. */
function eventStreamMessage(headers, payload) {
  const hparts = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(7, 1 + n.length); // string
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    hparts.push(h);
  }
  const hbuf = Buffer.concat(hparts);
  const pbuf = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
  const total = 12 + hbuf.length + pbuf.length + 4;
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(total, 0);
  prelude.writeUInt32BE(hbuf.length, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  const body = Buffer.concat([prelude, hbuf, pbuf]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body), 0);
  return Buffer.concat([body, crc]);
}
const kiroEvent = (eventType, payload) =>
  eventStreamMessage({ ':message-type': 'event', ':event-type': eventType, ':content-type': 'application/json' }, payload);

/** A Kiro answer: text pieces, optional tool call fragments, a context-usage event; cut in odd pieces. */
function kiroAnswer({ textPieces = [], tool = null } = {}) {
  const frames = textPieces.map((t) => kiroEvent('assistantResponseEvent', { content: t }));
  if (tool) {
    tool.inputPieces.forEach((piece, i) => {
      frames.push(
        kiroEvent('toolUseEvent', i === 0 ? { name: tool.name, toolUseId: tool.id, input: piece } : { toolUseId: tool.id, input: piece }),
      );
    });
    frames.push(kiroEvent('toolUseEvent', { toolUseId: tool.id, stop: true }));
  }
  frames.push(kiroEvent('contextUsageEvent', { contextUsagePercentage: 1.5 }));
  const all = Buffer.concat(frames);
  // Cut at places that do not line up with frames, as TCP may.
  const cuts = [7, 60, Math.floor(all.length / 2) + 3].filter((x) => x < all.length);
  const pieces = [];
  let prev = 0;
  for (const cut of cuts) {
    if (cut > prev) pieces.push(all.subarray(prev, cut));
    prev = cut;
  }
  pieces.push(all.subarray(prev));
  return {
    status: 200,
    headers: { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-codewhisperer-conversation-id': 'conv-1' },
    sse: pieces,
  };
}

test('the event-stream encoder matches a known CRC32', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  const m = kiroEvent('assistantResponseEvent', { content: 'x' });
  assert.equal(m.readUInt32BE(0), m.length);
});

describe('claude-kiro-oauth (generateAssistantResponse, AWS event-stream)', () => {
  let api;
  let gateway;
  let c;
  const MODEL = 'claude-sonnet-4-6';
  const PROFILE_ARN = 'arn:aws:codewhisperer:us-east-1:123456789012:profile/SDKTEST';

  before(async () => {
    api = await startFakeUpstream();
    const credsPath = path.join(tmp, 'kiro-auth-token.json');
    await writeFile(
      credsPath,
      JSON.stringify({
        accessToken: 'k-token',
        refreshToken: 'k-refresh',
        expiresAt: new Date(Date.now() + 24 * 3600 * 1000).toISOString(),
        authMethod: 'social',
        provider: 'Google',
        region: 'us-east-1',
        profileArn: PROFILE_ARN,
      }),
    );
    gateway = await startGateway({
      pools: {
        'claude-kiro-oauth': [{ KIRO_OAUTH_CREDS_FILE_PATH: credsPath, KIRO_BASE_URL: api.origin, uuid: 'sdk-kiro-1' }],
      },
      modelProvider: 'claude-kiro-oauth',
      apiKey: CLIENT_KEY,
    });
    c = clients(gateway);
  });

  after(() => stopAll(gateway, api));

  beforeEach(() => api.reset());
  afterEach(() => assert.equal(api.pending(), 0, 'unused scripted answers on the Kiro API'));

  /** The Kiro request: path, bearer token, profileArn, the user's text in currentMessage. */
  function assertApiRequest(req, { text = 'hi' } = {}) {
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/generateAssistantResponse');
    assert.equal(req.headers.authorization, 'Bearer k-token');
    assertNoClientKey(req);
    assert.equal(req.json.profileArn, PROFILE_ARN);
    const cur = req.json.conversationState?.currentMessage?.userInputMessage;
    assert.ok(cur, `currentMessage.userInputMessage: ${req.bodyText}`);
    assert.ok(String(cur.content).includes(text), `the user text reaches Kiro: ${cur.content}`);
  }

  test('Anthropic SDK non-streaming', async () => {
    api.enqueue(kiroAnswer({ textPieces: ['Hello ', 'from Kiro'] }));
    const m = await c.anthropic.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(m.type, 'message');
    assert.equal(anthropicText(m), 'Hello from Kiro');
    assert.equal(m.stop_reason, 'end_turn');
    assertApiRequest(api.last());
    assert.equal(api.last().json.conversationState.currentMessage.userInputMessage.modelId, 'claude-sonnet-4.6');
  });

  test('Anthropic SDK streaming', async () => {
    api.enqueue(kiroAnswer({ textPieces: ['Kiro ', 'streams ', 'text'] }));
    const stream = await c.anthropic.messages.create({
      model: MODEL,
      max_tokens: 64,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const { text, types } = await anthropicStreamText(stream);
    assert.equal(text, 'Kiro streams text');
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assertApiRequest(api.last());
  });

  test('Anthropic SDK messages.stream().finalMessage(): a tool_use reassembled', async () => {
    api.enqueue(
      kiroAnswer({
        textPieces: ['Let me ', 'look.'],
        tool: { name: 'ls', id: 'tooluse_sdk1', inputPieces: ['{"d":', '"./sr', 'c","all":', 'true}'] },
      }),
    );
    const final = await c.anthropic.messages
      .stream({
        model: MODEL,
        max_tokens: 256,
        system: 'Be brief.',
        messages: [{ role: 'user', content: 'list files' }],
        tools: [
          {
            name: 'ls',
            description: 'list a directory',
            input_schema: { type: 'object', properties: { d: { type: 'string' }, all: { type: 'boolean' } }, required: ['d'] },
          },
        ],
      })
      .finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    assert.equal(anthropicText(final), 'Let me look.');
    const uses = final.content.filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, 1, JSON.stringify(final.content));
    assert.equal(uses[0].id, 'tooluse_sdk1');
    assert.equal(uses[0].name, 'ls');
    assert.deepEqual(uses[0].input, { d: './src', all: true });
    assertApiRequest(api.last(), { text: 'list files' });
    const ctx = api.last().json.conversationState.currentMessage.userInputMessage.userInputMessageContext;
    assert.ok(JSON.stringify(ctx?.tools ?? []).includes('"ls"'), `the tool is declared to Kiro: ${JSON.stringify(ctx)}`);
  });

  test('openai SDK non-streaming (converted)', async () => {
    api.enqueue(kiroAnswer({ textPieces: ['kiro ', 'for openai'] }));
    const r = await c.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0].message.content, 'kiro for openai');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assertApiRequest(api.last());
  });

  test('openai SDK streaming (converted)', async () => {
    api.enqueue(kiroAnswer({ textPieces: ['kiro ', 'streams ', 'to openai'] }));
    const stream = await c.openai.chat.completions.create({
      model: MODEL,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const { text, finish } = await openaiStreamText(stream);
    assert.equal(text, 'kiro streams to openai');
    assert.equal(finish, 'stop');
    assertApiRequest(api.last());
  });

  test('genai SDK non-streaming (converted)', async () => {
    api.enqueue(kiroAnswer({ textPieces: ['kiro ', 'for gemini'] }));
    const r = await c.genai.models.generateContent({ model: MODEL, contents: 'hi' });
    assert.equal(r.text, 'kiro for gemini');
    assert.equal(r.candidates[0].finishReason, 'STOP');
    assertApiRequest(api.last());
  });

  test('genai SDK streaming (converted)', async () => {
    api.enqueue(kiroAnswer({ textPieces: ['kiro ', 'streams ', 'to gemini'] }));
    const stream = await c.genai.models.generateContentStream({ model: MODEL, contents: 'hi' });
    const { text, finish } = await genaiStreamText(stream);
    assert.equal(text, 'kiro streams to gemini');
    assert.equal(finish, 'STOP');
    assertApiRequest(api.last());
  });
});
