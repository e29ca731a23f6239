import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { apiConfig } from '../../src/api/config.ts';
import { superviseArgs } from '../../src/cli/args.ts';
import { parseCommandLine } from '../../src/cli/parse-args.ts';
import { type EnvFile, readEnvFile } from '../../src/config/env-file.ts';
import { handOver } from '../../src/config/hand-over.ts';
import { loadSettings } from '../../src/config/load.ts';
import { type Flags, resolveSettings } from '../../src/config/resolve.ts';
import { envName, KEYS, keysOf, settingOf } from '../../src/config/settings.ts';
import { fromEnv, fromFile, fromFlags, fromSupervisor, fromVars } from '../../src/config/sources.ts';
import { unknownSettings } from '../../src/config/unknown-settings.ts';
import { viewSettings } from '../../src/config/view.ts';
import { ConfigError, UsageError } from '../../src/errors.ts';
import { systemdAssignment, systemdListedPath, systemdPath, systemdWord } from '../../src/service/escape.ts';

const resolve = (src: { flags?: Flags; env?: NodeJS.ProcessEnv; files?: EnvFile[] }, custom = false) =>
  resolveSettings([fromFlags(src.flags ?? {}), fromEnv(src.env ?? {}), ...(src.files ?? []).map(fromFile)], {
    custom,
  });

function withFile<T>(text: string, fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'robbie-settings-'));
  const path = join(dir, 'robbie.env');
  writeFileSync(path, text, { mode: 0o600 });
  try {
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the settings table', () => {
  it('declares every setting with a kind, help and a default or an explicit absence', () => {
    for (const key of KEYS) {
      const s = settingOf(key);
      assert.ok(s.help.length > 5, `${key} has help`);
      assert.ok(s.optional === true || s.default !== undefined, `${key}: a default, or optional`);
      if (s.secret && key !== 'database-url' && key !== 'alert-webhook')
        assert.equal(s.flag, false, `${key}: a secret has no flag (ps would show it)`);
    }
  });

  it('reads each kind within its bounds and refuses what is outside', () => {
    const ok: [string, string, unknown][] = [
      ['ROBBIE_MAX_BODY', '2KiB', 2048],
      ['ROBBIE_RETENTION', '7d', 7 * 86_400_000],
      ['PORT', '8080', 8080],
      ['ROBBIE_STANDBY', 'off', false],
      ['ROBBIE_RESTART', 'never', 'never'],
      ['ROBBIE_API_KEYS', ' a1b2c3, d4e5f6 ,', ['a1b2c3', 'd4e5f6']],
      ['ROBBIE_RATE_LIMIT', '5/10s', { max: 5, windowMs: 10_000 }],
      ['OLLAMA_URL', 'http://127.0.0.1:9/', 'http://127.0.0.1:9'],
    ];
    for (const [name, text, want] of ok) {
      const key = KEYS.find((k) => envName(k) === name);
      assert.ok(key, name);
      assert.deepEqual(resolve({ env: { [name]: text } }).values[key], want, name);
    }
    const bad: [string, string][] = [
      ['ROBBIE_MAX_BODY', '10'],
      ['ROBBIE_RETENTION', '30s'],
      ['PORT', '65536'],
      ['ROBBIE_STANDBY', 'maybe'],
      ['ROBBIE_RESTART', 'sometimes'],
      ['ROBBIE_RATE_LIMIT', 'lots'],
      ['ROBBIE_PROBE_INTERVAL', '25d'],
      ['ROBBIE_PROBE_URL', 'ftp://x'],
    ];
    for (const [name, text] of bad) {
      assert.throws(() => resolve({ env: { [name]: text } }), ConfigError, `${name}=${text}`);
    }
  });

  it('walks one list of sources, highest first: flags, environment, running supervisor, env file, unit', () => {
    const sources = [
      fromFlags({ port: '9002' }),
      fromEnv({ ROBBIE_MAX_BODY: '8KiB', ROBBIE_MOODD: 'x' }),
      fromSupervisor(
        4242,
        { PORT: '9100', ROBBIE_MOOD: 'calm', ROBBIE_COOLDOWN: '5m' },
        { ROBBIE_MOOD: 'flag --mood' },
      ),
      fromFile({
        path: '/etc/robbie/robbie.env',
        entries: new Map([
          ['ROBBIE_MOOD', { value: 'grumpy', line: 2 }],
          ['ROBBIE_RETENTION', { value: '30d', line: 3 }],
          ['PROVIDER_KEY', { value: 'sk-from-file', line: 4 }],
        ]),
      }),
      fromVars('/etc/systemd/system/robbie.service', { ROBBIE_HOME: '/var/lib/robbie' }),
    ];
    const r = resolveSettings(sources);
    assert.equal(r.values.port, 9002);
    assert.equal(r.values.mood, 'calm');
    assert.deepEqual(r.origins.mood, { from: 'supervisor', pid: 4242, given: 'flag --mood' });
    assert.equal(r.values.cooldown, 300_000);
    assert.equal(r.values.retention, 30 * 86_400_000);
    assert.deepEqual(r.origins.retention, { from: 'file', path: '/etc/robbie/robbie.env', line: 3 });
    assert.equal(r.values.home, '/var/lib/robbie');
    assert.equal(viewSettings(r).home?.origin, 'file /etc/systemd/system/robbie.service');
    // A variable a provider names is looked up in every source; only the files' are handed on.
    assert.equal(r.env.PROVIDER_KEY, 'sk-from-file');
    assert.deepEqual(Object.keys(r.fileEnv).sort(), ['PROVIDER_KEY', 'ROBBIE_HOME', 'ROBBIE_RETENTION']);
    assert.equal(viewSettings(r).mood?.origin, 'running supervisor (pid 4242): flag --mood');
    const [warning] = unknownSettings(sources);
    assert.match(
      warning ?? '',
      /^unknown setting ROBBIE_MOODD \(environment\) is ignored; did you mean ROBBIE_MOOD\?/,
    );
  });

  it('takes a flag over the environment over the env file over the default, and says which', () => {
    withFile('PORT=9001\nROBBIE_MAX_BODY=4KiB\n\nROBBIE_MOOD=calm\n', (path) => {
      const file = readEnvFile(path, () => {});
      const env: NodeJS.ProcessEnv = { ROBBIE_MAX_BODY: '8KiB' };
      const r = resolve({ flags: { port: '9002' }, env, files: [file] });
      assert.equal(r.values.port, 9002);
      assert.deepEqual(r.origins.port, { from: 'flag' });
      assert.equal(r.values['max-body'], 8192);
      assert.deepEqual(r.origins['max-body'], { from: 'env' });
      assert.equal(r.values.mood, 'calm');
      assert.deepEqual(r.origins.mood, { from: 'file', path, line: 4 });
      assert.equal(r.values.retention, 90 * 86_400_000);
      assert.deepEqual(r.origins.retention, { from: 'default' });
      const view = viewSettings(r);
      assert.equal(view.mood?.origin, `file ${path}:4`);
      assert.equal(view.port?.origin, 'flag --port');
      assert.equal(view['max-body']?.origin, 'env ROBBIE_MAX_BODY');
    });
  });

  it('a wrong flag is exit 2, a wrong variable or file line exit 78 naming where it came from', () => {
    assert.throws(
      () => resolve({ flags: { 'max-body': 'big' } }),
      (err: Error) =>
        err instanceof UsageError && /^--max-body must be a size .*\(got 'big'\)$/.test(err.message),
    );
    assert.throws(() => resolve({ flags: { port: ' ' } }), /--port needs a value/);
    assert.throws(
      () => resolve({ env: { ROBBIE_STOP_TIMEOUT: 'soon' } }),
      (err: Error) =>
        err instanceof ConfigError &&
        /^ROBBIE_STOP_TIMEOUT \(environment\) must be a duration/.test(err.message),
    );
    withFile('# settings\nROBBIE_COOLDOWN=later\n', (path) => {
      const file = readEnvFile(path, () => {});
      const env: NodeJS.ProcessEnv = {};
      assert.throws(
        () => resolve({ env, files: [file] }),
        (err: Error) =>
          err instanceof ConfigError &&
          err.message.startsWith(`ROBBIE_COOLDOWN (${path} line 2) must be a duration`),
      );
    });
  });

  it('never echoes a secret, not even a wrong one', () => {
    assert.throws(
      () => resolve({ env: { DATABASE_URL: 'mysql://u:Hunter2-secret@h/db' } }),
      (err: Error) => err instanceof ConfigError && !err.message.includes('Hunter2'),
    );
    const r = resolve({ env: { ROBBIE_ADMIN_KEY: 'admin-123456', ROBBIE_API_KEYS: 'k-aaaa,k-bbbb' } });
    const shown = JSON.stringify(viewSettings(r));
    assert.ok(!shown.includes('admin-123456') && !shown.includes('k-aaaa'), shown);
  });

  it('derives defaults from other settings', () => {
    const plain = resolve({});
    assert.equal(plain.values.provider, 'ollama');
    assert.equal(apiConfig(plain).providers[0]?.models.embedding, 'nomic-embed-text');
    assert.equal(plain.values['stop-timeout'], 12_000);
    const openai = resolve({ env: { OPENAI_BASE_URL: 'http://127.0.0.1:1/v1', CHAT_MODEL: 'm1' } });
    assert.equal(openai.values.provider, 'openai');
    const models = apiConfig(openai).providers[0]?.models;
    assert.equal(models?.embedding, 'text-embedding-3-small');
    assert.equal(models?.analysis, 'm1');
    assert.equal(resolve({ flags: { 'shutdown-timeout': '1s' } }).values['stop-timeout'], 3000);
    assert.equal(resolve({}, true).values['stop-timeout'], 10_000);
  });

  it('builds the provider chain: each provider with its own model per service', () => {
    const chain = apiConfig(
      resolve({
        env: {
          ROBBIE_FALLBACK: 'openai,echo',
          CHAT_MODEL: 'llama3.2',
          EMBEDDING_MODEL: 'openai=text-embedding-3-large',
        },
      }),
    ).providers;
    assert.deepEqual(
      chain.map((p) => [p.name, p.models.chat, p.models.analysis, p.models.embedding]),
      [
        ['ollama', 'llama3.2', 'llama3.2', 'nomic-embed-text'],
        ['openai', 'gpt-4o-mini', 'gpt-4o-mini', 'text-embedding-3-large'],
        ['echo', 'echo', 'echo', 'echo'],
      ],
    );
    assert.equal(chain[1]?.url, 'https://api.openai.com/v1');
    assert.throws(
      () => apiConfig(resolve({ env: { ROBBIE_FALLBACK: 'ollama' } })),
      (err: Error) =>
        err instanceof ConfigError && /ROBBIE_FALLBACK.*must not name the provider itself/.test(err.message),
    );
    assert.throws(() => resolve({ env: { ROBBIE_FALLBACK: 'echo,echo' } }), ConfigError);
    assert.throws(
      () => apiConfig(resolve({ env: { CHAT_MODEL: 'nosuch=m' } })),
      (err: Error) => err instanceof ConfigError && /CHAT_MODEL.*not in the chain: nosuch/.test(err.message),
    );
    assert.throws(
      () => apiConfig(resolve({ env: { ROBBIE_FALLBACK: 'groq' } })),
      (err: Error) => err instanceof ConfigError && /names no provider called "groq"/.test(err.message),
    );
  });

  it('reads an env file into the settings and the variables they name, never into process.env', () => {
    withFile('ROBBIE_PROVIDER=echo\nTEST_ENV_FILE_ONLY=from-the-file\n', (path) => {
      const s = loadSettings({ 'env-file': path }, { env: { HOME: '/nonexistent' }, warn: () => undefined });
      assert.equal(s.values.provider, 'echo');
      assert.equal(s.env.TEST_ENV_FILE_ONLY, 'from-the-file');
      assert.equal(process.env.TEST_ENV_FILE_ONLY, undefined);
    });
  });

  it('adds named providers from the providers file, keys from the variables it names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'robbie-providers-'));
    try {
      const file = join(dir, 'providers.json');
      writeFileSync(
        file,
        JSON.stringify([
          {
            name: 'groq',
            kind: 'openai',
            url: 'https://api.groq.com/openai/v1/',
            api_key_env: 'TEST_GROQ_KEY',
            models: { chat: 'llama-3.1-8b-instant' },
          },
          {
            name: 'local-vllm',
            kind: 'openai',
            url: 'http://127.0.0.1:8001/v1',
            models: { chat: 'qwen', embedding: 'bge' },
          },
        ]),
      );
      // The key is looked up in the environment the settings were read from (an env file's too).
      const chain = apiConfig(
        resolve({
          env: {
            TEST_GROQ_KEY: 'gsk-test-secret-1234',
            ROBBIE_PROVIDERS_FILE: file,
            ROBBIE_PROVIDER: 'groq',
            ROBBIE_FALLBACK: 'local-vllm,echo',
            CHAT_MODEL: 'local-vllm=qwen-big',
          },
        }),
      ).providers;
      assert.deepEqual(
        chain.map((p) => [p.name, p.kind, p.url, p.models.chat, p.models.embedding]),
        [
          [
            'groq',
            'openai',
            'https://api.groq.com/openai/v1',
            'llama-3.1-8b-instant',
            'text-embedding-3-small',
          ],
          ['local-vllm', 'openai', 'http://127.0.0.1:8001/v1', 'qwen-big', 'bge'],
          ['echo', 'echo', undefined, 'echo', 'echo'],
        ],
      );
      assert.equal(chain[0]?.apiKey, 'gsk-test-secret-1234');
      assert.throws(
        () => apiConfig(resolve({ env: { ROBBIE_PROVIDERS_FILE: file, ROBBIE_PROVIDER: 'groq' } })),
        (err: Error) => err instanceof ConfigError && /TEST_GROQ_KEY is not set/.test(err.message),
      );
      writeFileSync(file, JSON.stringify([{ name: 'openai', kind: 'openai', url: 'http://x' }]));
      assert.throws(
        () => apiConfig(resolve({ env: { ROBBIE_PROVIDERS_FILE: file } })),
        (err: Error) => err instanceof ConfigError && /name "openai" is taken/.test(err.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hands another process every setting given, as written, and nothing left at its default', () => {
    const r = resolve({
      flags: { 'max-body': '2KiB', standby: false, 'env-file': '/x.env', instances: '2' },
      env: { ROBBIE_RETENTION: '7d' },
    });
    assert.deepEqual(handOver(r, ['paths', 'serve', 'process']), {
      ROBBIE_MAX_BODY: '2KiB',
      ROBBIE_RETENTION: '7d',
    });
    assert.deepEqual(handOver(r, ['supervise']), { ROBBIE_STANDBY: 'false', ROBBIE_INSTANCES: '2' });
    // What is handed over resolves to the same values on the other side.
    const other = resolve({ env: handOver(r, ['paths', 'serve', 'supervise', 'process']) });
    for (const key of keysOf('serve', 'supervise')) assert.deepEqual(other.values[key], r.values[key], key);
  });

  it('reports an unknown ROBBIE_* variable with the setting it probably meant', () => {
    const warnings = unknownSettings([
      fromEnv({
        ROBBIE_STANDBY_SPARE: '0',
        ROBBIE_MAX_BODDY: '1',
        ROBBIE_SUPERVISED: '1',
        PATH: '/bin',
        ROBBIE_PORT: '1',
        ROBBIE_OLLAMA_ULR: 'http://127.0.0.1:11434',
        ROBBIE_QUIETLY: '1',
      }),
    ]);
    assert.equal(warnings.length, 5, warnings.join('\n'));
    assert.match(warnings[1] ?? '', /ROBBIE_OLLAMA_ULR .*did you mean OLLAMA_URL\?/);
    assert.match(warnings[2] ?? '', /ROBBIE_PORT .*did you mean PORT\?/);
    assert.match(warnings[3] ?? '', /ROBBIE_QUIETLY \(environment\) is ignored \(robbie/);
    assert.match(
      warnings[0] ?? '',
      /ROBBIE_MAX_BODDY \(environment\) is ignored; did you mean ROBBIE_MAX_BODY\?/,
    );
    assert.match(warnings[4] ?? '', /ROBBIE_STANDBY_SPARE .*did you mean ROBBIE_STANDBY\?/);
  });

  it('loads the env file named by ROBBIE_ENV_FILE and refuses an unreadable one by origin', () => {
    withFile('ROBBIE_INSTANCES=3\nROBBIE_STANDBY_SPARE=0\n', (path) => {
      const warned: string[] = [];
      const r = loadSettings({}, { env: { ROBBIE_ENV_FILE: path }, warn: (l) => warned.push(l) });
      assert.equal(r.values.instances, 3);
      assert.deepEqual(r.origins.instances, { from: 'file', path, line: 1 });
      assert.match(
        warned.join('\n'),
        /ROBBIE_STANDBY_SPARE \(.*robbie\.env line 2\).*did you mean ROBBIE_STANDBY/,
      );
    });
    assert.throws(() => loadSettings({ 'env-file': '/nonexistent/robbie.env' }, { env: {} }), UsageError);
    assert.throws(
      () => loadSettings({}, { env: { ROBBIE_ENV_FILE: '/nonexistent/robbie.env' } }),
      (err: Error) =>
        err instanceof ConfigError && /ROBBIE_ENV_FILE \(environment\) cannot be read/.test(err.message),
    );
  });
});

describe('the command line', () => {
  const parse = (argv: string[]) => parseCommandLine('supervise', superviseArgs, argv);

  it('accepts every setting with a flag, --no- for switches, and keeps repeated values', () => {
    const { args } = parse(['--port', '1', '--max-body=2KiB', '--no-standby', '--give-up']);
    assert.equal(args.port, '1');
    assert.equal(args['max-body'], '2KiB');
    assert.equal(args.standby, false);
    assert.equal(args['give-up'], true);
    const env = parseCommandLine('install-service', { env: { type: 'string' } }, [
      '--env',
      'A=1',
      '--env=B=2',
    ]);
    assert.deepEqual(env.lists.env, ['A=1', 'B=2']);
    assert.equal(env.args.env, 'B=2');
    const logs = parseCommandLine('logs', { lines: { type: 'string', alias: 'n' } }, ['-n', '5']);
    assert.equal(logs.args.lines, '5');
  });

  it('refuses unknown flags (with a guess), missing values, stray arguments and valued switches', () => {
    assert.throws(
      () => parse(['--prot', '1']),
      /unknown option '--prot' for 'robbie supervise' \(did you mean --port\?/,
    );
    assert.throws(() => parse(['--port']), /option '--port' needs a value/);
    assert.throws(() => parse(['--port', '--standby']), /option '--port' needs a value/);
    assert.throws(() => parse(['stray']), /unexpected argument 'stray'/);
    assert.throws(() => parse(['--standby=yes']), /'--standby' is a switch and takes no value/);
    assert.throws(() => parse(['--no-port']), UsageError);
  });
});

describe('credentials inside URL settings and values in units', () => {
  it('robbie config hides the user, password and query of any URL setting', () => {
    const view = viewSettings(
      resolveSettings([fromEnv({ OLLAMA_URL: 'http://bob:hunter2hunter@127.0.0.1:11434?token=abcdefgh' })]),
    );
    assert.equal(view['ollama-url']?.value, 'http://***@127.0.0.1:11434?***');
  });

  it('a line break or control character never reaches a unit; a listed path is quoted', () => {
    for (const f of [systemdWord, systemdPath, systemdListedPath])
      assert.throws(() => f('/tmp/x\nExecStartPre=/bin/evil'), /line break or control character/);
    assert.throws(() => systemdAssignment('ROBBIE_HOME', 'a\rb'), /line break/);
    assert.equal(systemdListedPath('/home/a b/state'), '"/home/a b/state"');
    assert.equal(systemdListedPath('/srv/100%'), '"/srv/100%%"');
  });
});
