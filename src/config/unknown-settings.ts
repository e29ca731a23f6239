/** "Did you mean": the `ROBBIE_*` variables that are no setting, and the closest name to a misspelling. */
import { where } from './resolve.ts';
import { envName, INTERNAL_ENV, KEYS } from './settings.ts';
import { type Source, variablesOf } from './sources.ts';

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j] as number;
      row[j] = Math.min(here + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return row[b.length] as number;
}

/** The known name closest to `name`, when it is close enough to be a likely misspelling. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestDistance || (d === bestDistance && best && k.length < best.length)) {
      best = k;
      bestDistance = d;
    }
  }
  // A shared prefix also counts: ROBBIE_STANDBY_SPARE is ROBBIE_STANDBY with a word too many.
  const prefixed = known.filter((k) => name.startsWith(`${k}_`)).sort((x, y) => y.length - x.length)[0];
  if (prefixed) return prefixed;
  return best && bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

/** One warning per `ROBBIE_*` variable of the sources that is no setting, naming the closest known one. */
export function unknownSettings(sources: readonly Source[]): string[] {
  const known = KEYS.map(envName);
  const internal: readonly string[] = INTERNAL_ENV;
  const warnings: string[] = [];
  const variables = variablesOf(sources);
  for (const name of [...variables.keys()].sort()) {
    const found = variables.get(name);
    if (!found || !name.startsWith('ROBBIE_') || known.includes(name) || internal.includes(name)) continue;
    // ROBBIE_PORT, ROBBIE_DATABASE_URL: a conventional name with the prefix added, perhaps misspelt
    // as well (ROBBIE_PORTT).
    const bare = name.slice('ROBBIE_'.length);
    const guess = known.includes(bare) ? bare : (closest(name, known) ?? closest(bare, known));
    warnings.push(
      `unknown setting ${name} (${where(found.origin)}) is ignored${guess ? `; did you mean ${guess}?` : ''} (robbie config lists them all)`,
    );
  }
  return warnings;
}
