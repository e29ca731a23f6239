/** The chat completion body's shape in valibot (bench/schemas.ts compares it with robbie's parser). */
import * as v from 'valibot';

const ROLES = ['system', 'user', 'assistant', 'tool', 'developer'] as const;

export const valibotChat = v.looseObject({
  model: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  messages: v.pipe(
    v.array(
      v.looseObject({
        role: v.picklist(ROLES),
        content: v.union([
          v.pipe(v.string(), v.maxLength(100_000)),
          v.null(),
          v.array(v.object({ type: v.literal('text'), text: v.string() })),
        ]),
      }),
    ),
    v.minLength(1),
    v.maxLength(200),
  ),
  stream: v.optional(v.nullable(v.boolean())),
  stream_options: v.optional(v.nullable(v.looseObject({}))),
  n: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(128))),
  temperature: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(2))),
  top_p: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1))),
  max_tokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000))),
  max_completion_tokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000))),
  user: v.optional(v.pipe(v.string(), v.maxLength(255))),
});
