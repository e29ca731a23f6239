/**
 * Versioned migrations, one list per dialect. The tables keep the original system's names and
 * columns (`ai_request_logs`, `gatekeeper_blocks`, `killswitch_state`) so its queries and
 * dashboards keep working; robbie adds what it needs (a unique request id, the stored answer, an
 * idempotency key for killswitch changes) and drops the CHECK constraints that made the original
 * lose rows silently (defect 9). Every statement is idempotent, so a database the original created
 * is upgraded in place.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * `create table if not exists`, then every column added when missing — as nullable, since an
 * earlier table may hold rows — so a table created before robbie (by the original system, or by
 * hand with fewer columns) is upgraded in place before any index names its columns.
 */
function table(name: string, columns: string[]): string {
  const adds = columns.map(
    (c) =>
      `alter table ${name} add column if not exists ${c.replace(/\s+not null/i, '').replace(/\s+primary key/i, '')};`,
  );
  return [`create table if not exists ${name} (\n  ${columns.join(',\n  ')}\n);`, ...adds].join('\n');
}

export const POSTGRES_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'request logs, gatekeeper blocks, killswitch',
    sql: `
${table('ai_request_logs', [
  'id uuid primary key default gen_random_uuid()',
  'request_id varchar(128) not null',
  'timestamp timestamptz not null default now()',
  'source varchar(50) not null',
  "source_metadata jsonb default '{}'::jsonb",
  'ai_service varchar(50) not null',
  'ai_model varchar(100)',
  'input_summary text',
  'output_summary text',
  'gatekeeper_status varchar(20)',
  'gatekeeper_confidence double precision',
  'gatekeeper_reasoning text',
  'processing_time_ms integer',
  'tokens_used integer',
  'user_id varchar(255)',
  'town_id varchar(100)',
  'session_id varchar(255)',
  'created_at timestamptz not null default now()',
])}
alter table ai_request_logs alter column request_id type varchar(128) using request_id::text;
alter table ai_request_logs drop constraint if exists ai_request_logs_source_check;
alter table ai_request_logs drop constraint if exists ai_request_logs_ai_service_check;
alter table ai_request_logs drop constraint if exists ai_request_logs_gatekeeper_status_check;
alter table ai_request_logs add column if not exists http_status integer;
alter table ai_request_logs add column if not exists response jsonb;
create unique index if not exists ai_request_logs_request_id_key on ai_request_logs (request_id);
create index if not exists idx_ai_request_logs_created_at on ai_request_logs (created_at);
create index if not exists idx_ai_request_logs_status on ai_request_logs (gatekeeper_status);

${table('gatekeeper_blocks', [
  'id uuid primary key default gen_random_uuid()',
  'request_id varchar(128)',
  'timestamp timestamptz not null default now()',
  'block_reason varchar(255) not null',
  'block_category varchar(50)',
  'severity varchar(20)',
  'source varchar(50)',
  'input_pattern text',
  'triggered_killswitch boolean default false',
  'notified_admin boolean default false',
  'user_id varchar(255)',
  'ip_address inet',
  'created_at timestamptz not null default now()',
])}
alter table gatekeeper_blocks alter column request_id type varchar(128) using request_id::text;
alter table gatekeeper_blocks drop constraint if exists gatekeeper_blocks_block_category_check;
create unique index if not exists gatekeeper_blocks_request_id_key on gatekeeper_blocks (request_id);
create index if not exists idx_gatekeeper_blocks_created_at on gatekeeper_blocks (created_at);

${table('killswitch_state', [
  'id serial primary key',
  'is_active boolean not null default false',
  'activated_at timestamptz',
  'activated_by varchar(255)',
  'reason text',
  'auto_trigger varchar(100)',
  'block_internet boolean default true',
  'block_gpu_mesh boolean default false',
  'block_email boolean default true',
  'block_webhooks boolean default true',
  'deactivated_at timestamptz',
  'deactivated_by varchar(255)',
  'updated_at timestamptz default now()',
])}
alter table killswitch_state add column if not exists change_id varchar(64);
create unique index if not exists killswitch_state_change_id_key on killswitch_state (change_id);
`,
  },
  {
    version: 2,
    name: 'request fingerprints, claims on request ids shared by every instance',
    sql: `
alter table ai_request_logs add column if not exists request_fingerprint varchar(64);
${table('request_claims', [
  'request_id varchar(128) primary key',
  'fingerprint varchar(64) not null',
  'claimed_at timestamptz not null default now()',
])}
`,
  },
  {
    version: 3,
    name: 'rate-limit windows shared by every instance',
    sql: `
create table if not exists rate_windows (
  key varchar(512) not null,
  window_start bigint not null,
  count integer not null,
  primary key (key, window_start)
);
`,
  },
  {
    version: 4,
    name: 'the provider that answered, streams, the answer cache, batched rate-limit hits',
    sql: `
alter table rate_windows add column if not exists added integer not null default 0;
alter table ai_request_logs add column if not exists provider varchar(50);
alter table ai_request_logs add column if not exists cache varchar(10);
alter table ai_request_logs add column if not exists first_token_ms integer;
alter table ai_request_logs add column if not exists stream varchar(10);
create table if not exists answer_cache (
  key varchar(64) primary key,
  service varchar(50) not null,
  answer jsonb not null,
  created_at bigint not null
);
create index if not exists idx_answer_cache_created_at on answer_cache (created_at);
`,
  },
  {
    version: 5,
    // A count is no record: PostgreSQL writes no WAL for it and its commit waits for no flush
    // (a round trip that came before every model call). A crash of PostgreSQL empties the table,
    // and every key starts its window afresh — as SQLite's windows, kept with synchronous off.
    name: 'rate-limit windows unlogged',
    sql: `
alter table rate_windows set unlogged;
`,
  },
  {
    version: 6,
    // Every key is a principal: request ids are unique per key (the same id from two keys is two
    // requests), usage is split and priced, and a key's spend per day backs its budget. No index
    // leads with the key: with one, the generic plan of a lookup by key and id (prepared before the
    // table had statistics) took it and read every row of the key — 4,000 rows per request once
    // 10,000 were stored. Usage reports find their rows by created_at.
    name: 'keys as principals: scoped request ids, usage, budgets',
    sql: `
alter table ai_request_logs add column if not exists key_id varchar(64) not null default '';
alter table ai_request_logs add column if not exists key_name varchar(64);
alter table ai_request_logs add column if not exists prompt_tokens integer;
alter table ai_request_logs add column if not exists completion_tokens integer;
alter table ai_request_logs add column if not exists cost double precision;
alter table ai_request_logs drop constraint if exists ai_request_logs_request_id_key;
drop index if exists ai_request_logs_request_id_key;
create unique index if not exists ai_request_logs_request_key_key on ai_request_logs (request_id, key_id);
alter table gatekeeper_blocks add column if not exists key_id varchar(64) not null default '';
alter table gatekeeper_blocks drop constraint if exists gatekeeper_blocks_request_id_key;
drop index if exists gatekeeper_blocks_request_id_key;
create unique index if not exists gatekeeper_blocks_request_key_key on gatekeeper_blocks (request_id, key_id);
alter table request_claims alter column request_id type text;
create sequence if not exists api_keys_rev;
create table if not exists api_keys (
  id varchar(64) primary key,
  name varchar(64) not null unique,
  digest varchar(64) not null unique,
  hint varchar(16) not null,
  spec jsonb not null,
  expires_at bigint,
  revoked_at bigint,
  created_at bigint not null,
  updated_at bigint not null,
  rev bigint not null
);
create table if not exists key_spend (
  key_id varchar(64) not null,
  day integer not null,
  requests bigint not null default 0,
  tokens bigint not null default 0,
  cost double precision not null default 0,
  primary key (key_id, day)
);
create unlogged table if not exists budget_holds (
  id varchar(64) primary key,
  key_id varchar(64) not null,
  tokens bigint not null,
  cost double precision not null,
  expires_at timestamptz not null
);
create index if not exists idx_budget_holds_key on budget_holds (key_id);
`,
  },
];

export const SQLITE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'request logs, gatekeeper blocks, killswitch',
    sql: `
create table if not exists ai_request_logs (
  id text primary key,
  request_id text not null unique,
  timestamp text not null,
  source text not null,
  source_metadata text,
  ai_service text not null,
  ai_model text,
  input_summary text,
  output_summary text,
  gatekeeper_status text,
  gatekeeper_confidence real,
  gatekeeper_reasoning text,
  processing_time_ms integer,
  tokens_used integer,
  user_id text,
  town_id text,
  session_id text,
  http_status integer,
  response text,
  created_at integer not null
);
create index if not exists idx_ai_request_logs_created_at on ai_request_logs (created_at);

create table if not exists gatekeeper_blocks (
  id text primary key,
  request_id text unique,
  timestamp text not null,
  block_reason text not null,
  block_category text,
  severity text,
  source text,
  input_pattern text,
  triggered_killswitch integer default 0,
  notified_admin integer default 0,
  user_id text,
  ip_address text,
  created_at integer not null
);
create index if not exists idx_gatekeeper_blocks_created_at on gatekeeper_blocks (created_at);

create table if not exists killswitch_state (
  id integer primary key autoincrement,
  change_id text unique,
  is_active integer not null default 0,
  activated_at text,
  activated_by text,
  reason text,
  auto_trigger text,
  block_internet integer default 1,
  block_gpu_mesh integer default 0,
  block_email integer default 1,
  block_webhooks integer default 1,
  deactivated_at text,
  deactivated_by text,
  updated_at text
);
`,
  },
  {
    version: 2,
    name: 'request fingerprints, claims on request ids shared by every instance',
    sql: `
alter table ai_request_logs add column request_fingerprint text;
create table if not exists request_claims (
  request_id text primary key,
  fingerprint text not null,
  claimed_at integer not null
);
`,
  },
  {
    version: 3,
    name: 'rate-limit windows shared by every instance',
    sql: `
create table if not exists rate_windows (
  key text not null,
  window_start integer not null,
  count integer not null,
  primary key (key, window_start)
) without rowid;
`,
  },
  {
    version: 4,
    name: 'the provider that answered, streams, the answer cache, batched rate-limit hits',
    sql: `
alter table ai_request_logs add column provider text;
alter table ai_request_logs add column cache text;
alter table ai_request_logs add column first_token_ms integer;
alter table ai_request_logs add column stream text;
create table if not exists answer_cache (
  key text primary key,
  service text not null,
  answer text not null,
  created_at integer not null
);
create index if not exists idx_answer_cache_created_at on answer_cache (created_at);
`,
  },
  {
    version: 5,
    // PostgreSQL's windows became unlogged; here they were always written without fsync (the
    // claims connection runs with synchronous off). Nothing to change: the number keeps the two
    // dialects' versions together.
    name: 'rate-limit windows unlogged',
    sql: '',
  },
  {
    version: 6,
    // SQLite cannot drop a column's UNIQUE: the two tables are rebuilt with the key in it.
    name: 'keys as principals: scoped request ids, usage, budgets',
    sql: `
create table ai_request_logs_v6 (
  id text primary key,
  request_id text not null,
  timestamp text not null,
  source text not null,
  source_metadata text,
  ai_service text not null,
  ai_model text,
  input_summary text,
  output_summary text,
  gatekeeper_status text,
  gatekeeper_confidence real,
  gatekeeper_reasoning text,
  processing_time_ms integer,
  tokens_used integer,
  user_id text,
  town_id text,
  session_id text,
  http_status integer,
  response text,
  created_at integer not null,
  request_fingerprint text,
  provider text,
  cache text,
  first_token_ms integer,
  stream text,
  key_id text not null default '',
  key_name text,
  prompt_tokens integer,
  completion_tokens integer,
  cost real,
  unique (request_id, key_id)
);
insert into ai_request_logs_v6 (id, request_id, timestamp, source, source_metadata, ai_service, ai_model, input_summary, output_summary, gatekeeper_status, gatekeeper_confidence, gatekeeper_reasoning, processing_time_ms, tokens_used, user_id, town_id, session_id, http_status, response, created_at, request_fingerprint, provider, cache, first_token_ms, stream)
  select id, request_id, timestamp, source, source_metadata, ai_service, ai_model, input_summary, output_summary, gatekeeper_status, gatekeeper_confidence, gatekeeper_reasoning, processing_time_ms, tokens_used, user_id, town_id, session_id, http_status, response, created_at, request_fingerprint, provider, cache, first_token_ms, stream from ai_request_logs;
drop table ai_request_logs;
alter table ai_request_logs_v6 rename to ai_request_logs;
create index if not exists idx_ai_request_logs_created_at on ai_request_logs (created_at);
create table gatekeeper_blocks_v6 (
  id text primary key,
  request_id text,
  timestamp text not null,
  block_reason text not null,
  block_category text,
  severity text,
  source text,
  input_pattern text,
  triggered_killswitch integer default 0,
  notified_admin integer default 0,
  user_id text,
  ip_address text,
  created_at integer not null,
  key_id text not null default '',
  unique (request_id, key_id)
);
insert into gatekeeper_blocks_v6 (id, request_id, timestamp, block_reason, block_category, severity, source, input_pattern, triggered_killswitch, notified_admin, user_id, ip_address, created_at)
  select id, request_id, timestamp, block_reason, block_category, severity, source, input_pattern, triggered_killswitch, notified_admin, user_id, ip_address, created_at from gatekeeper_blocks;
drop table gatekeeper_blocks;
alter table gatekeeper_blocks_v6 rename to gatekeeper_blocks;
create index if not exists idx_gatekeeper_blocks_created_at on gatekeeper_blocks (created_at);
create table if not exists api_keys (
  id text primary key,
  name text not null unique,
  digest text not null unique,
  hint text not null,
  spec text not null,
  expires_at integer,
  revoked_at integer,
  created_at integer not null,
  updated_at integer not null,
  rev integer not null
);
create table if not exists key_spend (
  key_id text not null,
  day integer not null,
  requests integer not null default 0,
  tokens integer not null default 0,
  cost real not null default 0,
  primary key (key_id, day)
) without rowid;
create table if not exists budget_holds (
  id text primary key,
  key_id text not null,
  tokens integer not null,
  cost real not null,
  expires_at integer not null
);
create index if not exists idx_budget_holds_key on budget_holds (key_id);
`,
  },
];

export const SCHEMA_VERSION = Math.max(...POSTGRES_MIGRATIONS.map((m) => m.version));

/** The columns robbie writes to `ai_request_logs` (`town_id` is the original's constant 'aurora'). */
export const REQUEST_COLUMNS = [
  'request_id',
  'timestamp',
  'source',
  'source_metadata',
  'ai_service',
  'ai_model',
  'input_summary',
  'output_summary',
  'gatekeeper_status',
  'gatekeeper_confidence',
  'gatekeeper_reasoning',
  'processing_time_ms',
  'tokens_used',
  'user_id',
  'town_id',
  'http_status',
  'response',
  'request_fingerprint',
  'provider',
  'cache',
  'first_token_ms',
  'stream',
  'key_id',
  'key_name',
  'prompt_tokens',
  'completion_tokens',
  'cost',
  'created_at',
] as const;

/** A retry replaces a retryable outcome (non-2xx) with its own; the key and origin stay. */
export const UPSERT_SET = REQUEST_COLUMNS.filter(
  (c) => !['request_id', 'key_id', 'town_id', 'created_at'].includes(c),
)
  .map((c) => `${c} = excluded.${c}`)
  .join(', ');
