/**
 * `robbie keys create|list|show|update|revoke|rotate`: API keys (principals) in the service's store,
 * managed while it runs. A change reaches every running instance within a second (at once on
 * PostgreSQL). The secret is printed once, at creation or rotation; robbie keeps its digest only.
 */
import { defineCommand } from 'citty';
import type { Flags } from '../../config/resolve.ts';
import { UsageError, UserError } from '../../errors.ts';
import { KeyConflictError, type KeyRecord, type Store } from '../../storage/types.ts';
import {
  createKey,
  findKey,
  type KeyChanges,
  KeyFieldError,
  KeyNotFoundError,
  keyView,
  listKeys,
  parseExpiry,
  revokeKey,
  rotateKey,
  updateKey,
} from '../../tenancy/keys-admin.ts';
import { storeArgs, withServiceStore } from '../service-store.ts';

const json = { json: { type: 'boolean', description: 'Print the result as JSON' } } as const;
const ref = { key: { type: 'positional', description: 'The key, by name or id', required: true } } as const;

const settings = {
  services: {
    type: 'string',
    description: 'Services it may use: chat,code,analysis,embedding (or all)',
    valueHint: 'list',
  },
  models: { type: 'string', description: 'Models it may name (or all)', valueHint: 'list' },
  'rate-limit': {
    type: 'string',
    description: 'Its request limit, such as 60/1m (or default)',
    valueHint: 'n/duration',
  },
  'token-limit': {
    type: 'string',
    description: 'Its token limit, such as 100000/1h (or none)',
    valueHint: 'n/duration',
  },
  'budget-tokens': {
    type: 'string',
    description: 'Tokens it may use per budget period (or none)',
    valueHint: 'n',
  },
  'budget-cost': {
    type: 'string',
    description: 'Cost it may spend per budget period, by the price table (or none)',
    valueHint: 'amount',
  },
  'budget-period': {
    type: 'string',
    description: 'day or month (UTC; default month)',
    valueHint: 'day|month',
  },
  'cache-group': {
    type: 'string',
    description: 'Share cached answers with the keys of this group (or none)',
    valueHint: 'name',
  },
  expires: {
    type: 'string',
    description: 'When it stops working: 30d, an ISO date, or never',
    valueHint: 'when',
  },
} as const;

function listOf(v: string, all: string): string[] | null {
  return v === all
    ? null
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

function amountOf(flag: string, v: string): number | null {
  if (v === 'none') return null;
  const n = Number(v);
  if (!Number.isFinite(n) || v.trim() === '')
    throw new UsageError(`--${flag} must be a number or none (got '${v}')`);
  return n;
}

/** The key settings the flags give. */
function changesOf(a: Flags): KeyChanges {
  const s = (k: string) => (typeof a[k] === 'string' ? (a[k] as string) : undefined);
  const c: KeyChanges = {};
  const services = s('services');
  if (services !== undefined) c.services = listOf(services, 'all');
  const models = s('models');
  if (models !== undefined) c.models = listOf(models, 'all');
  const rate = s('rate-limit');
  if (rate !== undefined) c.rate_limit = rate === 'default' ? null : rate;
  const tokens = s('token-limit');
  if (tokens !== undefined) c.token_limit = tokens === 'none' ? null : tokens;
  const budgetTokens = s('budget-tokens');
  if (budgetTokens !== undefined) c.budget_tokens = amountOf('budget-tokens', budgetTokens);
  const budgetCost = s('budget-cost');
  if (budgetCost !== undefined) c.budget_cost = amountOf('budget-cost', budgetCost);
  const period = s('budget-period');
  if (period !== undefined) {
    if (period !== 'day' && period !== 'month')
      throw new UsageError(`--budget-period must be day or month (got '${period}')`);
    c.budget_period = period;
  }
  const group = s('cache-group');
  if (group !== undefined) c.cache_group = group === 'none' ? null : group;
  const expires = s('expires');
  if (expires !== undefined) c.expires_at = parseExpiry(expires);
  return c;
}

/** A key operation's refusals as one line: a bad setting is a usage error (2), the rest exit 1. */
async function run<T>(a: Flags, work: (store: Store) => Promise<T>): Promise<T> {
  try {
    return await withServiceStore(a, work);
  } catch (err) {
    if (err instanceof KeyFieldError)
      throw new UsageError(err.message.replace(/^(\w+)/, (f) => `--${f.replace(/_/g, '-')}`));
    if (err instanceof KeyNotFoundError || err instanceof KeyConflictError) throw new UserError(err.message);
    throw err;
  }
}

function requireRef(a: Flags): string {
  const r = a.key;
  if (typeof r !== 'string' || r === '') throw new UsageError('name the key (by name or id)');
  return r;
}

function show(k: KeyRecord): string {
  const v = keyView(k);
  const rows: [string, string][] = [
    ['name', v.name],
    ['id', v.id],
    ['state', v.state],
    ['secret', `${v.hint} (only its digest is kept)`],
    ['services', v.services?.join(', ') ?? 'all'],
    ['models', v.models?.join(', ') ?? 'all'],
    ['rate limit', v.rate_limit ?? 'the default (ROBBIE_RATE_LIMIT)'],
    ['token limit', v.token_limit ?? 'none'],
    ['budget', budgetText(v.budget)],
    ['cache', v.cache_group ? `shared with group ${v.cache_group}` : 'its own'],
    ['expires', v.expires_at ?? 'never'],
    ['created', v.created_at ?? ''],
  ];
  if (v.revoked_at) rows.push(['revoked', v.revoked_at]);
  return `${rows.map(([k2, val]) => `${k2.padEnd(12)}${val}`).join('\n')}\n`;
}

function budgetText(b: KeyRecord['spec']['budget']): string {
  if (!b) return 'none';
  const parts = [
    b.tokens === null ? '' : `${b.tokens} tokens`,
    b.cost === null ? '' : `${b.cost} in cost`,
  ].filter(Boolean);
  return `${parts.join(' and ')} per ${b.period}`;
}

function printSecret(verb: string, k: KeyRecord, secret: string, asJson: boolean): void {
  if (asJson) {
    process.stdout.write(`${JSON.stringify({ key: keyView(k), secret })}\n`);
    return;
  }
  process.stdout.write(
    `${verb} key ${k.name} (${k.id})\n${secret}\nThis secret is shown once: robbie keeps only its digest.\n`,
  );
}

export const create = defineCommand({
  meta: { name: 'create', description: 'Create a key and print its secret once' },
  args: {
    name: {
      type: 'positional',
      description: 'Its name: the channel or team (email, editor-alice)',
      required: true,
    },
    ...settings,
    ...storeArgs,
    ...json,
  },
  async run({ args: a }) {
    if (typeof a.name !== 'string' || a.name === '')
      throw new UsageError('name the key (such as email or editor-alice)');
    const name = a.name;
    const { key, secret } = await run(a, (store) => createKey(store, name, changesOf(a)));
    printSecret('created', key, secret, a.json === true);
  },
});

export const list = defineCommand({
  meta: { name: 'list', description: 'List the keys (never their secrets)' },
  args: { ...storeArgs, ...json },
  async run({ args: a }) {
    const keys = await run(a, (store) => listKeys(store));
    if (a.json) {
      process.stdout.write(`${JSON.stringify(keys.map((k) => keyView(k)))}\n`);
      return;
    }
    if (keys.length === 0) {
      process.stdout.write('no keys in the store (robbie keys create NAME makes one)\n');
      return;
    }
    const rows = keys.map((k) => {
      const v = keyView(k);
      return [
        v.name,
        v.id,
        v.state,
        v.hint,
        v.rate_limit ?? 'default',
        budgetText(v.budget),
        v.expires_at ?? 'never',
      ];
    });
    const head = ['NAME', 'ID', 'STATE', 'SECRET', 'RATE', 'BUDGET', 'EXPIRES'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
    const line = (r: string[]) =>
      `${r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd()}\n`;
    process.stdout.write(line(head) + rows.map(line).join(''));
  },
});

export const showKey = defineCommand({
  meta: { name: 'show', description: 'Show one key' },
  args: { ...ref, ...storeArgs, ...json },
  async run({ args: a }) {
    const k = await run(a, (store) => findKey(store, requireRef(a)));
    process.stdout.write(a.json ? `${JSON.stringify(keyView(k))}\n` : show(k));
  },
});

export const update = defineCommand({
  meta: {
    name: 'update',
    description: "Change a key's settings (the running service sees it within a second)",
  },
  args: {
    ...ref,
    rename: { type: 'string', description: 'A new name', valueHint: 'name' },
    ...settings,
    ...storeArgs,
    ...json,
  },
  async run({ args: a }) {
    const changes = changesOf(a);
    if (typeof a.rename === 'string') changes.name = a.rename;
    if (Object.keys(changes).length === 0)
      throw new UsageError('say what to change (robbie keys update --help)');
    const k = await run(a, (store) => updateKey(store, requireRef(a), changes));
    process.stdout.write(a.json ? `${JSON.stringify(keyView(k))}\n` : show(k));
  },
});

export const revoke = defineCommand({
  meta: { name: 'revoke', description: 'Refuse a key from now on, on every instance (its records stay)' },
  args: { ...ref, ...storeArgs, ...json },
  async run({ args: a }) {
    const k = await run(a, (store) => revokeKey(store, requireRef(a)));
    process.stdout.write(a.json ? `${JSON.stringify(keyView(k))}\n` : `revoked key ${k.name} (${k.id})\n`);
  },
});

export const rotate = defineCommand({
  meta: {
    name: 'rotate',
    description: 'Give a key a new secret (the old one stops at once) and print it once',
  },
  args: { ...ref, ...storeArgs, ...json },
  async run({ args: a }) {
    const { key, secret } = await run(a, (store) => rotateKey(store, requireRef(a)));
    printSecret('rotated', key, secret, a.json === true);
  },
});

export default defineCommand({
  meta: { name: 'keys', description: 'API keys: each a caller with its own limits, budget and usage' },
  subCommands: { create, list, show: showKey, update, revoke, rotate },
});
