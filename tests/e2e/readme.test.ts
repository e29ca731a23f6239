/**
 * The README's examples that can run on one machine, run as written: the quick start's request,
 * the providers file, the commands' flags.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { killAll, ROOT, runRobbie } from '../helpers/process.ts';
import { serveInTempHome } from '../helpers/supervisor.ts';

after(killAll);

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The README's fenced blocks of one language. */
function blocks(lang: string): string[] {
  return [...README.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1] ?? '');
}

describe("the README's examples", () => {
  it("the quick start's request is answered by the echo provider", async () => {
    const curl = blocks('sh').find((b) => b.includes('/api/v2/universal/request'));
    const body = curl ? /-d '([^']+)'/.exec(curl)?.[1] : undefined;
    assert.ok(body, 'the quick start has a curl with a body');
    const api = await serveInTempHome({ ROBBIE_PROVIDER: 'echo' });
    try {
      const r = await fetch(`http://127.0.0.1:${api.port}/api/v2/universal/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      assert.equal(r.status, 200);
      const answer = (await r.json()) as { status: string; robbie_response: { message: string } };
      assert.equal(answer.status, 'approved');
      assert.match(answer.robbie_response.message, /hello/);
    } finally {
      await api.stop();
    }
  });

  it('the providers file is taken as written, with the environment its command line gives', async () => {
    const sh = blocks('sh').find((b) => b.includes('providers.json'));
    const json = sh ? /<<'EOF'\n([\s\S]*?)\nEOF/.exec(sh)?.[1] : undefined;
    const command = sh?.split('\n').find((l) => l.startsWith('ROBBIE_PROVIDERS_FILE='));
    assert.ok(json && command, 'the README has the providers file and the command that uses it');
    const dir = mkdtempSync(join(tmpdir(), 'robbie-readme-'));
    try {
      const file = join(dir, 'providers.json');
      writeFileSync(file, json);
      const env: Record<string, string> = { GROQ_API_KEY: 'gsk-readme-example-0000', ROBBIE_HOME: dir };
      for (const [, name, value] of command.matchAll(/(\w+)=(\S+)/g)) if (name && value) env[name] = value;
      env.ROBBIE_PROVIDERS_FILE = file;
      const r = await runRobbie(['config', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const c = JSON.parse(r.stdout) as { settings: Record<string, { value: unknown }> };
      assert.equal(c.settings.provider?.value, 'groq');
      assert.deepEqual(c.settings.fallback?.value, ['gpu-box']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every robbie command line of the Run section is one the CLI takes (--help)', async () => {
    const run = blocks('sh').find((b) => b.includes('robbie supervise') && b.includes('robbie reload'));
    assert.ok(run, 'the Run section has its commands');
    const commands = new Set(
      run
        .split('\n')
        .map((l) => /^robbie (\w+)/.exec(l)?.[1])
        .filter((c): c is string => c !== undefined),
    );
    assert.ok(commands.size >= 8, [...commands].join(' '));
    for (const cmd of commands) {
      const r = await runRobbie([cmd, '--help']);
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    }
  });
});
