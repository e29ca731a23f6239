/**
 * The body of Anthropic's `POST /v1/messages`, checked field by field and put in the terms every
 * provider already takes (OpenAI's chat messages): the system prompt a system message, `tool_use`
 * blocks an assistant's `tool_calls`, `tool_result` blocks `tool` messages, `tools` functions,
 * `tool_choice` and `stop_sequences` their OpenAI names, image blocks a message's images. What has
 * no such term (thinking, server tools, an unknown field) is refused with a 400 naming it, never
 * dropped.
 */
import type { FieldProblem } from '../errors.ts';
import type { ChatMessage, ImagePart } from '../providers/types.ts';
import { base64Image, isObject, modelField, numberField, type Parsed, urlImage } from '../request-fields.ts';
import { unstorable } from '../universal/request-schema.ts';

export interface MessagesRequest {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  maxTokens: number;
  temperature?: number;
  topP?: number;
  user?: string;
  /** Fields for the provider, in OpenAI's terms (tools, tool_choice, stop, top_k). */
  extra: Record<string, unknown>;
  /** Every text the model reads beyond the messages' content: tool definitions, tool inputs. */
  alsoRead: string[];
}

/** Fields taken (and translated); any other one is refused. */
const FIELDS = new Set([
  'model',
  'messages',
  'system',
  'max_tokens',
  'stream',
  'temperature',
  'top_p',
  'top_k',
  'stop_sequences',
  'tools',
  'tool_choice',
  'metadata',
]);
const MAX_MESSAGES = 200;
const MAX_TOTAL = 400_000;

/** The text of a string or of `[{type: "text", text}]` blocks; undefined (a problem noted) otherwise. */
function textOf(v: unknown, field: string, errors: FieldProblem[]): string | undefined {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) {
    errors.push({ field, reason: 'must be a string or an array of text blocks' });
    return undefined;
  }
  const texts: string[] = [];
  for (const [i, b] of v.entries()) {
    if (!isObject(b) || b.type !== 'text' || typeof b.text !== 'string') {
      errors.push({
        field: `${field}[${i}]`,
        reason: 'only text blocks ({"type": "text", "text": …}) are taken here',
      });
      return undefined;
    }
    texts.push(b.text);
  }
  return texts.join('\n');
}

/** One Anthropic message as chat messages: tool results first (each its own), then the rest. */
function messagesOf(raw: Record<string, unknown>, field: string, errors: FieldProblem[]): ChatMessage[] {
  const role = raw.role;
  if (role !== 'user' && role !== 'assistant') {
    errors.push({ field: `${field}.role`, reason: 'must be user or assistant' });
    return [];
  }
  if (typeof raw.content === 'string') return [{ role, content: raw.content }];
  if (!Array.isArray(raw.content)) {
    errors.push({ field: `${field}.content`, reason: 'must be a string or an array of content blocks' });
    return [];
  }
  const out: ChatMessage[] = [];
  const texts: string[] = [];
  const images: ImagePart[] = [];
  const calls: Record<string, unknown>[] = [];
  for (const [i, b] of raw.content.entries()) {
    const at = `${field}.content[${i}]`;
    if (!isObject(b)) {
      errors.push({ field: at, reason: 'must be a content block' });
      continue;
    }
    if (b.type === 'text' && typeof b.text === 'string') texts.push(b.text);
    else if (b.type === 'image' && role === 'user' && isObject(b.source)) {
      const s = b.source;
      let image: ImagePart | undefined;
      if (s.type === 'base64') image = base64Image(s.media_type, s.data, `${at}.source`, errors);
      else if (s.type === 'url') image = urlImage(s.url, `${at}.source.url`, errors);
      else errors.push({ field: `${at}.source.type`, reason: 'must be base64 or url' });
      if (image) images.push(image);
    } else if (
      b.type === 'tool_use' &&
      role === 'assistant' &&
      typeof b.id === 'string' &&
      typeof b.name === 'string'
    ) {
      calls.push({
        id: b.id,
        type: 'function',
        function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) },
      });
    } else if (b.type === 'tool_result' && role === 'user' && typeof b.tool_use_id === 'string') {
      const content = b.content === undefined ? '' : textOf(b.content, `${at}.content`, errors);
      if (content === undefined) continue;
      out.push({ role: 'tool', content, fields: { tool_call_id: b.tool_use_id } });
    } else {
      errors.push({
        field: `${at}.type`,
        reason: `'${String(b.type)}' blocks are not taken here (text, image in a user's turn, and tool_use / tool_result with their ids, are)`,
      });
    }
  }
  if (calls.length > 0)
    out.push({ role: 'assistant', content: texts.join('\n'), fields: { tool_calls: calls } });
  else if (texts.length > 0 || images.length > 0 || out.length === 0) {
    out.push(
      images.length > 0 ? { role, content: texts.join('\n'), images } : { role, content: texts.join('\n') },
    );
  }
  return out;
}

/** Anthropic's tools as OpenAI functions; a server tool (web search, code execution) has no such term. */
function toolsOf(v: unknown, errors: FieldProblem[]): unknown[] | undefined {
  if (!Array.isArray(v)) {
    errors.push({ field: 'tools', reason: 'must be an array of tools' });
    return undefined;
  }
  return v.flatMap((t, i) => {
    if (
      !isObject(t) ||
      typeof t.name !== 'string' ||
      !isObject(t.input_schema) ||
      (t.type !== undefined && t.type !== 'custom')
    ) {
      errors.push({
        field: `tools[${i}]`,
        reason: 'must be a client tool: {name, description, input_schema}',
      });
      return [];
    }
    const fn: Record<string, unknown> = { name: t.name, parameters: t.input_schema };
    if (typeof t.description === 'string') fn.description = t.description;
    return [{ type: 'function', function: fn }];
  });
}

/** Anthropic's tool_choice in OpenAI's words (tool_choice, parallel_tool_calls). */
function toolChoiceOf(v: unknown, extra: Record<string, unknown>, errors: FieldProblem[]): void {
  if (!isObject(v)) {
    errors.push({ field: 'tool_choice', reason: 'must be an object: {type: auto | any | tool | none}' });
    return;
  }
  if (v.type === 'auto') extra.tool_choice = 'auto';
  else if (v.type === 'any') extra.tool_choice = 'required';
  else if (v.type === 'none') extra.tool_choice = 'none';
  else if (v.type === 'tool' && typeof v.name === 'string')
    extra.tool_choice = { type: 'function', function: { name: v.name } };
  else {
    errors.push({ field: 'tool_choice', reason: 'must be {type: auto | any | none} or {type: tool, name}' });
    return;
  }
  if (v.disable_parallel_tool_use === true) extra.parallel_tool_calls = false;
}

export function parseMessages(body: unknown): Parsed<MessagesRequest> {
  const parsed = parse(body, FIELDS);
  if (!parsed.ok) return parsed;
  if (parsed.value.maxTokens === undefined)
    return { ok: false, errors: [{ field: 'max_tokens', reason: 'is required' }] };
  return { ok: true, value: { ...parsed.value, maxTokens: parsed.value.maxTokens } };
}

/** A request to count a message's tokens: its conversation and tools, nothing that shapes an answer. */
export type TokenCountRequest = Omit<MessagesRequest, 'maxTokens'>;

/** Fields `POST /v1/messages/count_tokens` takes (Anthropic's). */
const COUNT_FIELDS = new Set(['model', 'messages', 'system', 'tools', 'tool_choice']);

/** The body of `POST /v1/messages/count_tokens`. */
export function parseTokenCount(body: unknown): Parsed<TokenCountRequest> {
  return parse(body, COUNT_FIELDS);
}

function parse(
  body: unknown,
  fields: ReadonlySet<string>,
): Parsed<Omit<MessagesRequest, 'maxTokens'> & { maxTokens?: number }> {
  if (!isObject(body)) return { ok: false, errors: [{ field: '(body)', reason: 'must be a JSON object' }] };
  const errors: FieldProblem[] = unstorable(body);
  if (errors.length > 0) return { ok: false, errors };
  for (const key of Object.keys(body)) {
    if (!fields.has(key)) errors.push({ field: key, reason: 'is not taken by this gateway' });
  }
  const model = modelField(body, errors);
  const maxTokens = numberField(body, 'max_tokens', 1, 1_000_000, errors, true);
  const messages: ChatMessage[] = [];
  const alsoRead: string[] = [];
  if (body.system !== undefined) {
    const system = textOf(body.system, 'system', errors);
    if (system) messages.push({ role: 'system', content: system });
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    errors.push({ field: 'messages', reason: 'is required: a non-empty array of messages' });
  } else if (body.messages.length > MAX_MESSAGES) {
    errors.push({ field: 'messages', reason: `must have at most ${MAX_MESSAGES} messages` });
  } else {
    for (const [i, raw] of body.messages.entries()) {
      if (!isObject(raw)) {
        errors.push({ field: `messages[${i}]`, reason: 'must be a message: {role, content}' });
        continue;
      }
      messages.push(...messagesOf(raw, `messages[${i}]`, errors));
    }
    if (messages.reduce((n, m) => n + m.content.length, 0) > MAX_TOTAL)
      errors.push({ field: 'messages', reason: `must hold at most ${MAX_TOTAL} characters in all` });
  }
  for (const m of messages) if (m.fields?.tool_calls) alsoRead.push(JSON.stringify(m.fields.tool_calls));
  if (body.stream !== undefined && typeof body.stream !== 'boolean')
    errors.push({ field: 'stream', reason: 'must be true or false' });
  const temperature = numberField(body, 'temperature', 0, 1, errors);
  const topP = numberField(body, 'top_p', 0, 1, errors);
  const extra: Record<string, unknown> = {};
  const topK = numberField(body, 'top_k', 1, 100_000, errors, true);
  if (topK !== undefined) extra.top_k = topK;
  if (body.stop_sequences !== undefined) {
    const stop = body.stop_sequences;
    if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string' && s !== ''))
      errors.push({ field: 'stop_sequences', reason: 'must be an array of non-empty strings' });
    else if (stop.length > 0) extra.stop = stop;
  }
  if (body.tools !== undefined) {
    const tools = toolsOf(body.tools, errors);
    if (tools && tools.length > 0) {
      extra.tools = tools;
      alsoRead.push(JSON.stringify(tools));
    }
  }
  if (body.tool_choice !== undefined) toolChoiceOf(body.tool_choice, extra, errors);
  let user: string | undefined;
  if (body.metadata !== undefined) {
    const id = isObject(body.metadata) ? body.metadata.user_id : undefined;
    if (
      !isObject(body.metadata) ||
      (id !== undefined && id !== null && (typeof id !== 'string' || id.length > 255))
    )
      errors.push({ field: 'metadata', reason: 'must be {user_id}: a string of at most 255 characters' });
    else if (typeof id === 'string' && id !== '') user = id;
  }
  if (errors.length > 0) return { ok: false, errors };
  const value: Omit<MessagesRequest, 'maxTokens'> & { maxTokens?: number } = {
    model,
    messages,
    stream: body.stream === true,
    extra,
    alsoRead,
  };
  if (maxTokens !== undefined) value.maxTokens = maxTokens;
  if (temperature !== undefined) value.temperature = temperature;
  if (topP !== undefined) value.topP = topP;
  if (user !== undefined) value.user = user;
  return { ok: true, value };
}
