import { createApp } from '../api/app.ts';
import { SupervisorWatch, supervisorLink } from '../api/dashboard/data.ts';
import { newLifecycle } from '../api/lifecycle.ts';
import { Metrics } from '../api/metrics.ts';
import { AnswerCache } from '../api/pipeline/answer-cache.ts';
import { Gatekeeper } from '../api/pipeline/gatekeeper.ts';
import { Pipeline } from '../api/pipeline/pipeline.ts';
import { RateLimit } from '../api/pipeline/rate-limiter.ts';
import { ModelRouter } from '../api/providers/model-router.ts';
import { watchReachability } from '../api/providers/reachability.ts';
import type { ChildMessage, SupervisorMessage } from '../child-protocol.ts';
import { formatDuration } from '../config/units.ts';
import { UserError } from '../errors.ts';
import type { Logger } from '../logger/logger.ts';
import { privateDir } from '../private-dir.ts';
import { VERSION } from '../runtime/version.ts';
import { openStore } from '../storage/open-store.ts';
import { scheduleRetention } from '../storage/retention.ts';
import { type StorageEvents, StorageUnavailableError, type Store } from '../storage/types.ts';
import { startTracing } from '../telemetry/tracing.ts';
import { TrafficHistory } from '../telemetry/traffic.ts';
import { Prices } from '../tenancy/prices.ts';
import { KeyRegistry } from '../tenancy/registry.ts';
import { createHttpServer, type HttpServer } from './http-server.ts';
import type { ServeConfig } from './serve-config.ts';
import { httpUrl } from './urls.ts';

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** How often a supervised child checks that its supervisor still exists (besides IPC disconnect). */
const PARENT_CHECK_MS = 1000;

/**
 * `robbie serve`: the API in the foreground. The first SIGTERM/SIGINT drains (readyz turns 503,
 * the listener closes, in-flight requests finish up to the shutdown timeout) and exits 0; a second
 * signal exits at once.
 *
 * Under the supervisor (an IPC channel is present) it also opens a private probe listener on an
 * ephemeral loopback port — instances share the public port, so a probe there could reach any of
 * them — and, as a warm standby, initialises fully but takes the port only when told to. It exits
 * by itself when its supervisor disappears.
 */
export async function runServe(config: ServeConfig, log: Logger): Promise<void> {
  const lifecycle = newLifecycle();
  const supervised = typeof process.send === 'function' && process.env.ROBBIE_SUPERVISED === '1';
  // Under the supervisor, the store's outages and refused rows become its alerts.
  const events: StorageEvents | undefined = supervised
    ? (event) => process.send?.({ type: 'storage', event } satisfies ChildMessage)
    : undefined;
  // The HTTP servers, made once the store is open: a whole answer's record is alone when its
  // request is the only one in flight.
  let servers: HttpServer[] = [];
  const alone = () => servers.reduce((n, s) => n + s.inFlight(), 0) === 1;
  const store = await openAndMigrate(config, log, events, alone);
  const stopRetention = scheduleRetention(store, config.retentionMs, log);
  // Every key, static and stored, resolved from memory; changes through any instance arrive here.
  const keys = new KeyRegistry(config.api.apiKeys, store, log);
  await keys.start();
  const { tracer, exporter } = startTracing(config.telemetry, log);
  const { limiter, ...services } = universalServices(config, store, keys, log);
  if (exporter) services.metrics.traceExport(exporter.counts);
  // Each second's traffic goes to the supervisor, which keeps the hour across restarts; alone,
  // this process keeps it.
  const history = new TrafficHistory();
  const dashboard = {
    supervisor: supervised
      ? new SupervisorWatch(supervisorLink(config.controlSocket, config.home))
      : undefined,
    localTraffic: () => history.series(),
  };
  setInterval(() => {
    const sample = services.metrics.traffic.take();
    if (!sample) return;
    if (supervised) process.send?.({ type: 'traffic', sample } satisfies ChildMessage);
    else history.add(sample);
  }, 1000).unref();
  const app = createApp({ version: VERSION, log, lifecycle, tracer, dashboard, ...services });
  const http = createHttpServer(app, lifecycle);
  const probe = supervised ? createHttpServer(app, lifecycle) : undefined;
  servers = probe ? [http, probe] : [http];

  let stopping = false;
  const stop = (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    log.info('draining', {
      reason,
      in_flight: http.inFlight(),
      deadline: formatDuration(config.shutdownTimeoutMs),
    });
    void Promise.all([http.drain(config.shutdownTimeoutMs), probe?.drain(config.shutdownTimeoutMs)]).then(
      async ([inTime]) => {
        if (inTime) log.info('stopped', { reason });
        else log.warn('shutdown deadline reached: remaining connections closed', { reason });
        stopRetention();
        keys.close();
        // The rate limit's unused leases go back to the shared windows before the store closes.
        await limiter.close();
        // Bounded: postgres.js ends its connections within 2 s.
        await store.close().catch(() => undefined);
        // The last requests' spans, if the collector takes them soon.
        await exporter?.flush(2000);
        process.exit(exitCode);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn('second signal: exiting at once', { signal });
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    stop(signal, 0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // An error no handler caught: logged with its stack, then exit so the supervisor restarts a
  // clean process instead of one in an unknown state.
  process.on('uncaughtException', (err) => {
    log.fatal('crashed', { err });
    process.exit(70);
  });

  if (!supervised) {
    await listenPublic(http, config, log, false);
    return;
  }

  const send = (msg: ChildMessage) => process.send?.(msg);
  const parent = process.ppid;
  process.on('disconnect', () => stop('supervisor gone', 0));
  setInterval(() => {
    if (process.ppid !== parent) stop('supervisor gone', 0);
  }, PARENT_CHECK_MS).unref();

  const probePort = await (probe as HttpServer).listen({ host: '127.0.0.1', port: 0, reusePort: false });
  if (process.env.ROBBIE_CHILD_ROLE === 'standby') {
    process.on('message', (msg: unknown) => {
      if ((msg as Partial<SupervisorMessage> | null)?.type !== 'activate') return;
      listenPublic(http, config, log, true).then(
        (port) => send({ type: 'listening', port }),
        (err: unknown) => {
          send({ type: 'listen-failed', error: err instanceof Error ? err.message : String(err) });
          process.exit(1);
        },
      );
    });
    // Exercise the request path once, so the first real request after a takeover does not pay for
    // lazy compilation of the HTTP and routing code.
    await warmUp(probePort);
    send({ type: 'ready', role: 'standby', probePort });
    log.debug('standby ready', { probe_port: probePort });
    return;
  }
  const port = await listenPublic(http, config, log, true);
  send({ type: 'ready', role: 'active', probePort, port });
}

/** The Universal Input API's parts, and the checks /health reports (database, outbox, model). */
function universalServices(config: ServeConfig, store: Store, keys: KeyRegistry, log: Logger) {
  // The metrics read the circuit states from the router, which reports its calls to the metrics.
  let router: ModelRouter | undefined;
  const metrics = new Metrics(
    VERSION,
    () => router?.chain.map((l) => ({ provider: l.provider.name, state: l.circuit })) ?? [],
    store,
  );
  router = new ModelRouter(config.api, metrics);
  router.discover(config.api.modelsRefreshMs, (provider, reason) =>
    log.info('the models a provider serves cannot be listed: any name is tried there', { provider, reason }),
  );
  const model = router;
  // Shared by every instance on the store; a local share of the limit while it cannot be reached.
  const limiter = new RateLimit(
    config.api.rateLimitScope === 'shared' ? store : undefined,
    { ...config.api.rateLimit, instances: instancesOnThisMachine() },
    (shared, error) => {
      if (shared) log.info('rate limit shared again across instances');
      else log.warn('rate limit kept locally: the shared windows cannot be reached', { error });
    },
  );
  const pipeline = new Pipeline({
    store,
    router: model,
    gatekeeper: new Gatekeeper(config.api.patterns),
    limiter,
    metrics,
    config: config.api,
    prices: new Prices(config.api.prices),
    cache: new AnswerCache(store, config.api.cache, metrics),
  });
  const reach = model.chain.map((l) => ({
    name: l.provider.name,
    watch: watchReachability(l.provider.endpoint),
  }));
  const checks = {
    ...store.checks(),
    rate_limit: () => limiter.health(),
    // Up while any provider of the chain can answer; each one's circuit and reachability shown.
    model: () => {
      const providers = model.chain.map((l, i) => {
        const r = (reach[i] as (typeof reach)[number]).watch.get();
        const down = l.circuit === 'open' || r.state === 'unreachable';
        return {
          name: l.provider.name,
          status: down ? ('down' as const) : ('up' as const),
          circuit: l.circuit,
          reachable: r.state,
          ...(r.error ? { error: r.error } : {}),
        };
      });
      const primary = providers[0] as (typeof providers)[number];
      const up = providers.some((p) => p.status === 'up');
      return {
        status: up ? ('up' as const) : ('down' as const),
        provider: primary.name,
        circuit: primary.circuit,
        reachable: primary.reachable,
        ...(primary.error ? { error: primary.error } : {}),
        ...(providers.length > 1 ? { providers } : {}),
      };
    },
  };
  return {
    checks,
    metrics,
    limiter,
    universal: { config: config.api, pipeline, store, router: model, keys },
  };
}

/** The instances the supervisor runs on this machine (ROBBIE_INSTANCES, handed over by it), else 1. */
function instancesOnThisMachine(): number {
  const n = Number(process.env.ROBBIE_INSTANCES);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/**
 * Opens the store and applies migrations. PostgreSQL being down is not fatal: the API serves in
 * degraded mode and migrates once the database is back. A local store that cannot open is fatal.
 */
async function openAndMigrate(
  config: ServeConfig,
  log: Logger,
  events: StorageEvents | undefined,
  alone: () => boolean,
): Promise<Store> {
  privateDir(config.home, 'state directory');
  let store: Store;
  try {
    store = openStore({ databaseUrl: config.databaseUrl, home: config.home, alone }, log, events);
  } catch (err) {
    if (err instanceof StorageUnavailableError) throw new UserError(err.message);
    throw err;
  }
  try {
    const version = await store.migrate();
    log.info('storage ready', { store: store.kind, schema_version: version });
  } catch (err) {
    const { reason, outage } = store.describeError(err);
    if (!store.degradable) throw new UserError(`the local store cannot be prepared: ${reason}`);
    log.warn(
      outage
        ? 'database unreachable at start: serving in degraded mode, writes go to the outbox'
        : 'database schema cannot be prepared at start: serving in degraded mode, writes go to the outbox',
      { error: reason },
    );
  }
  store.start();
  return store;
}

async function warmUp(port: number): Promise<void> {
  for (const path of ['/livez', '/readyz', '/livez', '/readyz']) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
    } catch {
      // a warm-up that fails changes nothing
    }
  }
}

/**
 * `shared`: a supervised child shares the port with its supervisor's other children (instances,
 * reload, a standby taking over); a serve started by hand takes it alone, so a second one on the
 * same port fails instead of silently splitting the traffic.
 */
async function listenPublic(
  http: HttpServer,
  config: ServeConfig,
  log: Logger,
  shared: boolean,
): Promise<number> {
  try {
    const port = await http.listen({ host: config.host, port: config.port, reusePort: shared });
    log.info('listening', { url: httpUrl(config.host, port), version: VERSION, pid: process.pid });
    if (config.api.apiKeys.length === 0) log.info('no static API keys: a public address is refused');
    return port;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new UserError(`port ${config.port} on ${config.host} is already in use`);
    if (code === 'EACCES') throw new UserError(`no permission to listen on ${config.host}:${config.port}`);
    if (code === 'EADDRNOTAVAIL')
      throw new UserError(`address ${config.host} is not available on this machine`);
    throw err;
  }
}
