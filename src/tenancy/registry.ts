/**
 * Resolves a presented API key to its principal, from memory: the static keys and every key in the
 * store, by digest (a hash and a map lookup). A change made through any instance reaches this one
 * by the store's notification (PostgreSQL, at once) or by a poll of what changed since the last
 * rev it saw (every POLL_MS), so a revoked key stops working everywhere within a second.
 */
import type { Logger } from '../logger/logger.ts';
import type { KeyStore } from '../storage/types.ts';
import { ANONYMOUS, keyDigest, type Principal, principalOf, staticPrincipals } from './principal.ts';

const POLL_MS = 250;

export type Resolution =
  | { ok: true; principal: Principal }
  | { ok: false; why: 'missing' | 'invalid' | 'revoked' | 'expired' | 'unavailable' };

export class KeyRegistry {
  readonly #static = new Map<string, Principal>();
  readonly #byDigest = new Map<string, Principal>();
  /** The digest each stored key is known by, to forget the old one when a key is rotated. */
  readonly #digestOf = new Map<string, string>();
  readonly #store: KeyStore | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  #rev = 0;
  #loaded = false;
  #refreshing: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    staticKeys: readonly string[],
    store: KeyStore | undefined,
    log: Logger,
    now: () => number = Date.now,
  ) {
    for (const { digest, principal } of staticPrincipals(staticKeys)) this.#static.set(digest, principal);
    this.#store = store;
    this.#log = log;
    this.#now = now;
  }

  /** Loads the stored keys and keeps them current; a store that cannot answer yet is asked again. */
  async start(): Promise<void> {
    const store = this.#store;
    if (!store) return;
    store.onKeysChanged(() => void this.refresh());
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), POLL_MS);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /**
   * Whether callers must present a key: some key exists, static or stored (revoked ones too). Until
   * the stored keys can be read (PostgreSQL down at start) a service without static keys stays
   * open: it listens on loopback only, as a service without keys does.
   */
  get required(): boolean {
    return this.#static.size > 0 || this.#digestOf.size > 0;
  }

  resolve(presented: string | undefined): Resolution {
    if (!this.required) return { ok: true, principal: ANONYMOUS };
    if (!presented) return { ok: false, why: 'missing' };
    const digest = keyDigest(presented);
    const p = this.#static.get(digest) ?? this.#byDigest.get(digest);
    if (!p) return { ok: false, why: this.#loaded ? 'invalid' : 'unavailable' };
    if (p.revoked) return { ok: false, why: 'revoked' };
    if (p.expiresAt !== null && this.#now() >= p.expiresAt) return { ok: false, why: 'expired' };
    return { ok: true, principal: p };
  }

  /** Reads what changed since the last rev seen; concurrent calls share one read, and one more after it. */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = this.#read().finally(() => {
      this.#refreshing = undefined;
      if (this.#again) {
        this.#again = false;
        void this.refresh();
      }
    });
    return this.#refreshing;
  }

  async #read(): Promise<void> {
    const store = this.#store;
    if (!store) return;
    try {
      const { rev, keys } = await store.keysSince(this.#rev);
      for (const k of keys) {
        const old = this.#digestOf.get(k.id);
        if (old !== undefined) this.#byDigest.delete(old);
        this.#digestOf.set(k.id, k.digest);
        this.#byDigest.set(k.digest, principalOf(k));
      }
      this.#rev = rev;
      if (!this.#loaded)
        this.#log.info('API keys loaded', { stored: this.#digestOf.size, static: this.#static.size });
      this.#loaded = true;
    } catch (err) {
      if (!this.#loaded)
        this.#log.warn('API keys cannot be read yet: stored keys are refused until they can', {
          error: err instanceof Error ? err.message : String(err),
        });
    }
  }
}
