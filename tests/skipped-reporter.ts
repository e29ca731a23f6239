/**
 * A test reporter beside `spec` that counts what was skipped — whole suites too, which the runner's
 * own summary leaves out of its "skipped" — and says why, and which Debian packages would run them.
 */
import type { TestEvent } from 'node:test/reporters';

interface Skipped {
  name: string;
  suite: boolean;
  why: string;
}

export default async function* skippedReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const skipped: Skipped[] = [];
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { skip, name, details } = event.data;
    if (skip === undefined || skip === false) continue;
    skipped.push({
      name,
      suite: details.type === 'suite',
      why: typeof skip === 'string' ? skip.replace(/^skipped: /, '') : 'skipped',
    });
  }
  const suites = skipped.filter((s) => s.suite).length;
  const tests = skipped.length - suites;
  const counted = `ℹ skipped: ${suites} suite${suites === 1 ? '' : 's'}, ${tests} test${tests === 1 ? '' : 's'}`;
  if (skipped.length === 0) {
    yield `${counted}\n`;
    return;
  }
  // One line: what, why, and the packages that would run it.
  const install = /\s*\(?apt-get install ([\w.+ -]+)\)?/;
  const packages = new Set(skipped.flatMap((s) => install.exec(s.why)?.[1]?.trim().split(/\s+/) ?? []));
  const what = skipped.map((s) => `${s.name} (${s.why.replace(install, '')})`).join('; ');
  const fix = packages.size > 0 ? ` — apt-get install ${[...packages].sort().join(' ')} would run them` : '';
  yield `${counted}: ${what}${fix}\n`;
}
