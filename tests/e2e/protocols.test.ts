/**
 * Every protocol in × every provider out: OpenAI's chat completions and Anthropic's messages (with
 * their official SDKs) and OpenAI's Responses (text), each answered by an OpenAI-compatible, an
 * Ollama and an Anthropic upstream (fakes of each, on one server): a chat, a stream, usage, and a
 * tool call with its result over two turns.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { type FakeModel, startFakeModel } from '../helpers/fake-model.ts';
import { killAll } from '../helpers/process.ts';
import { KEY, type Served, serveWith } from '../helpers/serve.ts';
import { tempHome } from '../helpers/supervisor.ts';

after(killAll);

const PROVIDERS = ['oa', 'ol', 'an'] as const;
const REDACTED = { city: 'Paris', password: '[REDACTED]' };
const schema = { type: 'object', properties: { city: { type: 'string' } } };

describe('every protocol in, every provider out', () => {
  let fake: FakeModel;
  let api: Served;
  let anthropic: Anthropic;
  let dir: { home: string; cleanup: () => void };
  before(async () => {
    fake = await startFakeModel();
    dir = tempHome();
    const file = join(dir.home, 'providers.json');
    writeFileSync(
      file,
      JSON.stringify([
        { name: 'oa', kind: 'openai', url: `${fake.url}/v1`, serves: '*' },
        { name: 'ol', kind: 'ollama', url: fake.url, serves: '*' },
        { name: 'an', kind: 'anthropic', url: fake.url, serves: '*' },
      ]),
    );
    api = await serveWith({
      ROBBIE_PROVIDERS_FILE: file,
      ROBBIE_PROVIDER: 'oa',
      ROBBIE_FALLBACK: 'ol,an',
      ROBBIE_RATE_LIMIT: '1000/1m',
    });
    anthropic = new Anthropic({ apiKey: KEY, baseURL: `http://127.0.0.1:${api.port}`, maxRetries: 0 });
  });
  after(async () => {
    await api.stop();
    await fake.close();
    dir.cleanup();
  });

  for (const p of PROVIDERS) {
    const model = `${p}/m`;

    it(`OpenAI in, ${p} out: a chat with usage, a stream, a tool call (whole and streamed) and its result`, async () => {
      const msg = [{ role: 'user' as const, content: 'hello' }];
      const r = await api.client.chat.completions.create({ model, messages: msg });
      assert.equal(r.choices[0]?.message.content, 'fake answer to: hello');
      assert.deepEqual(r.usage, { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
      let text = '';
      const s = await api.client.chat.completions.create({ model, messages: msg, stream: true });
      for await (const chunk of s) text += chunk.choices[0]?.delta.content ?? '';
      assert.equal(text, 'fake answer to: hello');
      const tools: OpenAI.ChatCompletionTool[] = [
        { type: 'function', function: { name: 'get_weather', parameters: schema } },
      ];
      const called = await api.client.chat.completions.create({ model, messages: msg, tools });
      const call = called.choices[0]?.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), REDACTED);
      let args = '';
      const streamedCall = await api.client.chat.completions.create({
        model,
        messages: msg,
        tools,
        stream: true,
      });
      for await (const chunk of streamedCall)
        for (const c of chunk.choices[0]?.delta.tool_calls ?? []) args += c.function?.arguments ?? '';
      assert.deepEqual(JSON.parse(args), REDACTED);
      const next = await api.client.chat.completions.create({
        model,
        tools,
        messages: [
          ...msg,
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: '18 degrees' },
        ],
      });
      assert.ok(
        next.choices[0]?.message.tool_calls?.length,
        'the fake calls its tool again when tools are offered',
      );
    });

    it(`Anthropic in, ${p} out: a message with usage, a stream, a tool use and its result`, async () => {
      const msg = [{ role: 'user' as const, content: 'hello' }];
      const m = await anthropic.messages.create({ model, max_tokens: 32, messages: msg });
      assert.deepEqual(m.content, [{ type: 'text', text: 'fake answer to: hello' }]);
      assert.deepEqual(m.usage, { input_tokens: 5, output_tokens: 7 });
      const streamed = await anthropic.messages
        .stream({ model, max_tokens: 32, messages: msg })
        .finalMessage();
      assert.deepEqual(streamed.content, [{ type: 'text', text: 'fake answer to: hello' }]);
      const tools = [{ name: 'get_weather', input_schema: schema as Anthropic.Tool.InputSchema }];
      const used = await anthropic.messages.create({ model, max_tokens: 32, messages: msg, tools });
      const use = used.content.find((b) => b.type === 'tool_use');
      assert.ok(use && use.type === 'tool_use');
      assert.deepEqual(use.input, REDACTED);
      assert.equal(used.stop_reason, 'tool_use');
      const next = await anthropic.messages.create({
        model,
        max_tokens: 32,
        tools,
        messages: [
          ...msg,
          { role: 'assistant', content: [use] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18 degrees' }] },
        ],
      });
      assert.equal(next.stop_reason, 'tool_use');
    });

    it(`Responses in, ${p} out: text, whole and streamed, with usage`, async () => {
      const r = await api.client.responses.create({ model, input: 'hello' });
      assert.equal(r.output_text, 'fake answer to: hello');
      assert.equal(r.usage?.total_tokens, 12);
      const final = await api.client.responses.stream({ model, input: 'hello' }).finalResponse();
      assert.equal(final.output_text, 'fake answer to: hello');
    });
  }

  it('images: OpenAI image_url parts and Anthropic image blocks reach each provider as it takes them', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');
    const last = () => fake.calls.at(-1)?.body.messages as Record<string, unknown>[];
    const userOf = (messages: Record<string, unknown>[]) => messages.filter((m) => m.role === 'user').at(-1);
    // OpenAI in: a data: URL and an http(s) URL.
    const parts: OpenAI.ChatCompletionContentPart[] = [
      { type: 'text', text: 'what is in it?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
    ];
    await api.client.chat.completions.create({ model: 'oa/m', messages: [{ role: 'user', content: parts }] });
    assert.deepEqual(userOf(last())?.content, [
      { type: 'text', text: 'what is in it?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
    ]);
    await api.client.chat.completions.create({ model: 'ol/m', messages: [{ role: 'user', content: parts }] });
    assert.deepEqual(userOf(last()), { role: 'user', content: 'what is in it?', images: [png] });
    await api.client.chat.completions.create({ model: 'an/m', messages: [{ role: 'user', content: parts }] });
    assert.deepEqual(userOf(last())?.content, [
      { type: 'text', text: 'what is in it?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
    ]);
    // Anthropic in: base64 and url sources.
    const blocks: Anthropic.ContentBlockParam[] = [
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
      { type: 'text', text: 'and this one?' },
    ];
    await anthropic.messages.create({
      model: 'oa/m',
      max_tokens: 50,
      messages: [{ role: 'user', content: blocks }],
    });
    assert.deepEqual(userOf(last())?.content, [
      { type: 'text', text: 'and this one?' },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
    ]);
    await anthropic.messages.create({
      model: 'an/m',
      max_tokens: 50,
      messages: [{ role: 'user', content: blocks }],
    });
    assert.deepEqual(userOf(last())?.content, [
      { type: 'text', text: 'and this one?' },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
    ]);
    // Ollama fetches no URLs: a 400 naming what it cannot take, and no call.
    const calls = fake.calls.length;
    await assert.rejects(
      anthropic.messages.create({
        model: 'ol/m',
        max_tokens: 50,
        messages: [{ role: 'user', content: blocks }],
      }),
      (e: InstanceType<typeof Anthropic.APIError>) => e.status === 400 && /image URLs/.test(e.message),
    );
    assert.equal(fake.calls.length, calls);
    // A type no provider takes, and an image in an assistant's turn, are the client's 400.
    await assert.rejects(
      api.client.chat.completions.create({
        model: 'oa/m',
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: `data:image/tiff;base64,${png}` } }],
          },
        ],
      }),
      (e: InstanceType<typeof OpenAI.APIError>) =>
        e.status === 400 && /image type must be one of/.test(e.message),
    );
    await assert.rejects(
      anthropic.messages.create({
        model: 'oa/m',
        max_tokens: 50,
        messages: [
          { role: 'user', content: 'hi' },
          {
            role: 'assistant',
            content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } }],
          },
        ],
      }),
      (e: InstanceType<typeof Anthropic.APIError>) =>
        e.status === 400 && /'image' blocks are not taken here/.test(e.message),
    );
  });
});
