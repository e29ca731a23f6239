/**
 * `npm run bench`: builds the binary if needed, runs every scenario on this machine, and prints a
 * markdown table, also written to bench/results/latest.md. `npm run bench -- NAME…` runs only those
 * scenarios and prints their table without touching latest.md, which stays one whole run.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { benchApi } from './api.ts';
import { benchDashboard } from './dashboard.ts';
import { benchFleet } from './fleet.ts';
import { benchFloodFloor } from './flood-floor.ts';
import { benchFoundation } from './foundation.ts';
import { benchGateway } from './gateway.ts';
import { benchKeys } from './keys.ts';
import { type Row, table } from './lib.ts';
import { benchLogs } from './logs.ts';
import { benchSchemas } from './schemas.ts';
import { benchStorage } from './storage.ts';
import { benchStreams } from './streams.ts';
import { benchSupervisor } from './supervisor.ts';
import { benchTraces } from './traces.ts';

const root = resolve(import.meta.dirname, '..');
const scenarios: Record<string, () => Promise<Row[]>> = {
  foundation: benchFoundation,
  supervisor: benchSupervisor,
  logs: benchLogs,
  'flood-floor': benchFloodFloor,
  storage: benchStorage,
  api: benchApi,
  fleet: benchFleet,
  gateway: benchGateway,
  keys: benchKeys,
  streams: benchStreams,
  schemas: benchSchemas,
  traces: benchTraces,
  dashboard: benchDashboard,
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of wanted) {
  if (!scenarios[name]) {
    process.stderr.write(`bench: unknown scenario '${name}' (have: ${Object.keys(scenarios).join(', ')})\n`);
    process.exit(2);
  }
}
execFileSync(process.execPath, [join(root, 'build/ensure-built.ts')], { stdio: 'inherit' });

const rows: Row[] = [];
for (const [name, run] of Object.entries(scenarios)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  process.stderr.write(`bench: ${name}…\n`);
  rows.push(...(await run()));
}
const header = `robbie benchmarks — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}\n\n`;
const out = header + table(rows) + '\n';
process.stdout.write(out);
if (wanted.length === 0) {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/latest.md'), out);
}
