/**
 * Compiles src/supervisor/output/frame-lines.wat into frame-lines-wasm.ts (the module's bytes, in
 * base64, so `src/` runs unbuilt under Node and Deno and the binary needs no asset).
 * `node build/frame-lines.ts --write` renews it; a static test fails when they differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import wabt from 'wabt';

const DIR = join(import.meta.dirname, '..', 'src', 'supervisor', 'output');
export const WAT = join(DIR, 'frame-lines.wat');
export const GENERATED = join(DIR, 'frame-lines-wasm.ts');

export async function generated(): Promise<string> {
  const tools = await wabt();
  const module = tools.parseWat('frame-lines.wat', readFileSync(WAT, 'utf8'), {
    simd: true,
    bulk_memory: true,
  });
  module.validate();
  const { buffer } = module.toBinary({});
  module.destroy();
  return [
    '// Generated from frame-lines.wat by `node build/frame-lines.ts --write`; do not edit.',
    // (in the layout biome formats it to)
    'export const FRAME_LINES_WASM =',
    `  '${Buffer.from(buffer).toString('base64')}';`,
    '',
  ].join('\n');
}

if (process.argv.includes('--write')) {
  writeFileSync(GENERATED, await generated());
  process.stdout.write('src/supervisor/output/frame-lines-wasm.ts written\n');
}
