import { readFileSync } from 'node:fs';
import { type Resolved, settingError } from './resolve.ts';

/**
 * The JSON in the file a setting names, and how to refuse one of its entries (exit 78, the
 * setting named); undefined when the setting is unset.
 */
export function settingJsonFile(
  s: Resolved,
  key: 'gatekeeper-patterns' | 'providers-file' | 'prices-file',
): { parsed: unknown; refuse: (problem: string) => Error } | undefined {
  const path = s.values[key];
  if (!path) return undefined;
  const refuse = (problem: string) => settingError(key, s.origins[key], problem);
  try {
    return { parsed: JSON.parse(readFileSync(path, 'utf8')), refuse };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw refuse(`names a file that cannot be read as JSON: ${path}: ${e.code ?? e.message.split('\n')[0]}`);
  }
}
