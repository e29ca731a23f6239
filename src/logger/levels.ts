/** The level names robbie writes, and how consola's log types map onto them. */
export type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export const LEVEL_RANK: Record<LevelName, number> = {
  fatal: 0,
  error: 1,
  warn: 2,
  info: 3,
  debug: 4,
  trace: 5,
};

export function levelFromConsolaType(type: string): LevelName {
  switch (type) {
    case 'fatal':
      return 'fatal';
    case 'error':
      return 'error';
    case 'warn':
      return 'warn';
    case 'debug':
      return 'debug';
    case 'trace':
    case 'verbose':
      return 'trace';
    default:
      return 'info';
  }
}

/** consola's numeric level for a robbie level name (consola: 0 error, 1 warn, 3 info, 4 debug, 5 trace). */
export function consolaLevel(name: LevelName): number {
  return { fatal: 0, error: 0, warn: 1, info: 3, debug: 4, trace: 5 }[name];
}

export function parseLevel(text: string | undefined): LevelName | undefined {
  if (!text) return undefined;
  const t = text.toLowerCase();
  return t in LEVEL_RANK ? (t as LevelName) : undefined;
}
