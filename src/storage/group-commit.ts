/**
 * Group commit: writes that arrive while a commit is under way wait and go together in the next
 * one, so N concurrent clients cost about one commit (one fsync, one round trip) instead of N.
 * The commit answers per item — a value, or an Error for that item alone — so one write the
 * database refuses fails only its own caller, never its neighbours in the batch.
 */
export class GroupCommit<T, R = void> {
  readonly #commit: (items: T[]) => Promise<(R | Error)[]>;
  readonly #maxBatch: number;
  readonly #gather: () => boolean;
  #queue: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  #running = false;

  /**
   * `gather`: whether others may write this event-loop turn (default: always), worth a turn's wait
   * for them to join the first batch.
   */
  constructor(
    commit: (items: T[]) => Promise<(R | Error)[]>,
    maxBatch = 500,
    gather: () => boolean = () => true,
  ) {
    this.#commit = commit;
    this.#maxBatch = maxBatch;
    this.#gather = gather;
  }

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    // Let the writes of this event-loop turn join the first batch.
    if (this.#gather()) await new Promise((r) => setImmediate(r));
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      try {
        const results = await this.#commit(batch.map((b) => b.item));
        batch.forEach((b, i) => {
          const r = results[i] as R | Error;
          if (r instanceof Error) b.reject(r);
          else b.resolve(r);
        });
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.#running = false;
  }
}
