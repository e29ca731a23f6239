import { defineCommand } from 'citty';
import { ROOT_META, supervise } from './root-meta.ts';

/**
 * The command tree. Subcommands load lazily, so `robbie supervise` never loads the API's modules
 * and `robbie --version` loads almost nothing.
 */
export const root = defineCommand({
  meta: ROOT_META,
  subCommands: {
    serve: () => import('./commands/serve.ts').then((m) => m.default),
    supervise,
    start: () => import('./commands/start.ts').then((m) => m.default),
    stop: () => import('./commands/control.ts').then((m) => m.stop),
    restart: () => import('./commands/control.ts').then((m) => m.restart),
    reload: () => import('./commands/control.ts').then((m) => m.reload),
    status: () => import('./commands/control.ts').then((m) => m.status),
    health: () => import('./commands/health.ts').then((m) => m.default),
    logs: () => import('./commands/logs.ts').then((m) => m.logs),
    errors: () => import('./commands/logs.ts').then((m) => m.errors),
    'install-service': () => import('./commands/service.ts').then((m) => m.installService),
    'uninstall-service': () => import('./commands/service.ts').then((m) => m.uninstallService),
    db: () => import('./commands/db.ts').then((m) => m.default),
    keys: () => import('./commands/keys.ts').then((m) => m.default),
    usage: () => import('./commands/usage.ts').then((m) => m.default),
    config: () => import('./commands/config.ts').then((m) => m.default),
    alert: () => import('./commands/alert.ts').then((m) => m.default),
    version: () => import('./commands/version.ts').then((m) => m.default),
  },
});
