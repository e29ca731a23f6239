/**
 * The README's configuration table, generated from the settings table (src/config/settings.ts).
 * `node build/readme-settings.ts --write` rewrites it in README.md; a test fails when they differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultText } from '../src/cli/args.ts';
import { envName, hasFlag, KEYS, settingOf } from '../src/config/settings.ts';

export const BEGIN =
  '<!-- settings: generated from src/config/settings.ts by `node build/readme-settings.ts --write` -->';
export const END = '<!-- settings: end -->';
export const README = join(import.meta.dirname, '..', 'README.md');

export function settingsTable(): string {
  const rows = KEYS.map((key) => {
    const s = settingOf(key);
    const flag = !hasFlag(key)
      ? '—'
      : s.kind === 'bool' && s.default === true
        ? `\`--${key}\` / \`--no-${key}\``
        : `\`--${key}\``;
    const secret = s.secret ? ' (secret: never shown)' : '';
    const choices =
      s.kind === 'enum'
        ? `: ${s.codec.hint
            .split('|')
            .map((c) => `\`${c}\``)
            .join(', ')}`
        : '';
    return `| \`${envName(key)}\` | ${flag} | ${defaultText(key)} | ${s.help}${choices}${secret} |`;
  });
  return ['| variable | flag | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** The README with its table replaced by the generated one. */
export function readmeWithTable(readme: string): string {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start === -1 || end === -1 || end < start)
    throw new Error(`README.md lacks the ${BEGIN} … ${END} markers`);
  return `${readme.slice(0, start + BEGIN.length)}\n${settingsTable()}\n${readme.slice(end)}`;
}

if (process.argv.includes('--write')) {
  writeFileSync(README, readmeWithTable(readFileSync(README, 'utf8')));
  process.stdout.write('README.md: settings table written\n');
}
