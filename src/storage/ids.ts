/**
 * The ids robbie makes for what it stores — rows, and the request ids of requests that came
 * without one: UUIDs of version 7 (RFC 9562), whose first 48 bits are the time in milliseconds, so
 * an index on them grows at its end as the table does. A random (version 4) id lands anywhere in
 * its index: each row dirtied a page of its own there. Measured on SQLite (WAL, commits of 16
 * rows, 50,000 rows already in, ids and request ids both): 12.6 KiB of WAL and 43 µs of CPU per
 * row with random ids, 3.6 KiB and 24–35 µs with these.
 *
 * Made here from a random UUID (Node's, drawn from a pool of entropy) with the time written over
 * its first 48 bits: 0.6 µs a call, where the `uuid` package's v7 took 5 µs a call (it asks the system
 * for randomness every time). Ids made in the same millisecond are in random order among
 * themselves: they still land together at the index's end.
 */
import { randomUUID } from 'node:crypto';

export function newId(): string {
  const ms = Date.now().toString(16).padStart(12, '0');
  // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx: the time over the first 12 digits, 7 over the version.
  return `${ms.slice(0, 8)}-${ms.slice(8)}-7${randomUUID().slice(15)}`;
}
