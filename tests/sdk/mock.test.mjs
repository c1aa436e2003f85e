// The built-in mock provider, with the default configuration (no pools file, no provider, no
// key), through the openai SDK and both Anthropic SDK lines.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as sdk1 from '@anthropic-ai/sdk';
import * as sdk0 from 'anthropic-sdk-0';
import OpenAI from 'openai';

import { startGateway, stopAll } from './helpers.mjs';

let gateway;

before(async () => {
  gateway = await startGateway();
});

after(() => stopAll(gateway));

describe('openai SDK -> mock provider (default config)', () => {
  const client = () => new OpenAI({ apiKey: 'any-key', baseURL: `${gateway.origin}/v1`, maxRetries: 0, timeout: 10_000 });

  test('chat.completions.create answers', async () => {
    const c = await client().chat.completions.create({
      model: 'mock-model',
      messages: [{ role: 'user', content: 'Hello mock' }],
    });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.model, 'mock-model');
    assert.equal(c.choices[0].message.role, 'assistant');
    assert.equal(typeof c.choices[0].message.content, 'string');
    assert.ok(c.choices[0].message.content.length > 0);
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.ok(c.usage.total_tokens > 0);
  });

  test('chat.completions.create streams', async () => {
    const stream = await client().chat.completions.create({
      model: 'mock-model',
      messages: [{ role: 'user', content: 'Hello mock, stream please' }],
      stream: true,
    });
    let text = '';
    let deltas = 0;
    let finish;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta.content) {
        text += choice.delta.content;
        deltas += 1;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    assert.ok(deltas > 1, 'the mock streams its answer in several deltas');
    assert.ok(text.length > 0);
    assert.equal(finish, 'stop');
  });

  test('models.list lists the mock models', async () => {
    const ids = [];
    for await (const m of client().models.list()) ids.push(m.id);
    assert.ok(ids.includes('mock-model'), `got ${ids.join(', ')}`);
  });
});

for (const [name, sdk] of [
  ['@anthropic-ai/sdk 1.x', sdk1],
  ['@anthropic-ai/sdk 0.x (anthropic-sdk-0)', sdk0],
]) {
  describe(`${name} -> mock provider (default config)`, () => {
    const client = () => new sdk.Anthropic({ apiKey: 'any-key', baseURL: gateway.origin, maxRetries: 0, timeout: 10_000 });

    test('messages.create answers', async () => {
      const msg = await client().messages.create({
        model: 'mock-model',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Hello mock' }],
      });
      assert.equal(msg.type, 'message');
      assert.equal(msg.role, 'assistant');
      assert.equal(msg.model, 'mock-model');
      assert.equal(msg.content[0].type, 'text');
      assert.ok(msg.content[0].text.length > 0);
      assert.equal(msg.stop_reason, 'end_turn');
      assert.ok(msg.usage.output_tokens > 0);
    });

    test('messages.stream + finalMessage', async () => {
      const stream = client().messages.stream({
        model: 'mock-model',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Hello mock, stream please' }],
      });
      const deltas = [];
      stream.on('text', (d) => deltas.push(d));
      const msg = await stream.finalMessage();
      assert.ok(deltas.length > 1, 'the mock streams its answer in several deltas');
      assert.equal(msg.content[0].type, 'text');
      assert.equal(msg.content[0].text, deltas.join(''));
      assert.equal(msg.stop_reason, 'end_turn');
      assert.ok(msg.usage.output_tokens > 0);
    });
  });
}
