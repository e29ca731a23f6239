/** The flags of every command, derived from the settings table (config/settings.ts). */
import type { ArgDef, ArgsDef } from 'citty';
import { envName, hasFlag, KEYS, type Key, keysOf, type Setting, settingOf } from '../config/settings.ts';

/** How the help and the README show a setting's default. */
export function defaultText(key: Key): string {
  const s = settingOf(key) as Setting<unknown>;
  if (s.defaultText) return s.defaultText;
  if (s.default === undefined) return '—';
  return `\`${s.codec.format(s.default)}\``;
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function argOf(key: Key): ArgDef {
  const s = settingOf(key);
  const shown = defaultText(key).replace(/`/g, '');
  const description = `${sentence(s.help)} [env ${envName(key)}${shown === '—' ? '' : `, default ${shown}`}]`;
  if (s.kind === 'bool')
    return s.default === true
      ? { type: 'boolean', description, negativeDescription: `Turn off: ${s.help}` }
      : { type: 'boolean', description };
  return { type: 'string', description, valueHint: s.codec.hint };
}

/** citty argument definitions for these settings (those that have a flag). */
export function settingArgs(keys: readonly Key[]): ArgsDef {
  const out: ArgsDef = {};
  for (const key of keys) if (hasFlag(key)) out[key] = argOf(key);
  return out;
}

/** Where the service keeps its state and settings: every command that talks to or about it. */
export const pathArgs = settingArgs(keysOf('paths'));

/** `serve`: what the API process needs. */
export const serveArgs = settingArgs(keysOf('paths', 'serve', 'process'));

/** `supervise`, `start`, `restart`, `config`: every setting. */
export const superviseArgs = settingArgs(KEYS);
