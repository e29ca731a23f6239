import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { follow } from '../../src/cli/logs/follow.ts';
import { logFiles, openCurrent, positionOf } from '../../src/cli/logs/reader.ts';

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'robbie-logs-'));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `follow` on `path` until `until` holds (at most 5 s), doing `act` once it is attached. */
async function followWhile(
  path: string,
  act: () => void,
  until: (lines: string[]) => boolean,
): Promise<{ lines: string[]; warnings: string[] }> {
  const lines: string[] = [];
  const warnings: string[] = [];
  const start = openCurrent(path);
  const ac = new AbortController();
  const done = follow(
    path,
    (l) => lines.push(l),
    (w) => warnings.push(w),
    ac.signal,
    start,
    10,
  );
  await sleep(30);
  act();
  for (let i = 0; i < 500 && !until(lines); i++) await sleep(10);
  ac.abort();
  await done;
  return { lines, warnings };
}

describe('reading the log files back', () => {
  it('names each file by its place; lists a file being compressed once', () => {
    assert.deepEqual(positionOf('robbie.log', 'robbie.log'), { index: 0, gz: false });
    assert.deepEqual(positionOf('robbie.log.12', 'robbie.log'), { index: 12, gz: false });
    assert.deepEqual(positionOf('robbie.log.3.gz', 'robbie.log'), { index: 3, gz: true });
    for (const other of [
      'robbie.logx',
      'robbie.log.',
      'robbie.log.1.gz.tmp',
      '.robbie.log.4.gz.tmp',
      'robbie.log.a',
    ])
      assert.equal(positionOf(other, 'robbie.log'), undefined, other);
    using t = tempDir();
    for (const f of [
      'robbie.log',
      'robbie.log.1',
      'robbie.log.2',
      'robbie.log.2.gz',
      'robbie.log.10.gz',
      'x',
    ])
      writeFileSync(join(t.dir, f), '');
    assert.deepEqual(
      logFiles(t.dir, 'robbie.log').map((f) => basename(f)),
      ['robbie.log.10.gz', 'robbie.log.2', 'robbie.log.1', 'robbie.log'],
    );
  });

  it('leaves a line still being written to the follower, which prints it once whole', async () => {
    using t = tempDir();
    const path = join(t.dir, 'robbie.log');
    writeFileSync(path, 'one\ntwo\nthr');
    const current = openCurrent(path);
    assert.ok(current);
    assert.equal(current.text, 'one\ntwo\n');
    assert.equal(current.size, 8);
    const { lines } = await followWhile(
      path,
      () => appendFileSync(path, 'ee\nfour\n'),
      (l) => l.length >= 2,
    );
    assert.deepEqual(lines, ['three', 'four']);
  });

  it('keeps a character whole when a read ends inside it', async () => {
    using t = tempDir();
    const path = join(t.dir, 'robbie.log');
    writeFileSync(path, '');
    // The follower reads 256 KiB at a time: the 3-byte '€' straddles the first boundary.
    const line = `${'a'.repeat(256 * 1024 - 1)}€b`;
    const { lines } = await followWhile(
      path,
      () => appendFileSync(path, `${line}\n`),
      (l) => l.length >= 1,
    );
    assert.equal(lines.length, 1);
    assert.equal(lines[0], line);
  });

  it('after several rotations reads every file it missed, gzipped or not, once, in order', async () => {
    using t = tempDir();
    const path = join(t.dir, 'robbie.log');
    writeFileSync(path, 'a1\n');
    const { lines, warnings } = await followWhile(
      path,
      () => {
        // Three rotations between two polls, the oldest already compressed, and a new current.
        appendFileSync(path, 'a2\n');
        renameSync(path, `${path}.3`);
        writeFileSync(`${path}.3.gz`, gzipSync('a1\na2\n'));
        rmSync(`${path}.3`);
        writeFileSync(`${path}.2.gz`, gzipSync('b1\nb2\n'));
        writeFileSync(`${path}.1`, 'c1\n');
        writeFileSync(path, 'd1\nd2');
        appendFileSync(path, '\n');
      },
      (l) => l.includes('d2'),
    );
    assert.deepEqual(lines, ['a2', 'b1', 'b2', 'c1', 'd1', 'd2']);
    assert.deepEqual(warnings, []);
  });
});
