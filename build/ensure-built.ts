/**
 * Builds dist/robbie when it is missing or older than the sources (`npm start`), or always with
 * `--rebuild` (`npm test`, so the end-to-end tests exercise the code under test).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const binary = join(root, 'dist/robbie');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

function stale(): boolean {
  if (!existsSync(binary)) return true;
  const built = statSync(binary).mtimeMs;
  const inputs = ['src', 'build', 'systemd', 'launchd'].filter((d) => existsSync(join(root, d)));
  return (
    inputs.some((d) => newestMtime(join(root, d)) > built) ||
    statSync(join(root, 'package-lock.json')).mtimeMs > built
  );
}

if (process.argv.includes('--rebuild') || stale()) {
  execFileSync(process.execPath, [join(root, 'build/build.ts')], { stdio: 'inherit' });
}
