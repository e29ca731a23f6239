/**
 * The V8 heap robbie's serving child runs with. V8 sizes its young generation by the allocation
 * rate, up to 128 MiB on a 64-bit Node; a server whose many streams and requests allocate fast
 * keeps it there, in resident memory. Bounded at 8 MiB a semi-space (16 MiB in all), 500 open
 * streams took +80 KiB of RSS apiece instead of +160 KiB, and the serving child under 32
 * connections 215 MB instead of 310 MB, for about 4% of its requests per second (six interleaved
 * rounds: inside the rounds' own spread). `npm run bench -- streams` and `-- gateway` show both.
 *
 * The supervisor starts its built-in child with these (Node reads NODE_OPTIONS, the single
 * executable included; Deno reads DENO_V8_FLAGS). A bound the user gives there is kept.
 */
export const SERVING_SEMI_SPACE_MB = 8;

const FLAG = '--max-semi-space-size';

/** `env` with the serving heap's bound added to the runtime's options, unless it sets its own. */
export function withServingHeap(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const flag = `${FLAG}=${SERVING_SEMI_SPACE_MB}`;
  const join = (given: string | undefined, separator: string): string =>
    given?.includes(FLAG) ? given : given?.trim() ? `${given}${separator}${flag}` : flag;
  return { ...env, NODE_OPTIONS: join(env.NODE_OPTIONS, ' '), DENO_V8_FLAGS: join(env.DENO_V8_FLAGS, ',') };
}
