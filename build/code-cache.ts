/**
 * `node build/code-cache.ts BUNDLE OUT`: writes V8's code cache for an embedded bundle. Run by the
 * Node the executable carries (build.ts sees to it): a cache from another V8 would be rejected.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { codeCacheFor } from '../src/runtime/embedded.ts';

const [bundle, out] = process.argv.slice(2);
if (!bundle || !out) {
  process.stderr.write('usage: node build/code-cache.ts BUNDLE OUT\n');
  process.exit(2);
}
writeFileSync(out, codeCacheFor(readFileSync(bundle, 'utf8')));
