/**
 * What the dashboard shows, in one JSON document: the supervisor and its children (as `robbie
 * status --json` has them), the last hour of traffic, the providers and their circuits, the store
 * with its outbox and quarantine, the killswitch, and the latest requests. Every part is read from
 * its owner; a part that cannot be read now is `{ok: false, error}`, never a failed page.
 */
import type { KillswitchState } from '../../storage/killswitch.ts';
import type { RecentRequest, Store } from '../../storage/types.ts';
import { control } from '../../supervisor/control-client.ts';
import type { ControlAnswers } from '../../supervisor/control-protocol.ts';
import type { TrafficSeries } from '../../telemetry/traffic.ts';
import type { ModelRouter } from '../providers/model-router.ts';

/** The supervisor this API runs under, if any: its status and the traffic history it keeps. */
export interface SupervisorLink {
  status(): Promise<ControlAnswers['status']>;
  traffic(): Promise<TrafficSeries>;
  reload(): Promise<ControlAnswers['reload']>;
}

/** How long the page waits for the supervisor (it answers from memory in well under a millisecond). */
const SUPERVISOR_TIMEOUT_MS = 2000;

/** The supervisor on this state directory's control socket. */
export function supervisorLink(socket: string, home: string): SupervisorLink {
  return {
    status: () => control(socket, home, 'status', SUPERVISOR_TIMEOUT_MS),
    traffic: () => control(socket, home, 'traffic', SUPERVISOR_TIMEOUT_MS),
    // A rolling replacement waits for each new child to be ready.
    reload: () => control(socket, home, 'reload', 120_000),
  };
}

type Part<T> = { ok: true; value: T } | { ok: false; error: string };

async function part<T>(read: () => Promise<T>): Promise<Part<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (err) {
    // The owners' errors are written for operators (UserError, StorageUnavailableError): no internals.
    return { ok: false, error: err instanceof Error ? err.message.slice(0, 200) : 'unavailable' };
  }
}

/** The supervisor and its children as `robbie status --json` has them, without the state directory's paths. */
export interface StatusView {
  supervisor: Omit<ControlAnswers['status']['supervisor'], 'home' | 'control_socket'>;
  children: ControlAnswers['status']['children'];
}

function statusView(s: ControlAnswers['status']): StatusView {
  const { home: _home, control_socket: _socket, ...supervisor } = s.supervisor;
  return { supervisor, children: s.children };
}

interface SupervisorSnapshot {
  status: Part<StatusView>;
  traffic: Part<TrafficSeries>;
}

/** How often the supervisor is read again while the dashboard is open, and for how long after its last read. */
const REFRESH_MS = 250;
const WATCHED_MS = 10_000;

/**
 * The supervisor's status and traffic as of at most REFRESH_MS ago, read in the background while
 * someone looks, so the data endpoint answers from memory. Read on demand, each answer took two
 * round trips on the control socket, and under load each await waits its turn behind the
 * requests: 12 ms at p50 where /livez took 2.5 ms (`npm run bench -- dashboard`).
 */
export class SupervisorWatch {
  readonly #link: SupervisorLink;
  #last: (SupervisorSnapshot & { at: number }) | undefined;
  #lookedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;

  constructor(link: SupervisorLink) {
    this.#link = link;
  }

  get link(): SupervisorLink {
    return this.#link;
  }

  /** The latest snapshot; the first (or one after a pause of WATCHED_MS) waits for a fresh one. */
  async snapshot(): Promise<SupervisorSnapshot> {
    this.#lookedAt = performance.now();
    this.#timer ??= setInterval(() => {
      if (performance.now() - this.#lookedAt <= WATCHED_MS) {
        void this.#refresh();
        return;
      }
      clearInterval(this.#timer);
      this.#timer = undefined;
    }, REFRESH_MS).unref();
    const last = this.#last;
    if (last && performance.now() - last.at < 2 * REFRESH_MS) return last;
    await this.#refresh();
    return this.#last as SupervisorSnapshot;
  }

  #refresh(): Promise<void> {
    this.#reading ??= (async () => {
      const [status, traffic] = await Promise.all([
        part(async () => statusView(await this.#link.status())),
        part(() => this.#link.traffic()),
      ]);
      this.#last = { at: performance.now(), status, traffic };
    })().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }
}

export interface DashboardSources {
  version: string;
  store: Store;
  router: ModelRouter;
  /** Undefined under `robbie serve` alone. */
  supervisor: SupervisorWatch | undefined;
  /** This process's own history, when no supervisor keeps one. */
  localTraffic: () => TrafficSeries;
}

const RECENT = 20;

export interface DashboardData {
  time: string;
  version: string;
  supervised: boolean;
  status: Part<StatusView> | null;
  traffic: Part<TrafficSeries>;
  providers: { name: string; circuit: string }[];
  storage: Part<Awaited<ReturnType<Store['info']>>>;
  killswitch: Part<KillswitchState>;
  recent: Part<RecentRequest[]>;
}

export async function dashboardData(s: DashboardSources): Promise<DashboardData> {
  const sup = await s.supervisor?.snapshot();
  const [traffic, storage, killswitch, recent] = await Promise.all([
    sup ? Promise.resolve(sup.traffic) : part(async () => s.localTraffic()),
    part(() => s.store.info()),
    part(() => s.store.killswitch()),
    part(() => s.store.recentRequests(RECENT)),
  ]);
  return {
    time: new Date().toISOString(),
    version: s.version,
    supervised: sup !== undefined,
    status: sup ? sup.status : null,
    traffic,
    providers: s.router.chain.map((l) => ({ name: l.provider.name, circuit: l.circuit })),
    storage,
    killswitch,
    recent,
  };
}
