/**
 * The admin API for keys and usage, under the admin key: what `robbie keys` and `robbie usage` do,
 * over HTTP. A change is saved in the store and reaches every instance (notification or poll); this
 * one reloads at once.
 */
import type { Context, Hono } from 'hono';
import { parseDuration } from '../../config/units.ts';
import {
  KeyConflictError,
  StorageUnavailableError,
  type Store,
  USAGE_GROUPS,
  usageGroupOf,
} from '../../storage/types.ts';
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
import type { KeyRegistry } from '../../tenancy/registry.ts';
import { problem, sendProblem } from '../errors.ts';
import { requireAdminKey } from '../middleware/auth.ts';
import { jsonBody } from '../middleware/json-body.ts';
import type { AppEnv } from '../types.ts';

const FIELDS = [
  'name',
  'services',
  'models',
  'rate_limit',
  'token_limit',
  'budget_tokens',
  'budget_cost',
  'budget_period',
  'cache_group',
  'expires',
] as const;

/** The body's changes; `expires` as a duration from now, an ISO date, or "never". */
function changesOf(body: Record<string, unknown>): KeyChanges {
  const unknown = Object.keys(body).find((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown) throw new KeyFieldError(unknown, `is not a key setting (${FIELDS.join(', ')})`);
  const { expires, ...rest } = body;
  const changes = rest as KeyChanges;
  if (expires !== undefined) {
    if (typeof expires !== 'string')
      throw new KeyFieldError('expires', 'must be a duration such as 30d, an ISO date, or never');
    changes.expires_at = parseExpiry(expires);
  }
  return changes;
}

async function objectBody(c: Context<AppEnv>): Promise<Record<string, unknown> | undefined> {
  try {
    const b = (await c.req.json()) as unknown;
    return b !== null && typeof b === 'object' && !Array.isArray(b)
      ? (b as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function registerAdminKeyRoutes(
  app: Hono<AppEnv>,
  store: Store,
  keys: KeyRegistry,
  adminKey: string | undefined,
): void {
  app.use('/admin/*', requireAdminKey(adminKey, 'keys'));
  const [onlyJson, withinLimit] = jsonBody(64 * 1024);

  /** Runs a key operation; its refusals as 4xx, and this instance's registry reloaded after a change. */
  const handled = async (c: Context<AppEnv>, op: () => Promise<{ status: number; body: object }>) => {
    try {
      const { status, body } = await op();
      await keys.refresh();
      return c.json(body, status as 200);
    } catch (err) {
      if (err instanceof KeyFieldError)
        return sendProblem(
          c,
          problem(400, 'validation_error', err.message, {
            detail: [{ field: err.field, reason: err.message }],
          }),
        );
      if (err instanceof KeyNotFoundError) return sendProblem(c, problem(404, 'key_not_found', err.message));
      if (err instanceof KeyConflictError) return sendProblem(c, problem(409, 'key_conflict', err.message));
      if (err instanceof StorageUnavailableError)
        return sendProblem(
          c,
          problem(503, 'storage_unavailable', 'the key store cannot be reached now', { retryAfterS: 5 }),
        );
      throw err;
    }
  };
  const withBody =
    (op: (c: Context<AppEnv>, changes: KeyChanges) => Promise<{ status: number; body: object }>) =>
    async (c: Context<AppEnv>) => {
      const body = await objectBody(c);
      if (!body) return sendProblem(c, problem(400, 'bad_json', 'the body is not a JSON object'));
      return handled(c, () => op(c, changesOf(body)));
    };

  app.get('/admin/keys', (c) =>
    handled(c, async () => ({ status: 200, body: { data: (await listKeys(store)).map((k) => keyView(k)) } })),
  );
  app.post(
    '/admin/keys',
    onlyJson,
    withinLimit,
    withBody(async (_c, changes) => {
      const { key, secret } = await createKey(store, changes.name ?? '', changes);
      return { status: 201, body: { key: keyView(key), secret } };
    }),
  );
  app.get('/admin/keys/:ref', (c) =>
    handled(c, async () => ({ status: 200, body: keyView(await findKey(store, c.req.param('ref'))) })),
  );
  app.patch(
    '/admin/keys/:ref',
    onlyJson,
    withinLimit,
    withBody(async (c, changes) => ({
      status: 200,
      body: keyView(await updateKey(store, c.req.param('ref') ?? '', changes)),
    })),
  );
  app.post('/admin/keys/:ref/revoke', (c) =>
    handled(c, async () => ({ status: 200, body: keyView(await revokeKey(store, c.req.param('ref'))) })),
  );
  app.post('/admin/keys/:ref/rotate', (c) =>
    handled(c, async () => {
      const { key, secret } = await rotateKey(store, c.req.param('ref'));
      return { status: 200, body: { key: keyView(key), secret } };
    }),
  );
  app.get('/admin/usage', (c) =>
    handled(c, async () => {
      const by = usageGroupOf(c.req.query('by') ?? 'key');
      if (!by) throw new KeyFieldError('by', `must be one of ${USAGE_GROUPS.join(', ')}`);
      const since = parseDuration(c.req.query('since') ?? '30d');
      if (since === undefined) throw new KeyFieldError('since', 'must be a duration such as 7d');
      const key = c.req.query('key');
      const rows = await store.usage({ sinceMs: Date.now() - since, by, ...(key ? { key } : {}) });
      return { status: 200, body: { by, since: new Date(Date.now() - since).toISOString(), data: rows } };
    }),
  );
}
