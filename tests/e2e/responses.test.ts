/**
 * OpenAI's Responses API for text with the official `openai` SDK: `client.responses.create` whole
 * and streamed (the SDK's own stream helper puts the events together), instructions and message
 * input, what is not served refused naming the field, the pipeline on the path.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import OpenAI from 'openai';
import { killAll } from '../helpers/process.ts';
import { errorOf, servedWithFake } from '../helpers/serve.ts';

after(killAll);

describe('the Responses API with the official SDK', () => {
  const s = servedWithFake((fake) => ({ OLLAMA_URL: fake.url, ROBBIE_RATE_LIMIT: '1000/1m' }));

  it('answers text: instructions a system message, the output text and usage back', async () => {
    const r = await s.api.client.responses.create({
      model: 'chat',
      instructions: 'Be brief.',
      input: 'hello there',
      max_output_tokens: 50,
      metadata: { ticket: '42' },
    });
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, 'fake answer to: hello there');
    assert.deepEqual(r.metadata, { ticket: '42' });
    assert.equal(r.usage?.input_tokens, 5);
    assert.equal(r.usage?.output_tokens, 7);
    const sent = s.fake.calls.at(-1)?.body as { messages: unknown; options: { num_predict: unknown } };
    assert.deepEqual(sent.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hello there' },
    ]);
    assert.equal(sent.options.num_predict, 50);
    const row = s.api.rows(
      `select source, http_status from ai_request_logs where request_id = '${r.id.slice(5)}'`,
    )[0];
    assert.deepEqual({ ...row }, { source: 'openai', http_status: 200 });
  });

  it('streams: the SDK puts the events together into the same response', async () => {
    const stream = s.api.client.responses.stream({
      model: 'chat',
      input: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: [{ type: 'input_text', text: 'one two three' }] },
      ],
    });
    let text = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
    const final = await stream.finalResponse();
    assert.equal(text, 'fake answer to: one two three');
    assert.equal(final.output_text, 'fake answer to: one two three');
    assert.equal(final.status, 'completed');
  });

  it('refuses what it does not serve, naming the field', async () => {
    const tools = await errorOf(
      s.api.client.responses.create({
        model: 'chat',
        input: 'hi',
        tools: [{ type: 'function', name: 'f', parameters: {}, strict: false }],
      }),
    );
    assert.ok(tools instanceof OpenAI.BadRequestError);
    assert.equal(tools.param, 'tools');
    const previous = await errorOf(
      s.api.client.responses.create({ model: 'chat', input: 'hi', previous_response_id: 'resp_1' }),
    );
    assert.equal(previous.param, 'previous_response_id');
    const unknown = await errorOf(s.api.client.responses.create({ model: 'nope', input: 'hi' }));
    assert.ok(unknown instanceof OpenAI.NotFoundError);
  });
});
