/**
 * The scripts carried after the executable (runtime/embedded.ts): the layout round-trips, a file
 * without them reads as none, and the built Linux binary carries both.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { appendEmbedded, readEmbedded } from '../../src/runtime/embedded.ts';
import { BINARY } from '../helpers/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'robbie-embedded-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded scripts', () => {
  it('reads back what was appended, after whatever the file held', () => {
    const file = join(dir, 'exe');
    writeFileSync(file, Buffer.alloc(100_000, 0x7f));
    const cli = `module.exports = "cli ünïcödé 😀";\n${'x'.repeat(70_000)}`;
    const cache = Buffer.from([0, 1, 2, 255, 254]);
    appendEmbedded(file, { cli, 'cli-cache': cache, nodemailer: 'module.exports = 2;' });
    const got = readEmbedded(file, 'cli', 'cli-cache', 'nodemailer');
    assert.equal(got.cli?.toString('utf8'), cli);
    assert.deepEqual(got['cli-cache'], cache);
    assert.equal(got.nodemailer?.toString('utf8'), 'module.exports = 2;');
    assert.deepEqual(Object.keys(readEmbedded(file, 'nodemailer')), ['nodemailer']);
  });

  it('finds none in a file that carries none, or whose end was cut off', () => {
    const plain = join(dir, 'plain');
    writeFileSync(plain, 'just an executable');
    assert.deepEqual(readEmbedded(plain, 'cli'), {});
    const cut = join(dir, 'cut');
    writeFileSync(cut, Buffer.alloc(1000));
    appendEmbedded(cut, { cli: 'a', nodemailer: 'b' });
    truncateSync(cut, 1040);
    assert.deepEqual(readEmbedded(cut, 'cli'), {});
  });

  it('the built Linux binary carries the complete CLI, a code cache it accepts, and nodemailer', (t) => {
    if (!existsSync(BINARY)) {
      if (process.env.CI) throw new Error('CI=true: dist/robbie must be built (npm test builds it)');
      t.skip('dist/robbie is not built');
      return;
    }
    const got = readEmbedded(BINARY, 'cli', 'cli-cache', 'nodemailer');
    assert.match(got.cli?.toString('utf8') ?? '', /Universal Input API/);
    assert.ok((got['cli-cache']?.length ?? 0) > 10_000);
    assert.match(got.nodemailer?.toString('utf8') ?? '', /createTransport/);
    // A command of the complete CLI, with ROBBIE_DEBUG: a rejected cache would say so on stderr.
    const run = spawnSync(BINARY, ['version'], {
      encoding: 'utf8',
      env: { ...process.env, ROBBIE_DEBUG: '1' },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /code cache/);
  });
});
