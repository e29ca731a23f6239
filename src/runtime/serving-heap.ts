/**
 * The V8 heap robbie's serving child runs with. V8 sizes its young generation by the allocation
 * rate, up to 128 MiB on a 64-bit Node; a server whose many streams and requests allocate fast
 * keeps it there, in resident memory. Bounded at 16 MiB a semi-space (32 MiB in all), 500 open
 * streams took 115–120 KiB of RSS apiece instead of 156–166 KiB, and the serving child under 32
 * connections 219–249 MB instead of 305–326 MB, with no loss of requests per second that six
 * interleaved rounds could see. At 8 MiB open streams took 77–103 KiB, but the Anthropic route
 * lost up to a fifth of its requests per second to the scavenges: memory not worth that default.
 * `npm run bench -- streams` and `-- gateway` show both; bench/README.md has the rounds.
 *
 * The supervisor starts its built-in child with these (Node reads NODE_OPTIONS, the single
 * executable included; Deno reads DENO_V8_FLAGS). A bound the user gives there is kept.
 */
export const SERVING_SEMI_SPACE_MB = 16;

const FLAG = '--max-semi-space-size';

/** `env` with the serving heap's bound added to the runtime's options, unless it sets its own. */
export function withServingHeap(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const flag = `${FLAG}=${SERVING_SEMI_SPACE_MB}`;
  const join = (given: string | undefined, separator: string): string =>
    given?.includes(FLAG) ? given : given?.trim() ? `${given}${separator}${flag}` : flag;
  return { ...env, NODE_OPTIONS: join(env.NODE_OPTIONS, ' '), DENO_V8_FLAGS: join(env.DENO_V8_FLAGS, ',') };
}
