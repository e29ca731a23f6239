/**
 * The settings table of docs/configuration.md, generated from src/config/settings.ts.
 * `node build/settings-table.ts --write` rewrites it; a test fails when they differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultText } from '../src/cli/args.ts';
import { envName, hasFlag, KEYS, settingOf } from '../src/config/settings.ts';

export const BEGIN =
  '<!-- settings: generated from src/config/settings.ts by `node build/settings-table.ts --write` -->';
export const END = '<!-- settings: end -->';
export const CONFIG_DOC = join(import.meta.dirname, '..', 'docs', 'configuration.md');

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

/** The document with its table replaced by the generated one. */
export function withTable(doc: string): string {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start === -1 || end === -1 || end < start)
    throw new Error(`docs/configuration.md lacks the ${BEGIN} … ${END} markers`);
  return `${doc.slice(0, start + BEGIN.length)}\n${settingsTable()}\n${doc.slice(end)}`;
}

if (process.argv.includes('--write')) {
  writeFileSync(CONFIG_DOC, withTable(readFileSync(CONFIG_DOC, 'utf8')));
  process.stdout.write('docs/configuration.md: settings table written\n');
}
