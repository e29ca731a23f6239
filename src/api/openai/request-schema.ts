/**
 * The bodies of POST /v1/chat/completions and /v1/embeddings, as OpenAI's API takes them, checked
 * field by field (every problem reported, every string capped). Fields robbie does not act on
 * (tools, tool_choice, response_format, seed, stop, …) go to the provider as sent, and so do the
 * messages' own fields (tool_calls, tool_call_id); what robbie cannot honour (`n` above 1, token
 * arrays as embedding input) is refused with a reason.
 */
import type { FieldProblem } from '../errors.ts';
import type { ChatMessage, ImagePart } from '../providers/types.ts';
import { isObject, modelField, numberField, type Parsed, urlImage } from '../request-fields.ts';
import { unstorable } from '../universal/request-schema.ts';

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  user?: string;
  /** Every other field, for the provider. */
  extra: Record<string, unknown>;
  /** Every text the model will read beyond the messages' content: tool definitions, tool-call arguments. */
  alsoRead: string[];
}

/** The fields robbie acts on itself; every other one goes to the provider. */
const OWN_FIELDS = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'n',
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'user',
]);

export interface EmbeddingRequest {
  model: string;
  /** One or more texts, each embedded on its own. */
  input: string[];
  encoding: 'float' | 'base64';
  user?: string;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'developer']);
const MAX_MESSAGES = 200;
const MAX_TEXT = 100_000;
const MAX_TOTAL = 400_000;
const MAX_INPUTS = 2048;

function user(body: Record<string, unknown>, errors: FieldProblem[]): string | undefined {
  const u = body.user;
  if (u === undefined || u === null) return undefined;
  if (typeof u !== 'string' || u.length > 255) {
    errors.push({ field: 'user', reason: 'must be a string of at most 255 characters' });
    return undefined;
  }
  return u === '' ? undefined : u;
}

/**
 * A message's content: a string, or parts — text (joined) and, in a user's message, images
 * (`{"type": "image_url", "image_url": {"url": …}}`, a base64 data: URL or an http(s) one).
 */
function content(
  v: unknown,
  field: string,
  images: boolean,
  errors: FieldProblem[],
): { text: string; images: ImagePart[] } | undefined {
  if (typeof v === 'string') return { text: v, images: [] };
  if (v === null || v === undefined) return { text: '', images: [] };
  if (Array.isArray(v)) {
    const texts: string[] = [];
    const shown: ImagePart[] = [];
    for (const [i, part] of v.entries()) {
      if (isObject(part) && part.type === 'text' && typeof part.text === 'string') {
        texts.push(part.text);
        continue;
      }
      if (images && isObject(part) && part.type === 'image_url' && isObject(part.image_url)) {
        const image = urlImage(part.image_url.url, `${field}[${i}].image_url.url`, errors);
        if (!image) return undefined;
        shown.push(image);
        continue;
      }
      errors.push({
        field: `${field}[${i}]`,
        reason: images
          ? 'only text and image_url parts are accepted'
          : 'only text parts ({"type": "text", "text": …}) are accepted here',
      });
      return undefined;
    }
    return { text: texts.join('\n'), images: shown };
  }
  errors.push({ field, reason: 'must be a string or an array of content parts' });
  return undefined;
}

export function parseChatCompletion(body: unknown): Parsed<ChatCompletionRequest> {
  if (!isObject(body)) return { ok: false, errors: [{ field: '(body)', reason: 'must be a JSON object' }] };
  const errors: FieldProblem[] = unstorable(body);
  if (errors.length > 0) return { ok: false, errors };
  const m = modelField(body, errors);
  const messages: ChatMessage[] = [];
  const alsoRead: string[] = [];
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    errors.push({ field: 'messages', reason: 'is required: a non-empty array of messages' });
  } else if (body.messages.length > MAX_MESSAGES) {
    errors.push({ field: 'messages', reason: `must have at most ${MAX_MESSAGES} messages` });
  } else {
    let total = 0;
    for (const [i, raw] of body.messages.entries()) {
      const field = `messages[${i}]`;
      if (!isObject(raw) || typeof raw.role !== 'string' || !ROLES.has(raw.role)) {
        errors.push({ field: `${field}.role`, reason: `must be one of ${[...ROLES].join(', ')}` });
        continue;
      }
      const parts = content(raw.content, `${field}.content`, raw.role === 'user', errors);
      if (parts === undefined) continue;
      const text = parts.text;
      if (text.length > MAX_TEXT)
        errors.push({ field: `${field}.content`, reason: `must be at most ${MAX_TEXT} characters` });
      total += text.length;
      const { role: _role, content: _content, ...fields } = raw;
      const message: ChatMessage = { role: raw.role as ChatMessage['role'], content: text };
      if (parts.images.length > 0) message.images = parts.images;
      if (Object.keys(fields).length > 0) {
        message.fields = fields;
        // Tool-call arguments are text the model reads again.
        if (fields.tool_calls !== undefined) alsoRead.push(JSON.stringify(fields.tool_calls));
      }
      messages.push(message);
    }
    if (total > MAX_TOTAL)
      errors.push({ field: 'messages', reason: `must hold at most ${MAX_TOTAL} characters in all` });
    if (messages.length > 0 && !messages.some((x) => x.role === 'user')) {
      errors.push({ field: 'messages', reason: 'must include a user message' });
    }
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    errors.push({ field: 'stream', reason: 'must be true or false' });
  }
  const options = body.stream_options;
  if (options !== undefined && options !== null && !isObject(options)) {
    errors.push({ field: 'stream_options', reason: 'must be an object' });
  }
  const n = numberField(body, 'n', 1, 128, errors, true);
  if (n !== undefined && n > 1) errors.push({ field: 'n', reason: 'only 1 choice per request is served' });
  const temperature = numberField(body, 'temperature', 0, 2, errors);
  const topP = numberField(body, 'top_p', 0, 1, errors);
  const maxTokens =
    numberField(body, 'max_completion_tokens', 1, 1_000_000, errors, true) ??
    numberField(body, 'max_tokens', 1, 1_000_000, errors, true);
  const u = user(body, errors);
  if (errors.length > 0) return { ok: false, errors };
  const extra = Object.fromEntries(Object.entries(body).filter(([k]) => !OWN_FIELDS.has(k)));
  // Tool definitions (names, descriptions, schemas) are text the model reads.
  if (extra.tools !== undefined) alsoRead.push(JSON.stringify(extra.tools));
  const value: ChatCompletionRequest = {
    model: m,
    messages,
    stream: body.stream === true,
    includeUsage: isObject(options) && options.include_usage === true,
    extra,
    alsoRead,
  };
  if (temperature !== undefined) value.temperature = temperature;
  if (topP !== undefined) value.topP = topP;
  if (maxTokens !== undefined) value.maxTokens = maxTokens;
  if (u !== undefined) value.user = u;
  return { ok: true, value };
}

export function parseEmbedding(body: unknown): Parsed<EmbeddingRequest> {
  if (!isObject(body)) return { ok: false, errors: [{ field: '(body)', reason: 'must be a JSON object' }] };
  const errors: FieldProblem[] = unstorable(body);
  if (errors.length > 0) return { ok: false, errors };
  const m = modelField(body, errors);
  const input: string[] = [];
  const raw = body.input;
  const items = Array.isArray(raw) ? raw : [raw];
  if (Array.isArray(raw) && (raw.length === 0 || raw.length > MAX_INPUTS)) {
    errors.push({ field: 'input', reason: `must hold 1 to ${MAX_INPUTS} inputs` });
  } else {
    let total = 0;
    for (const [i, item] of items.entries()) {
      const field = Array.isArray(raw) ? `input[${i}]` : 'input';
      if (typeof item !== 'string' || item === '') {
        // Token arrays are a model's own encoding: robbie reviews and records text.
        errors.push({ field, reason: 'must be a non-empty string (token arrays are not taken)' });
      } else if (item.length > MAX_TEXT) {
        errors.push({ field, reason: `must be at most ${MAX_TEXT} characters` });
      } else {
        total += item.length;
        input.push(item);
      }
    }
    if (total > MAX_TOTAL)
      errors.push({ field: 'input', reason: `must hold at most ${MAX_TOTAL} characters in all` });
  }
  const encoding = body.encoding_format ?? 'float';
  if (encoding !== 'float' && encoding !== 'base64') {
    errors.push({ field: 'encoding_format', reason: 'must be float or base64' });
  }
  if (body.dimensions !== undefined && body.dimensions !== null) {
    errors.push({ field: 'dimensions', reason: "is not supported: the model's own dimensions are served" });
  }
  const u = user(body, errors);
  if (errors.length > 0) return { ok: false, errors };
  const value: EmbeddingRequest = {
    model: m,
    input,
    encoding: encoding as 'float' | 'base64',
  };
  if (u !== undefined) value.user = u;
  return { ok: true, value };
}
