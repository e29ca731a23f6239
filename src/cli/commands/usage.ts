/** `robbie usage`: tokens and cost per key, day or model, from the request records. */
import { defineCommand } from 'citty';
import { parseDuration } from '../../config/units.ts';
import { UsageError } from '../../errors.ts';
import { USAGE_GROUPS, usageGroupOf } from '../../storage/types.ts';
import { storeArgs, withServiceStore } from '../service-store.ts';

export default defineCommand({
  meta: { name: 'usage', description: 'Requests, tokens and cost, by key, day, model or source' },
  args: {
    key: { type: 'string', description: 'Only this key (by name or id; static keys too)', valueHint: 'name' },
    since: { type: 'string', description: 'How far back (default 30d)', valueHint: 'duration' },
    by: {
      type: 'string',
      description: `Group by ${USAGE_GROUPS.join(', ')} (default key)`,
      valueHint: USAGE_GROUPS.join('|'),
    },
    ...storeArgs,
    json: { type: 'boolean', description: 'Print the rows as JSON' },
  },
  async run({ args: a }) {
    const given = typeof a.by === 'string' ? a.by : 'key';
    const by = usageGroupOf(given);
    if (!by) throw new UsageError(`--by must be one of ${USAGE_GROUPS.join(', ')} (got '${given}')`);
    const sinceText = typeof a.since === 'string' ? a.since : '30d';
    const since = parseDuration(sinceText);
    if (since === undefined)
      throw new UsageError(`--since must be a duration such as 7d (got '${sinceText}')`);
    const sinceMs = Date.now() - since;
    const key = typeof a.key === 'string' ? a.key : undefined;
    const rows = await withServiceStore(a, (store) =>
      store.usage({ sinceMs, by, ...(key === undefined ? {} : { key }) }),
    );
    if (a.json) {
      process.stdout.write(`${JSON.stringify({ by, since: new Date(sinceMs).toISOString(), data: rows })}\n`);
      return;
    }
    if (rows.length === 0) {
      process.stdout.write(`no requests since ${new Date(sinceMs).toISOString()}\n`);
      return;
    }
    const head = [by.toUpperCase(), 'REQUESTS', 'PROMPT', 'COMPLETION', 'TOKENS', 'COST'];
    const table = rows.map((r) => [
      r.group,
      String(r.requests),
      String(r.prompt_tokens),
      String(r.completion_tokens),
      String(r.tokens),
      `${r.cost.toFixed(4)}${r.cost_unknown > 0 ? ` (+${r.cost_unknown} of unknown price)` : ''}`,
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] as string).length)));
    const line = (r: string[]) =>
      `${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ')}\n`;
    process.stdout.write(line(head) + table.map(line).join(''));
  },
});
