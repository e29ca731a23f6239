import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration, parseSize } from '../../src/config/units.ts';

describe('durations and sizes', () => {
  it('parses durations; a bare number is seconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('90d'), 90 * 86_400_000);
    assert.equal(parseDuration('2'), 2000);
    assert.equal(parseDuration('1.5s'), 1500);
    for (const bad of ['', 'soon', '10x', '-1s', 's']) assert.equal(parseDuration(bad), undefined, bad);
  });

  it('parses sizes; a bare number is bytes', () => {
    assert.equal(parseSize('512KiB'), 512 * 1024);
    assert.equal(parseSize('10MiB'), 10 * 1024 ** 2);
    assert.equal(parseSize('1GiB'), 1024 ** 3);
    assert.equal(parseSize('10M'), 10 * 1024 ** 2);
    assert.equal(parseSize('64k'), 64 * 1024);
    assert.equal(parseSize('100'), 100);
    for (const bad of ['', 'big', '10XB', '-5']) assert.equal(parseSize(bad), undefined, bad);
  });

  it('formats durations for messages', () => {
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(1500), '1.5s');
    assert.equal(formatDuration(90_000), '1.5m');
  });
});
