/**
 * Every setting robbie has, declared once: its flag, environment variable, kind, default, bounds,
 * help, whether it is a secret and which processes need it. The flags of every command, the strict
 * flag check, the help text, `robbie config`, the environment handed to children and the README's
 * configuration table are all derived from this table (the model is postgres.js's one `defaults`
 * table with its environment names derived by convention).
 *
 * The environment name is `ROBBIE_` + the flag name in upper case, except where a name is already
 * conventional: HOST, PORT, DATABASE_URL, OLLAMA_URL, OPENAI_*, *_MODEL, NO_COLOR, and OpenTelemetry's OTEL_*.
 */
import { hostname } from 'node:os';
import { PROVIDER_KINDS } from '../api/providers/kinds.ts';
import {
  boolCodec,
  type Codec,
  durationCodec,
  enumCodec,
  enumListCodec,
  intCodec,
  listCodec,
  type ModelChoice,
  modelChoiceCodec,
  nameCodec,
  nameListCodec,
  pairsCodec,
  rateCodec,
  ratioCodec,
  sizeCodec,
  stringCodec,
  urlCodec,
} from './kinds.ts';

export type Kind = 'duration' | 'size' | 'int' | 'bool' | 'enum' | 'string' | 'list' | 'rate' | 'url';

/**
 * Which processes need a setting: `paths` every command (where the service keeps its state),
 * `serve` the API process, `supervise` the supervisor alone, `process` every robbie process.
 * The supervisor hands every `paths`, `serve` and `process` setting to its children.
 */
export type Scope = 'paths' | 'serve' | 'supervise' | 'process';

/** What a supervisor runs: the built-in `robbie serve`, or a command of the user's. */
export interface DefaultContext {
  custom: boolean;
}

/** Reads another setting's resolved value, for defaults derived from it. */
export type Lookup = (key: string) => unknown;

export interface Setting<T> {
  kind: Kind;
  codec: Codec<T>;
  scope: Scope;
  help: string;
  /** The environment name, where it is not the conventional `ROBBIE_<FLAG>`. */
  env?: string;
  /** False: environment only (secrets never go on a command line, where `ps` shows them). */
  flag?: boolean;
  secret?: boolean;
  default?: T | ((get: Lookup, ctx: DefaultContext) => T);
  /** How help and the README show the default, where the value alone would not say it. */
  defaultText?: string;
  /** No default: the setting may stay unset. */
  optional?: boolean;
}

type Options = Pick<Setting<unknown>, 'scope' | 'help' | 'env' | 'flag' | 'secret' | 'defaultText'>;

function has<T>(
  kind: Kind,
  codec: Codec<T>,
  value: T | ((get: Lookup, ctx: DefaultContext) => T),
  o: Options,
): Setting<T> {
  return { kind, codec, default: value, ...o };
}

function maybe<T>(kind: Kind, codec: Codec<T>, o: Options): Setting<T> & { optional: true } {
  return { kind, codec, optional: true, ...o };
}

const DAY = 86_400_000;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const LOG_FORMATS = ['pretty', 'json', 'journald', 'none'] as const;
export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export const RATE_LIMIT_SCOPES = ['shared', 'local'] as const;
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export const TRACE_SAMPLERS = [
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
  'always_on',
  'always_off',
  'traceidratio',
] as const;
/** The AI services a request names (chat, code and analysis to chat models, embedding to an embedding model). */
export const SERVICE_NAMES = ['chat', 'code', 'analysis', 'embedding'] as const;
/** What a request asks for: a kind of work, each with its model per provider. */
export type Service = (typeof SERVICE_NAMES)[number];
export const SERVICES: readonly Service[] = SERVICE_NAMES;
/** A model setting left unset: each provider's default model for the service. */
const NO_MODEL_CHOICE: ModelChoice = { byProvider: {} };

export const SETTINGS = {
  // Where the service keeps its state and settings: every command needs these.
  'env-file': maybe('string', stringCodec('path'), {
    scope: 'paths',
    help: 'read KEY=VALUE settings from this file (the environment wins over it)',
  }),
  home: maybe('string', stringCodec('dir'), {
    scope: 'paths',
    help: 'state directory: lock, control socket, state file, SQLite store',
    defaultText:
      '`/var/lib/robbie` as root, else `~/.local/state/robbie`; macOS `~/Library/Application Support/robbie`',
  }),
  'log-dir': maybe('string', stringCodec('dir'), {
    scope: 'paths',
    help: 'log directory',
    defaultText: '`<home>/logs` (as root `/var/log/robbie`)',
  }),

  // The API.
  host: has('string', stringCodec('addr'), '127.0.0.1', {
    scope: 'serve',
    env: 'HOST',
    help: 'address to listen on (a public address needs ROBBIE_API_KEYS)',
  }),
  port: has('int', intCodec(0, 65535), 8000, { scope: 'serve', env: 'PORT', help: 'port to listen on' }),
  'shutdown-timeout': has('duration', durationCodec(), 10_000, {
    scope: 'serve',
    help: 'how long in-flight requests may take to finish on SIGTERM',
  }),
  'database-url': maybe('url', urlCodec(['postgres:', 'postgresql:'], 'postgres://user:pw@host:5432/db'), {
    scope: 'serve',
    env: 'DATABASE_URL',
    secret: true,
    help: 'PostgreSQL connection URL',
    defaultText: '— (SQLite)',
  }),
  retention: has('duration', durationCodec(60_000, 36_500 * DAY), 90 * DAY, {
    scope: 'serve',
    help: 'purge request logs and blocks older than this',
  }),
  'max-body': has('size', sizeCodec(1024), 1024 * 1024, {
    scope: 'serve',
    help: 'largest request body accepted',
  }),
  'api-keys': maybe('list', listCodec('k1,k2'), {
    scope: 'serve',
    flag: false,
    secret: true,
    help: 'comma-separated API keys, each `name:key` or a bare key (more are made with `robbie keys create`)',
  }),
  'admin-key': maybe('string', stringCodec('key'), {
    scope: 'serve',
    flag: false,
    secret: true,
    help: 'key for the admin routes: the killswitch, /admin/keys, /metrics',
  }),
  'metrics-token': maybe('string', stringCodec('token'), {
    scope: 'serve',
    flag: false,
    secret: true,
    help: 'bearer token Prometheus sends for /metrics (the admin key works too)',
  }),
  provider: has(
    'string',
    nameCodec(PROVIDER_KINDS.join('|')),
    (get) => (get('openai-base-url') ? 'openai' : 'ollama'),
    {
      scope: 'serve',
      help: `model provider: ${PROVIDER_KINDS.join(', ')}, or a name from the providers file`,
      defaultText: '`ollama` (`openai` when OPENAI_BASE_URL is set)',
    },
  ),
  'providers-file': maybe('string', stringCodec('path'), {
    scope: 'serve',
    help: 'JSON file of more providers: [{name, kind, url, api_key_env, models, serves}]',
  }),
  'ollama-url': has(
    'url',
    urlCodec(['http:', 'https:'], 'http://127.0.0.1:11434', true),
    'http://127.0.0.1:11434',
    {
      scope: 'serve',
      env: 'OLLAMA_URL',
      help: "Ollama's native API",
    },
  ),
  'openai-base-url': maybe('url', urlCodec(['http:', 'https:'], 'https://api.openai.com/v1', true), {
    scope: 'serve',
    env: 'OPENAI_BASE_URL',
    help: 'an OpenAI-compatible endpoint',
  }),
  'openai-api-key': maybe('string', stringCodec('key'), {
    scope: 'serve',
    env: 'OPENAI_API_KEY',
    flag: false,
    secret: true,
    help: 'API key of the OpenAI-compatible endpoint',
  }),
  fallback: has('list', nameListCodec('name,name'), [] as string[], {
    scope: 'serve',
    help: 'providers tried in this order when the provider fails, within the same deadline',
  }),
  'chat-model': has('string', modelChoiceCodec(), NO_MODEL_CHOICE, {
    scope: 'serve',
    env: 'CHAT_MODEL',
    help: 'model of the chat service',
    defaultText: '`llama3.1:8b` (OpenAI: `gpt-4o-mini`)',
  }),
  'code-model': has('string', modelChoiceCodec(), NO_MODEL_CHOICE, {
    scope: 'serve',
    env: 'CODE_MODEL',
    help: 'model of the code service',
    defaultText: '`qwen2.5-coder:7b` (OpenAI: `gpt-4o-mini`)',
  }),
  'analysis-model': has('string', modelChoiceCodec(), NO_MODEL_CHOICE, {
    scope: 'serve',
    env: 'ANALYSIS_MODEL',
    help: 'model of the analysis service',
    defaultText: 'the chat model',
  }),
  'embedding-model': has('string', modelChoiceCodec(), NO_MODEL_CHOICE, {
    scope: 'serve',
    env: 'EMBEDDING_MODEL',
    help: 'model of the embedding service',
    defaultText: '`nomic-embed-text` (OpenAI: `text-embedding-3-small`)',
  }),
  'model-timeout': has('duration', durationCodec(100), 30_000, {
    scope: 'serve',
    help: "deadline of a request's model work: every attempt, retry and fallback (a client may ask for less); a stream's, until each next piece",
  }),
  'models-refresh': has('duration', durationCodec(1000), 5 * 60_000, {
    scope: 'serve',
    help: "how often each provider's list of models is read again (in the background)",
  }),
  'upstream-max-answer': has('size', sizeCodec(1024), 16 * 1024 ** 2, {
    scope: 'serve',
    help: 'largest answer read from a model server; past it the request gets 502 and nothing more is read',
  }),
  'upstream-max-line': has('size', sizeCodec(1024), 1024 ** 2, {
    scope: 'serve',
    help: 'longest line (an SSE event, an NDJSON object) of a streamed answer from a model server',
  }),
  'stream-write-timeout': has('duration', durationCodec(100), 30_000, {
    scope: 'serve',
    help: 'a streaming client that takes no bytes for this long is cut off, its model call closed',
  }),
  cache: has('list', enumListCodec(SERVICE_NAMES), [] as (typeof SERVICE_NAMES)[number][], {
    scope: 'serve',
    help: 'services whose answers are cached: an identical request is answered without a model call',
  }),
  'cache-ttl': has('duration', durationCodec(1000, 30 * DAY), 300_000, {
    scope: 'serve',
    help: 'how long a cached answer is served to identical requests',
  }),
  'cache-stale': has('duration', durationCodec(1000, 30 * DAY), DAY, {
    scope: 'serve',
    help: 'how old a cached answer may be when served (marked stale) because every provider is down',
  }),
  'rate-limit': has(
    'rate',
    rateCodec,
    { max: 120, windowMs: 60_000 },
    {
      scope: 'serve',
      help: 'requests per API key (a key may set its own: robbie keys create --rate-limit)',
      defaultText: '`120/1m`',
    },
  ),
  'rate-limit-user': maybe('rate', rateCodec, {
    scope: 'serve',
    help: 'requests per end user (`user`, `user_id`) within a key: narrows the key limit, never widens it',
  }),
  'budget-reserve': has('int', intCodec(1, 10_000_000), 1024, {
    scope: 'serve',
    help: "tokens held against a key's budget for a request that sets no max_tokens, until its usage is known",
  }),
  'prices-file': maybe('string', stringCodec('path'), {
    scope: 'serve',
    help: 'JSON file of model prices per million tokens: {"model": {"input": 0.15, "output": 0.6}}',
  }),
  'rate-limit-scope': has('enum', enumCodec(RATE_LIMIT_SCOPES), 'shared', {
    scope: 'serve',
    help: 'shared: one limit across every instance on the store (a store round trip per count; a busy user leases admissions ahead); local: each process its own share (limit ÷ instances on this machine)',
  }),
  mood: has('string', stringCodec('word'), 'focused', {
    scope: 'serve',
    help: 'the `mood` every answer carries',
  }),
  'gatekeeper-patterns': maybe('string', stringCodec('path'), {
    scope: 'serve',
    help: 'JSON file replacing the gatekeeper patterns',
    defaultText: 'built in',
  }),
  'gatekeeper-killswitch': has('bool', boolCodec, false, {
    scope: 'serve',
    help: 'a critical gatekeeper finding activates the killswitch',
  }),

  // The supervisor.
  instances: has('int', intCodec(1, 64), 1, { scope: 'supervise', help: 'children sharing the port' }),
  standby: has('bool', boolCodec, true, {
    scope: 'supervise',
    help: 'keep a booted spare ready to take over at once (built-in child)',
  }),
  'probe-url': maybe('url', urlCodec(['http:'], 'http://127.0.0.1:9000/health'), {
    scope: 'supervise',
    help: 'for `-- CMD`: the URL probed for liveness (no probing without it)',
  }),
  'probe-interval': has('duration', durationCodec(100), 1000, {
    scope: 'supervise',
    help: 'liveness probe period',
  }),
  'probe-timeout': has('duration', durationCodec(50), 1000, {
    scope: 'supervise',
    help: 'liveness probe deadline',
  }),
  'probe-failures': has('int', intCodec(1, 100), 3, {
    scope: 'supervise',
    help: 'failed probes in a row that mean hung',
  }),
  'start-timeout': has('duration', durationCodec(100), 30_000, {
    scope: 'supervise',
    help: 'time a child has to become ready',
  }),
  restart: has('enum', enumCodec(RESTART_POLICIES), 'always', {
    scope: 'supervise',
    help: 'restart policy',
  }),
  'max-restarts': has('int', intCodec(1, 100_000), 10, {
    scope: 'supervise',
    help: 'start failures allowed within the restart window',
  }),
  'restart-window': has('duration', durationCodec(1000), 60_000, {
    scope: 'supervise',
    help: 'window of the restart limit',
  }),
  cooldown: has('duration', durationCodec(100), 60_000, {
    scope: 'supervise',
    help: 'pause once the restart limit trips',
  }),
  'give-up': has('bool', boolCodec, false, {
    scope: 'supervise',
    help: 'exit 1 at the restart limit instead of cooling down, so systemd or launchd take over',
  }),
  'backoff-max': has('duration', durationCodec(100), 30_000, {
    scope: 'supervise',
    help: 'longest delay between restarts',
  }),
  'min-uptime': has('duration', durationCodec(0), 1000, {
    scope: 'supervise',
    help: 'a child failing sooner than this after it became ready failed to start (backoff applies)',
  }),
  'stop-timeout': has(
    'duration',
    durationCodec(100),
    (get, ctx) => (ctx.custom ? 10_000 : (get('shutdown-timeout') as number) + 2000),
    {
      scope: 'supervise',
      help: 'SIGTERM to SIGKILL delay when stopping a child',
      defaultText: 'shutdown timeout + 2s (`-- CMD`: `10s`)',
    },
  ),
  'alert-webhook': maybe('url', urlCodec(['http:', 'https:'], 'https://hooks.example.com/robbie'), {
    scope: 'supervise',
    secret: true,
    help: 'URL receiving JSON alerts',
  }),
  'alert-email': maybe('list', listCodec('a@x,b@y'), {
    scope: 'supervise',
    help: 'comma-separated addresses that receive alerts by email (needs ROBBIE_SMTP_URL)',
  }),
  'smtp-url': maybe('url', urlCodec(['smtp:', 'smtps:'], 'smtp://user:password@mail.example.com:587'), {
    scope: 'supervise',
    flag: false,
    secret: true,
    help: 'SMTP server for alert emails: smtp:// (STARTTLS when offered) or smtps://',
  }),
  'alert-from': has('string', stringCodec('address'), () => `robbie@${hostname()}`, {
    scope: 'supervise',
    help: 'sender address of alert emails',
    defaultText: '`robbie@<hostname>`',
  }),
  'alert-dedupe': has('duration', durationCodec(0), 5 * 60_000, {
    scope: 'supervise',
    help: 'one alert per event and child within this window; the next one counts the rest',
  }),
  'alert-db-down-after': has('duration', durationCodec(0), 60_000, {
    scope: 'supervise',
    help: 'alert when the database has been unreachable this long (and again when it is back)',
  }),
  'log-max-size': has('size', sizeCodec(4096), 10 * 1024 ** 2, {
    scope: 'supervise',
    help: 'rotate robbie.log at this size',
  }),
  'log-rotate-daily': has('bool', boolCodec, false, { scope: 'supervise', help: 'also rotate at midnight' }),
  'log-keep': has('int', intCodec(0, 10_000), 10, { scope: 'supervise', help: 'rotated files kept' }),
  'log-max-total': has('size', sizeCodec(0), 200 * 1024 ** 2, {
    scope: 'supervise',
    help: 'cap on all log files together',
  }),

  // Traces over OTLP (the OpenTelemetry SDKs' own variable names), for the API and the supervisor.
  'otel-endpoint': maybe('url', urlCodec(['http:', 'https:'], 'http://127.0.0.1:4318', true), {
    scope: 'process',
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    help: 'OTLP/HTTP collector: traces go to <url>/v1/traces (no traces without an endpoint)',
    defaultText: '— (off)',
  }),
  'otel-traces-endpoint': maybe('url', urlCodec(['http:', 'https:'], 'http://127.0.0.1:4318/v1/traces'), {
    scope: 'process',
    env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    help: 'OTLP/HTTP URL for traces, used as given (wins over OTEL_EXPORTER_OTLP_ENDPOINT)',
  }),
  'otel-protocol': has('enum', enumCodec(OTLP_PROTOCOLS), 'http/protobuf', {
    scope: 'process',
    env: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    help: 'how spans are sent: protobuf or JSON over HTTP',
  }),
  'otel-headers': maybe('list', pairsCodec, {
    scope: 'process',
    env: 'OTEL_EXPORTER_OTLP_HEADERS',
    flag: false,
    secret: true,
    help: 'headers sent to the collector, `key=value` pairs separated by commas (values URL-encoded)',
  }),
  'otel-timeout': has('duration', durationCodec(1, 60_000, 'ms'), 10_000, {
    scope: 'process',
    env: 'OTEL_EXPORTER_OTLP_TIMEOUT',
    help: 'how long one export may take (a bare number is milliseconds); spans of a failed export are dropped',
  }),
  'otel-schedule-delay': has('duration', durationCodec(10, 60_000, 'ms'), 5000, {
    scope: 'process',
    env: 'OTEL_BSP_SCHEDULE_DELAY',
    help: 'longest time a finished span waits to be exported (a bare number is milliseconds)',
  }),
  'otel-max-queue': has('int', intCodec(1, 1_000_000), 2048, {
    scope: 'process',
    env: 'OTEL_BSP_MAX_QUEUE_SIZE',
    help: 'finished spans held for export; past it spans are dropped and counted',
  }),
  'otel-service-name': has('string', stringCodec('name'), 'robbie', {
    scope: 'process',
    env: 'OTEL_SERVICE_NAME',
    help: 'the `service.name` of every span',
  }),
  'otel-resource-attributes': maybe('list', pairsCodec, {
    scope: 'process',
    env: 'OTEL_RESOURCE_ATTRIBUTES',
    help: 'more resource attributes, `key=value` pairs separated by commas',
  }),
  'otel-traces-sampler': has('enum', enumCodec(TRACE_SAMPLERS), 'parentbased_always_on', {
    scope: 'process',
    env: 'OTEL_TRACES_SAMPLER',
    help: "which traces are kept: parentbased_* follows the caller's traceparent",
  }),
  'otel-traces-sampler-arg': maybe('string', ratioCodec, {
    scope: 'process',
    env: 'OTEL_TRACES_SAMPLER_ARG',
    help: 'the ratio of traceidratio samplers, from 0 to 1',
    defaultText: '`1`',
  }),
  'otel-capture-content': has('bool', boolCodec, false, {
    scope: 'process',
    env: 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT',
    help: 'spans carry the messages and the answer (gen_ai.input.messages, gen_ai.output.messages)',
  }),

  // Every process.
  'log-level': has('enum', enumCodec(LOG_LEVELS), 'info', {
    scope: 'process',
    help: 'least severe level logged',
  }),
  'log-format': maybe('enum', enumCodec(LOG_FORMATS), {
    scope: 'process',
    help: 'console format (`journald` is detected under systemd)',
    defaultText: '`pretty` on a terminal, else `json`',
  }),
  'no-color': maybe('string', stringCodec('any'), {
    scope: 'process',
    env: 'NO_COLOR',
    flag: false,
    help: 'set to anything: no colours anywhere',
  }),
  debug: has('bool', boolCodec, false, {
    scope: 'process',
    flag: false,
    help: 'print stack traces of unexpected errors',
  }),
} as const;

export type Key = keyof typeof SETTINGS;
type ValueOf<S> = S extends Setting<infer T> ? (S extends { optional: true } ? T | undefined : T) : never;
export type Values = { -readonly [K in Key]: ValueOf<(typeof SETTINGS)[K]> };

export const KEYS = Object.keys(SETTINGS) as Key[];

export function settingOf(key: Key): Setting<unknown> {
  return SETTINGS[key] as Setting<unknown>;
}

/** The environment variable of a setting: `ROBBIE_` + the flag in upper case, unless declared. */
export function envName(key: Key): string {
  return settingOf(key).env ?? `ROBBIE_${key.toUpperCase().replace(/-/g, '_')}`;
}

export function hasFlag(key: Key): boolean {
  return settingOf(key).flag !== false;
}

export function keysOf(...scopes: Scope[]): Key[] {
  return KEYS.filter((k) => scopes.includes(settingOf(k).scope));
}

/** What `robbie start` hands the supervisor it starts besides the settings: where it got each (JSON). */
export const STARTED_WITH = 'ROBBIE_STARTED_WITH';

/**
 * Variables robbie sets for its own children (the child protocol), not settings: never reported
 * as unknown.
 */
export const INTERNAL_ENV = [
  'ROBBIE_SUPERVISED',
  'ROBBIE_CHILD_ROLE',
  'ROBBIE_INSTANCE',
  'ROBBIE_INSTANCES',
  STARTED_WITH,
] as const;
