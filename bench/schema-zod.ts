/** The chat completion body's shape in zod 4 (bench/schemas.ts compares it with robbie's parser). */
import { z } from 'zod';

const ROLES = ['system', 'user', 'assistant', 'tool', 'developer'] as const;

export const zodChat = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z
    .array(
      z.looseObject({
        role: z.enum(ROLES),
        content: z.union([
          z.string().max(100_000),
          z.null(),
          z.array(z.object({ type: z.literal('text'), text: z.string() })),
        ]),
      }),
    )
    .min(1)
    .max(200),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({}).nullable().optional(),
  n: z.number().int().min(1).max(128).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  max_tokens: z.number().int().min(1).max(1_000_000).optional(),
  max_completion_tokens: z.number().int().min(1).max(1_000_000).optional(),
  user: z.string().max(255).optional(),
});
