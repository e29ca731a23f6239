/**
 * Request schemas by hand or by a library: the body of a typical `/v1/chat/completions` (three
 * messages, a tool, sampling fields) checked by robbie's own parser and by the same shape written
 * in valibot and zod, in this process: µs per validation (median of 7 rounds of 20,000), and what
 * each library adds to a minified bundle (esbuild). The libraries' schemas check the shape only; robbie's
 * parser also refuses what no store can hold (U+0000, lone surrogates, depth), caps the total text,
 * requires a user message and builds the providers' request — so the comparison flatters them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as v from 'valibot';
import { parseChatCompletion } from '../src/api/openai/request-schema.ts';
import { unstorable } from '../src/api/universal/request-schema.ts';
import { median, type Row } from './lib.ts';
import { valibotChat } from './schema-valibot.ts';
import { zodChat } from './schema-zod.ts';

const BODY = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a helpful assistant. Answer briefly.' },
    { role: 'user', content: 'What is the weather in Paris today, and should I take an umbrella?' },
    { role: 'assistant', content: 'Let me look that up for you.' },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'The weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ],
  temperature: 0.3,
  max_tokens: 256,
  stream: false,
};

function microseconds(check: () => boolean): { median: number; runs: number[] } {
  const runs: number[] = [];
  for (let round = 0; round < 8; round++) {
    const started = performance.now();
    for (let i = 0; i < 20_000; i++) if (!check()) throw new Error('the body was refused');
    runs.push(((performance.now() - started) * 1000) / 20_000);
  }
  const warm = runs.slice(1);
  return { median: median(warm), runs: warm };
}

/** Bytes a minified bundle of `source` (in bench/) takes. */
function bundled(dir: string, name: string, source: string): number {
  const entry = join(dir, `${name}.ts`);
  writeFileSync(entry, source);
  const out = join(dir, `${name}.js`);
  execFileSync(
    resolve(import.meta.dirname, '..', 'node_modules/.bin/esbuild'),
    [
      entry,
      '--bundle',
      '--minify',
      '--format=esm',
      '--platform=node',
      `--outfile=${out}`,
      '--log-level=error',
    ],
    { cwd: resolve(import.meta.dirname, '..') },
  );
  return statSync(out).size;
}

export async function benchSchemas(): Promise<Row[]> {
  const hand = microseconds(() => parseChatCompletion(BODY).ok);
  const valibot = microseconds(() => v.safeParse(valibotChat, BODY).success);
  const zod = microseconds(() => zodChat.safeParse(BODY).success);
  const scan = microseconds(() => unstorable(BODY).length === 0);
  const dir = mkdtempSync(join(resolve(import.meta.dirname), '.schemas-'));
  const here = resolve(import.meta.dirname);
  try {
    const sizes = {
      hand: bundled(
        dir,
        'hand',
        `export { parseChatCompletion } from '${here}/../src/api/openai/request-schema.ts';`,
      ),
      valibot: bundled(dir, 'valibot', `export { valibotChat } from '${here}/schema-valibot.ts';`),
      zod: bundled(dir, 'zod', `export { zodChat } from '${here}/schema-zod.ts';`),
    };
    const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
    const row = (name: string, r: { median: number; runs: number[] }, size: string, note: string): Row => ({
      scenario: `a typical chat completion body, ${name}`,
      metric: 'µs per validation (median of 7)',
      value: r.median.toFixed(2),
      note: `${note}; ${size}; rounds ${r.runs.map((x) => x.toFixed(2)).join(', ')}`,
    });
    return [
      row(
        "robbie's own parser (request-schema.ts)",
        hand,
        'no library',
        'the shape, U+0000 and depth, the totals, the provider request built',
      ),
      row('valibot', valibot, `${kb(sizes.valibot)} minified with its schema`, 'the shape only'),
      row('zod 4', zod, `${kb(sizes.zod)} minified with its schema`, 'the shape only'),
      {
        scenario: "a typical chat completion body, robbie's scan for what no store can hold alone",
        metric: 'µs per validation (median of 7)',
        value: scan.median.toFixed(2),
        note: `U+0000, lone surrogates and depth in every string and key: a part of robbie's parser that the libraries' schemas do not do; rounds ${scan.runs.map((x) => x.toFixed(2)).join(', ')}`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
