/** The killswitch routes under /code/api/killswitch (changing it needs the admin key). */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { killswitchChange } from '../../storage/killswitch.ts';
import { StorageUnavailableError, type Store } from '../../storage/types.ts';
import { problem, sendProblem } from '../errors.ts';
import { requireAdminKey } from '../middleware/auth.ts';
import { jsonBody } from '../middleware/json-body.ts';
import type { AppEnv } from '../types.ts';
import { unstorable } from '../universal/request-schema.ts';

const BLOCKED_WHEN_ACTIVE = new Set([
  'email_send',
  'webhook_call',
  'api_request',
  'external_http',
  'sms_send',
]);
const ALLOWED_WHEN_ACTIVE = new Set([
  'local_chat',
  'database_query',
  'gpu_mesh_request',
  'file_read',
  'file_write',
]);

/** The body as an object; a bare POST (no body, or an empty one) is an empty object. */
async function readObject(req: Request): Promise<Record<string, unknown> | undefined> {
  if (!req.body) return {};
  try {
    const text = await req.text();
    if (text.trim() === '') return {};
    const b = JSON.parse(text) as unknown;
    return typeof b === 'object' && b !== null && !Array.isArray(b)
      ? (b as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function registerKillswitchRoutes(
  app: Hono<AppEnv>,
  store: Store,
  adminKey: string | undefined,
  operator: MiddlewareHandler<AppEnv>,
): void {
  const base = '/code/api/killswitch';
  const unknown = (c: Context<AppEnv>) =>
    sendProblem(
      c,
      problem(503, 'killswitch_unknown', 'the killswitch state cannot be read now', { retryAfterS: 5 }),
    );

  const change = (active: boolean) => async (c: Context<AppEnv>) => {
    const body = await readObject(c.req.raw);
    if (!body) return sendProblem(c, problem(400, 'bad_json', 'the body is not a JSON object'));
    const reason = body.reason;
    const by = active ? body.activated_by : body.deactivated_by;
    const errors: { field: string; reason: string }[] = [];
    if (active && (typeof reason !== 'string' || reason.trim() === '' || reason.length > 500)) {
      errors.push({ field: 'reason', reason: 'is required: a string of 1 to 500 characters' });
    }
    if (by !== undefined && (typeof by !== 'string' || by.length > 255)) {
      errors.push({
        field: active ? 'activated_by' : 'deactivated_by',
        reason: 'must be a string of at most 255 characters',
      });
    }
    errors.push(...unstorable(body));
    if (errors.length > 0) {
      return sendProblem(
        c,
        problem(422, 'validation_error', 'the body has invalid fields', { detail: errors }),
      );
    }
    try {
      await store.write({
        kind: 'killswitch',
        data: killswitchChange(
          active,
          (by as string | undefined) ?? 'admin',
          active ? (reason as string) : null,
          active ? 'manual' : null,
        ),
      });
      const status = await store.killswitch();
      c.get('log').warn(active ? 'killswitch activated' : 'killswitch deactivated', { by: by ?? 'admin' });
      return c.json({
        success: true,
        message: active ? 'killswitch activated: universal requests are blocked' : 'killswitch deactivated',
        status,
        timestamp: new Date().toISOString(),
      });
    } catch (err) {
      if (err instanceof StorageUnavailableError) {
        return sendProblem(c, problem(503, 'storage_unavailable', err.message, { retryAfterS: 5 }));
      }
      throw err;
    }
  };

  // A killswitch change is a few short fields: 16 KiB is plenty, and a bare POST is allowed.
  const [onlyJson, withinLimit] = jsonBody(16 * 1024, { optional: true });
  app.post(`${base}/activate`, requireAdminKey(adminKey), onlyJson, withinLimit, change(true));
  app.post(`${base}/deactivate`, requireAdminKey(adminKey), onlyJson, withinLimit, change(false));

  app.get(`${base}/status`, operator, async (c) => {
    try {
      return c.json({ killswitch: await store.killswitch(), timestamp: new Date().toISOString() });
    } catch {
      return unknown(c);
    }
  });

  app.get(`${base}/check/:action_type`, operator, async (c) => {
    const action = c.req.param('action_type');
    if (action.length > 64 || !/^[\w.-]+$/.test(action)) {
      return sendProblem(
        c,
        problem(422, 'validation_error', 'the action type is not valid', {
          detail: [{ field: 'action_type', reason: 'letters, digits, _ . - only' }],
        }),
      );
    }
    let active: boolean;
    try {
      active = (await store.killswitch()).is_active;
    } catch {
      return unknown(c);
    }
    const allowed = !active || (ALLOWED_WHEN_ACTIVE.has(action) && !BLOCKED_WHEN_ACTIVE.has(action));
    return c.json({
      action_type: action,
      allowed,
      killswitch_active: active,
      timestamp: new Date().toISOString(),
    });
  });
}
