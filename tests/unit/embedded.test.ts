/**
 * The scripts carried after the executable (runtime/embedded.ts): the layout round-trips, a file
 * without them reads as none, and the built Linux binary carries both.
 */
import assert from 'node:assert/strict';
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
    appendEmbedded(file, { cli, nodemailer: 'module.exports = 2;' });
    assert.equal(readEmbedded(file, 'cli'), cli);
    assert.equal(readEmbedded(file, 'nodemailer'), 'module.exports = 2;');
  });

  it('finds none in a file that carries none, or whose end was cut off', () => {
    const plain = join(dir, 'plain');
    writeFileSync(plain, 'just an executable');
    assert.equal(readEmbedded(plain, 'cli'), undefined);
    const cut = join(dir, 'cut');
    writeFileSync(cut, Buffer.alloc(1000));
    appendEmbedded(cut, { cli: 'a', nodemailer: 'b' });
    truncateSync(cut, 1040);
    assert.equal(readEmbedded(cut, 'cli'), undefined);
  });

  it('the built Linux binary carries the complete CLI and nodemailer', (t) => {
    if (!existsSync(BINARY)) {
      if (process.env.CI) throw new Error('CI=true: dist/robbie must be built (npm test builds it)');
      t.skip('dist/robbie is not built');
      return;
    }
    assert.match(readEmbedded(BINARY, 'cli') ?? '', /Universal Input API/);
    assert.match(readEmbedded(BINARY, 'nodemailer') ?? '', /createTransport/);
  });
});
