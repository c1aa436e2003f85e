// Choosing the provider per request with the SDKs' own options: a base URL with the
// /claude-custom path prefix, or a Model-Provider default header, while MODEL_PROVIDER is
// openai-custom.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import * as sdk1 from '@anthropic-ai/sdk';
import * as sdk0 from 'anthropic-sdk-0';
import OpenAI from 'openai';

import { anthropicMessage, openaiCompletion, startFakeUpstream, startGateway, stopAll } from './helpers.mjs';

const CLIENT_KEY = 'sk-gateway-client-key-routing';
const MODEL = 'claude-haiku-4-5-20251001';

let upstream;
let gateway;

before(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({
    pools: {
      'openai-custom': [{ OPENAI_API_KEY: 'sk-upstream-openai', OPENAI_BASE_URL: `${upstream.origin}/v1`, uuid: 'route-openai-1' }],
      'claude-custom': [{ CLAUDE_API_KEY: 'sk-ant-upstream-claude', CLAUDE_BASE_URL: `${upstream.origin}/anthropic`, uuid: 'route-claude-1' }],
    },
    modelProvider: 'openai-custom',
    apiKey: CLIENT_KEY,
  });
});

after(() => stopAll(gateway, upstream));

describe('provider selection per request', () => {
  beforeEach(() => upstream.reset());

  test('openai SDK goes to the default provider (openai-custom)', async () => {
    upstream.enqueue({ status: 200, json: openaiCompletion({ content: 'from openai-custom' }) });
    const openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.origin}/v1`, maxRetries: 0 });
    const c = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(c.choices[0].message.content, 'from openai-custom');
    assert.equal(upstream.last().url, '/v1/chat/completions');
    assert.equal(upstream.last().headers.authorization, 'Bearer sk-upstream-openai');
  });

  for (const [name, sdk] of [
    ['@anthropic-ai/sdk 1.x', sdk1],
    ['@anthropic-ai/sdk 0.x', sdk0],
  ]) {
    test(`${name} with base URL <gateway>/claude-custom reaches the claude-custom upstream`, async () => {
      upstream.enqueue({ status: 200, json: anthropicMessage({ text: 'via path prefix' }) });
      const client = new sdk.Anthropic({ apiKey: CLIENT_KEY, baseURL: `${gateway.origin}/claude-custom`, maxRetries: 0 });
      const msg = await client.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(msg.content[0].text, 'via path prefix');
      const got = upstream.last();
      assert.equal(new URL(got.url, 'http://x').pathname, '/anthropic/v1/messages');
      assert.equal(got.headers['x-api-key'], 'sk-ant-upstream-claude');
      assert.equal(got.headers.authorization, undefined);
    });

    test(`${name} with a Model-Provider: claude-custom default header reaches the claude-custom upstream`, async () => {
      upstream.enqueue({ status: 200, json: anthropicMessage({ text: 'via header' }) });
      const client = new sdk.Anthropic({
        apiKey: CLIENT_KEY,
        baseURL: gateway.origin,
        maxRetries: 0,
        defaultHeaders: { 'Model-Provider': 'claude-custom' },
      });
      const msg = await client.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(msg.content[0].text, 'via header');
      const got = upstream.last();
      assert.equal(new URL(got.url, 'http://x').pathname, '/anthropic/v1/messages');
      assert.equal(got.headers['x-api-key'], 'sk-ant-upstream-claude');
    });
  }
});
