/** The gatekeeper's patterns file: `[{pattern, category, severity, reason}]`, checked entry by entry. */
import { settingJsonFile } from '../../config/json-file.ts';
import type { Resolved } from '../../config/resolve.ts';

export interface PatternConfig {
  pattern: string;
  category: string;
  severity: 'low' | 'medium' | 'high' | 'critical';
  reason: string;
}

const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;

function jsonArrayFile(
  s: Resolved,
  key: 'gatekeeper-patterns',
  shape: string,
): { items: unknown[]; refuse: (problem: string) => Error } | undefined {
  const file = settingJsonFile(s, key);
  if (!file) return undefined;
  if (!Array.isArray(file.parsed)) throw file.refuse(`must name a JSON array of ${shape}`);
  return { items: file.parsed, refuse: file.refuse };
}

/** The patterns of the file ROBBIE_GATEKEEPER_PATTERNS names, replacing the defaults; undefined when unset. */
export function loadPatterns(s: Resolved): PatternConfig[] | undefined {
  const file = jsonArrayFile(s, 'gatekeeper-patterns', '{pattern, category, severity, reason}');
  if (!file) return undefined;
  const { items, refuse } = file;
  return items.map((p, i) => {
    const o = p as Partial<PatternConfig>;
    if (typeof o.pattern !== 'string' || !o.pattern)
      throw refuse(`pattern ${i}: "pattern" must be a non-empty string`);
    try {
      new RegExp(o.pattern, 'iu');
    } catch {
      throw refuse(`pattern ${i}: not a valid regular expression`);
    }
    const severity = o.severity ?? 'medium';
    if (!SEVERITIES.includes(severity))
      throw refuse(`pattern ${i}: severity must be ${SEVERITIES.join(', ')}`);
    return {
      pattern: o.pattern,
      category: o.category ?? 'policy_violation',
      severity,
      reason: o.reason ?? 'matched a configured pattern',
    };
  });
}
