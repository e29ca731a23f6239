/**
 * What an alert says: the event, where it happened (host, service, child, pid), since when, and the
 * one command that shows more. Both channels (webhook, email) send the same words.
 */

export type AlertEvent =
  | 'crash'
  | 'hang'
  | 'cooldown'
  | 'recovery'
  | 'gave-up'
  | 'config-refused'
  | 'restart-rate'
  | 'database-down'
  | 'database-up'
  | 'quarantined'
  | 'log-failing'
  | 'test';

export interface Alert {
  event: AlertEvent;
  child?: string;
  message: string;
  [field: string]: unknown;
}

/** Where the alert comes from, added by the alerter. */
export interface Origin {
  host: string;
  /** The state directory: which robbie on the host. */
  service: string;
}

export interface Composed {
  subject: string;
  text: string;
  fields: Record<string, unknown>;
}

const TITLES: Record<AlertEvent, string> = {
  crash: 'crashed',
  hang: 'hung and was replaced',
  cooldown: 'keeps failing to start: cooling down',
  recovery: 'recovered',
  'gave-up': 'gave up restarting',
  'config-refused': 'configuration refused',
  'restart-rate': 'restarting at an abnormal rate',
  'database-down': 'database unreachable',
  'database-up': 'database reachable again',
  quarantined: 'outbox rows quarantined',
  'log-failing': 'log writes failing',
  test: 'test alert',
};

/** The one command that shows more about the event. */
export function seeMore(alert: Alert): string {
  const source = alert.child ? ` --source ${alert.child}` : '';
  switch (alert.event) {
    case 'crash':
    case 'hang':
    case 'restart-rate':
      return `robbie errors --since 15m${source}`;
    case 'config-refused':
      return 'robbie errors --since 15m';
    case 'database-down':
    case 'database-up':
    case 'quarantined':
      return 'robbie db status';
    default:
      return 'robbie status';
  }
}

export function compose(alert: Alert, origin: Origin, at: Date, suppressed: number): Composed {
  const where = alert.child ? ` ${alert.child}` : '';
  const subject = `[robbie] ${origin.host}${where}: ${TITLES[alert.event]}`;
  const lines = [
    alert.message,
    '',
    `host:     ${origin.host}`,
    `service:  robbie (${origin.service})`,
    ...(alert.child ? [`child:    ${alert.child}${alert.child_pid ? ` (pid ${alert.child_pid})` : ''}`] : []),
    `since:    ${typeof alert.since === 'string' ? alert.since : at.toISOString()}`,
    ...(suppressed ? [`and ${suppressed} similar alert(s) suppressed since the last one`] : []),
    `more:     ${seeMore(alert)}`,
  ];
  return {
    subject,
    text: lines.join('\n'),
    fields: {
      text: `robbie on ${origin.host}: ${alert.message}${suppressed ? ` (${suppressed} similar alerts suppressed)` : ''}`,
      ...alert,
      host: origin.host,
      service: origin.service,
      time: at.toISOString(),
      suppressed,
      more: seeMore(alert),
    },
  };
}
