import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveSettings } from '../../src/config/resolve.ts';
import { registerSettingSecrets } from '../../src/config/secrets.ts';
import { fromEnv } from '../../src/config/sources.ts';
import { redact, redactDeep, registerSecret } from '../../src/logger/redact.ts';

describe('redaction', () => {
  it('masks passwords in connection URLs', () => {
    assert.equal(
      redact('connect failed: postgres://robbie:s3cr%40t@db.internal:5432/robbie'),
      'connect failed: postgres://robbie:***@db.internal:5432/robbie',
    );
    assert.equal(redact('http://example.test/path'), 'http://example.test/path');
  });

  it('masks bearer tokens and key assignments', () => {
    assert.equal(redact('Authorization: Bearer abc.def-ghi'), 'Authorization: Bearer ***');
    assert.equal(redact('api_key=sk-123456 password: hunter2'), 'api_key=*** password: ***');
    assert.equal(redact('the monkey ate a token'), 'the monkey ate a token');
  });

  it('masks registered secret values anywhere', () => {
    registerSecret('key-abcdef-123');
    assert.equal(redact('got header key-abcdef-123 from client'), 'got header *** from client');
    registerSettingSecrets(
      resolveSettings([
        fromEnv({
          DATABASE_URL: 'postgres://u:pw-zyx987@h/db',
          ROBBIE_API_KEYS: 'k-one-1, k-two-2',
          ROBBIE_SMTP_URL: 'smtp://mailer:smtp-pw-42@mail.example.com:587',
        }),
      ]),
    );
    assert.equal(redact('pw-zyx987 k-one-1 k-two-2 smtp-pw-42'), '*** *** *** ***');
    assert.deepEqual(redactDeep({ a: ['pw-zyx987'], b: 1 }), { a: ['***'], b: 1 });
  });
});
