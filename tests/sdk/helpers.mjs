// Shared helpers of the SDK tests: a scriptable fake upstream (OpenAI and Anthropic shapes)
// and a launcher for the real aiclient-server binary.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

/** The binary under test: $AICLIENT_SERVER_BINARY, else build/release/aiclient-server. */
export function serverBinary() {
  const bin = process.env.AICLIENT_SERVER_BINARY || path.join(repoRoot, 'build', 'release', 'aiclient-server');
  if (!existsSync(bin)) {
    throw new Error(`aiclient-server binary not found at ${bin}; build it and set AICLIENT_SERVER_BINARY`);
  }
  return bin;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Fake upstream
// ---------------------------------------------------------------------------------------------

/**
 * An HTTP server on 127.0.0.1:0 that records every request and answers from a queue of
 * scripted responses (FIFO). A response is one of
 *   { status, headers?, json }                   a JSON body
 *   { status?, headers?, sse: [string, ...], delayMs?, splitEvents? }
 *                                                 server-sent events written one by one
 *   { status, headers?, body }                   a raw body
 * With an empty queue it answers 599 so that a missing script fails loudly.
 */
export async function startFakeUpstream() {
  const requests = [];
  const queue = [];
  const sockets = new Set();
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const bodyText = Buffer.concat(chunks).toString('utf8');
    let json;
    try {
      json = bodyText ? JSON.parse(bodyText) : undefined;
    } catch {
      json = undefined;
    }
    requests.push({ method: req.method, url: req.url, headers: { ...req.headers }, bodyText, json });
    const reply = queue.shift();
    if (!reply) {
      res.writeHead(599, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `fake upstream: nothing scripted for ${req.method} ${req.url}` } }));
      return;
    }
    if (reply.sse) {
      res.writeHead(reply.status ?? 200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        ...(reply.headers ?? {}),
      });
      res.flushHeaders();
      for (const [i, event] of reply.sse.entries()) {
        if (res.destroyed) return;
        if (reply.splitEvents && i % 2 === 1 && event.length > 8) {
          // Write this event in two pieces to exercise the gateway's framing.
          const cut = Math.floor(event.length / 2);
          res.write(event.slice(0, cut));
          await sleep(reply.delayMs ?? 2);
          res.write(event.slice(cut));
        } else {
          res.write(event);
        }
        await sleep(reply.delayMs ?? 2);
      }
      res.end();
      return;
    }
    const headers = { ...(reply.headers ?? {}) };
    let body = reply.body ?? '';
    if (reply.json !== undefined) {
      body = JSON.stringify(reply.json);
      headers['content-type'] ??= 'application/json';
    }
    res.writeHead(reply.status ?? 200, headers);
    res.end(body);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    requests,
    /** Queues the next response(s). */
    enqueue(...replies) {
      queue.push(...replies);
    },
    /** The most recent request. */
    last() {
      return requests[requests.length - 1];
    },
    reset() {
      requests.length = 0;
      queue.length = 0;
    },
    pending() {
      return queue.length;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** One SSE event in the `data:`-only style of OpenAI. */
export const sseData = (obj) => `data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`;
/** One SSE event with an `event:` line, Anthropic style. */
export const sseEvent = (name, obj) => `event: ${name}\ndata: ${JSON.stringify(obj)}\n\n`;

// --- OpenAI shapes (https://platform.openai.com/docs/api-reference/chat) -----------------------

export function openaiCompletion({
  id = 'chatcmpl-fake-0001',
  model = 'gpt-4o-mini-2024-07-18',
  content = 'Hello from the fake upstream.',
  toolCalls = null, // [{ id, name, arguments }] (arguments: a JSON string)
  finishReason = toolCalls ? 'tool_calls' : 'stop',
  usage = { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
} = {}) {
  const message = { role: 'assistant', content, refusal: null };
  if (toolCalls) {
    message.tool_calls = toolCalls.map((c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }));
  }
  return {
    id,
    object: 'chat.completion',
    created: 1732600000,
    model,
    system_fingerprint: 'fp_fake',
    choices: [
      {
        index: 0,
        message,
        logprobs: null,
        finish_reason: finishReason,
      },
    ],
    usage: {
      ...usage,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0, ...usage.prompt_tokens_details },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
        ...usage.completion_tokens_details,
      },
    },
    service_tier: 'default',
  };
}

/**
 * OpenAI usage with cached prompt tokens and reasoning tokens (prompt_tokens includes the
 * cached ones, completion_tokens includes the reasoning ones).
 */
export function openaiUsage({ prompt = 100, completion = 50, cached = 40, reasoning = 20 } = {}) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/**
 * A streamed chat completion (stream_options.include_usage): the role chunk, one chunk per
 * text piece, tool calls whose arguments arrive in pieces (each call has its own index;
 * id/name only in its first chunk; calls follow each other as the real API sends parallel
 * calls), the finish_reason chunk, the usage chunk (empty choices) and [DONE].
 *   toolCall:  { id, name, argPieces: [...] }    one call (index 0)
 *   toolCalls: [{ id, name, argPieces }, ...]    parallel calls (index 0, 1, ...)
 *   toolCallsInOneChunk: true                    all calls complete in a single chunk, as
 *                                                several OpenAI-compatible servers send them
 *   interleaveToolCalls: true                    the calls' first chunks, then their argument
 *                                                pieces round-robin (call 0, call 1, call 0, ...)
 */
export function openaiStream({
  id = 'chatcmpl-fake-0002',
  model = 'gpt-4o-mini-2024-07-18',
  textPieces = ['Hel', 'lo', ', wor', 'ld!'],
  toolCall = null,
  toolCalls = toolCall ? [toolCall] : [],
  toolCallsInOneChunk = false,
  interleaveToolCalls = false,
  usage = { prompt_tokens: 20, completion_tokens: 11, total_tokens: 31 },
} = {}) {
  const base = { id, object: 'chat.completion.chunk', created: 1732600001, model, system_fingerprint: 'fp_fake' };
  const chunk = (delta, finish_reason = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason }],
    usage: null,
  });
  const events = [sseData(chunk({ role: 'assistant', content: textPieces.length ? '' : null, refusal: null }))];
  for (const p of textPieces) events.push(sseData(chunk({ content: p })));
  if (toolCallsInOneChunk && toolCalls.length) {
    const all = toolCalls.map((call, index) => ({
      index,
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.argPieces.join('') },
    }));
    events.push(sseData(chunk({ tool_calls: all })));
  }
  if (interleaveToolCalls && !toolCallsInOneChunk) {
    for (const [index, call] of toolCalls.entries()) {
      events.push(
        sseData(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] })),
      );
    }
    const rounds = Math.max(...toolCalls.map((c) => c.argPieces.length));
    for (let i = 0; i < rounds; i += 1) {
      for (const [index, call] of toolCalls.entries()) {
        if (i < call.argPieces.length) {
          events.push(sseData(chunk({ tool_calls: [{ index, function: { arguments: call.argPieces[i] } }] })));
        }
      }
    }
  }
  for (const [index, call] of (toolCallsInOneChunk || interleaveToolCalls ? [] : toolCalls).entries()) {
    events.push(
      sseData(
        chunk({
          tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }],
        }),
      ),
    );
    for (const a of call.argPieces) {
      events.push(sseData(chunk({ tool_calls: [{ index, function: { arguments: a } }] })));
    }
  }
  events.push(sseData(chunk({}, toolCalls.length ? 'tool_calls' : 'stop')));
  events.push(sseData({ ...base, choices: [], usage }));
  events.push(sseData('[DONE]'));
  return events;
}

export function openaiError(message, type = 'server_error') {
  return { error: { message, type, param: null, code: null } };
}

// --- Anthropic shapes (https://docs.anthropic.com/en/api/messages, .../messages-streaming) ------

export function anthropicMessage({
  id = 'msg_01FakeUpstream0000000001',
  model = 'claude-sonnet-4-6',
  text = 'Hello from the fake Anthropic upstream.',
  content = [{ type: 'text', text }], // or blocks, e.g. tool_use blocks { type, id, name, input }
  stopReason = content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn',
  usage = { input_tokens: 14, output_tokens: 9 },
} = {}) {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...usage, service_tier: 'standard' },
  };
}

/**
 * A streamed message: message_start, a text block in pieces (none when textPieces is empty),
 * tool_use blocks whose input arrives as input_json_delta pieces, message_delta (stop_reason +
 * usage), message_stop, with a ping after the first block start as the real API sends.
 *   toolUse:  { id, name, jsonPieces: [...] }    one tool_use block
 *   toolUses: [{ id, name, jsonPieces }, ...]    parallel tool_use blocks
 * cacheReadTokens / cacheCreationTokens go into message_start's usage. With fullDeltaUsage,
 * message_delta's usage repeats the cumulative input and cache counts next to output_tokens, as
 * the current API sends them (they must not be counted twice).
 */
export function anthropicStream({
  id = 'msg_01FakeUpstream0000000002',
  model = 'claude-sonnet-4-6',
  textPieces = ['Let me ', 'check the ', 'weather.'],
  toolUse = null,
  toolUses = toolUse ? [toolUse] : [],
  inputTokens = 25,
  outputTokens = 42,
  cacheReadTokens = 0,
  cacheCreationTokens = 0,
  fullDeltaUsage = false,
} = {}) {
  const events = [
    sseEvent('message_start', {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: inputTokens,
          cache_creation_input_tokens: cacheCreationTokens,
          cache_read_input_tokens: cacheReadTokens,
          output_tokens: 1,
        },
      },
    }),
  ];
  let index = 0;
  let pinged = false;
  const ping = () => {
    if (!pinged) events.push(sseEvent('ping', { type: 'ping' }));
    pinged = true;
  };
  if (textPieces.length) {
    events.push(sseEvent('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
    ping();
    for (const t of textPieces) {
      events.push(sseEvent('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: t } }));
    }
    events.push(sseEvent('content_block_stop', { type: 'content_block_stop', index }));
    index += 1;
  }
  for (const use of toolUses) {
    events.push(
      sseEvent('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: use.id, name: use.name, input: {} },
      }),
    );
    ping();
    for (const j of ['', ...use.jsonPieces]) {
      events.push(
        sseEvent('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: j } }),
      );
    }
    events.push(sseEvent('content_block_stop', { type: 'content_block_stop', index }));
    index += 1;
  }
  events.push(
    sseEvent('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: toolUses.length ? 'tool_use' : 'end_turn', stop_sequence: null },
      usage: fullDeltaUsage
        ? {
            input_tokens: inputTokens,
            cache_creation_input_tokens: cacheCreationTokens,
            cache_read_input_tokens: cacheReadTokens,
            output_tokens: outputTokens,
          }
        : { output_tokens: outputTokens },
    }),
  );
  events.push(sseEvent('message_stop', { type: 'message_stop' }));
  return events;
}

export function anthropicError(message, type = 'api_error') {
  return { type: 'error', error: { type, message } };
}

// ---------------------------------------------------------------------------------------------
// The gateway under test
// ---------------------------------------------------------------------------------------------

/**
 * Spawns aiclient-server on 127.0.0.1:0 and waits for its "listening on" line.
 *   pools:         object written to a temp provider_pools.json (omitted: no pools file)
 *   modelProvider: --model-provider (omitted: the binary's default)
 *   apiKey:        --api-key (omitted: none)
 * Returns { port, origin, output(), stop() }; stop() sends SIGTERM and resolves to the exit
 * code (a signal death resolves to the signal's name).
 */
export async function startGateway({ pools, modelProvider, apiKey, extraArgs = [], startTimeoutMs = 15000 } = {}) {
  const bin = serverBinary();
  const dir = await mkdtemp(path.join(tmpdir(), 'aiclient-sdk-'));
  // One scripted answer per request: no retries, and errors the tests provoke on purpose must
  // not take the only account out of the pool (the pool behaviour has its own tests).
  const args = ['--port', '0', '--host', '127.0.0.1', '--log-level', 'info',
                '--request-max-retries', '0', '--max-error-count', '1000',
                '--health-check-enabled', 'false'];
  if (pools) {
    const file = path.join(dir, 'provider_pools.json');
    await writeFile(file, JSON.stringify(pools, null, 2));
    args.push('--provider-pools-file', file);
  }
  if (modelProvider) args.push('--model-provider', modelProvider);
  if (apiKey) args.push('--api-key', apiKey);
  args.push(...extraArgs);

  // cwd is the temp dir so that no config.json / provider_pools.json of the repo is picked up.
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const keep = (s, chunk) => (s + chunk).slice(-200_000);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal));
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`aiclient-server did not report its port within ${startTimeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
    }, startTimeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out = keep(out, chunk);
      const m = /listening on http:\/\/[^ ]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr.on('data', (chunk) => {
      err = keep(err, chunk);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`aiclient-server exited (${code}) before listening: ${bin} ${args.join(' ')}\nstdout:\n${out}\nstderr:\n${err}`));
    });
  });
  let stopped = null;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    args,
    output: () => ({ stdout: out, stderr: err }),
    stop(timeoutMs = 10000) {
      stopped ??= (async () => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        const code = await exited;
        clearTimeout(timer);
        await rm(dir, { recursive: true, force: true });
        return code;
      })();
      return stopped;
    },
  };
}

/**
 * Teardown of a test file: stops the gateway (SIGTERM), closes the fake servers, and asserts
 * the gateway exited 0. Any argument may be undefined (its before() failed early).
 */
export async function stopAll(gateway, ...servers) {
  const code = gateway ? await gateway.stop() : 0;
  for (const s of servers) if (s) await s.close();
  assert.equal(code, 0, 'aiclient-server should exit 0 on SIGTERM');
}

/**
 * A fetch for the SDKs' `fetch` option that records what the SDK sends to the gateway
 * (url and headers), so tests can state what each SDK puts on the wire.
 */
export function recordingFetch() {
  const sent = [];
  const f = async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init.headers ?? (typeof input === 'object' && 'headers' in input ? input.headers : undefined));
    sent.push({ url, method: init.method ?? 'GET', headers: Object.fromEntries(headers.entries()) });
    return fetch(input, init);
  };
  f.sent = sent;
  f.last = () => sent[sent.length - 1];
  return f;
}

/** Header values of a recorded request that contain `needle` (to check a key never leaks). */
export function headersContaining(headers, needle) {
  return Object.entries(headers).filter(([, v]) => String(v).includes(needle));
}
