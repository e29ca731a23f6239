/**
 * The pre-flight gatekeeper: patterns matched on word boundaries, case-insensitively. The
 * original's phrases are kept where they signal an attack, but in the form of one — "ignore
 * previous instructions", "reveal your system prompt" — so ordinary words it used to reject on
 * their own ("disregard", "bypass", "hack", "sudo") pass (defect 17).
 */
import type { PatternConfig } from './patterns-file.ts';

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface Finding {
  category: string;
  severity: Severity;
  reason: string;
  match: string;
}

export interface Verdict {
  approved: boolean;
  confidence: number;
  reasoning: string;
  warnings: string[];
  findings: Finding[];
  /** The worst finding; critical ones may trip the killswitch. */
  severity: Severity | null;
}

const W = String.raw`(?:\s+|\s*[-_]\s*)`;

export const DEFAULT_PATTERNS: PatternConfig[] = [
  {
    pattern: String.raw`\b(?:ignore|disregard|forget|override)${W}(?:all${W})?(?:of${W})?(?:the${W}|your${W}|any${W})?(?:previous|prior|above|earlier|preceding)${W}(?:instructions?|prompts?|rules|directions|guidelines)\b`,
    category: 'prompt_injection',
    severity: 'high',
    reason: 'asks to ignore previous instructions',
  },
  {
    pattern: String.raw`\b(?:reveal|show|print|repeat|output|leak|tell${W}me)${W}(?:me${W})?(?:your|the)${W}(?:system|hidden|initial)${W}(?:prompt|instructions)\b`,
    category: 'prompt_injection',
    severity: 'high',
    reason: 'asks for the system prompt',
  },
  {
    pattern: String.raw`\byou${W}are${W}now${W}(?:in${W})?(?:dan|developer${W}mode|jailbroken|unrestricted|unfiltered|evil)\b`,
    category: 'prompt_injection',
    severity: 'high',
    reason: 'tries to switch the assistant into an unrestricted role',
  },
  {
    pattern: String.raw`\b(?:pretend|act${W}as${W}if)${W}(?:that${W})?you${W}(?:have${W}no|are${W}not${W}bound${W}by|don'?t${W}have)${W}(?:any${W})?(?:rules|restrictions|limits|guidelines|filters)\b`,
    category: 'prompt_injection',
    severity: 'high',
    reason: 'asks the assistant to drop its rules',
  },
  {
    pattern: String.raw`\b(?:bypass|disable|circumvent|turn${W}off|get${W}around)${W}(?:the${W}|your${W}|all${W})?(?:safety|security|content)${W}(?:filters?|checks?|guardrails?|restrictions|measures)\b`,
    category: 'unsafe_action',
    severity: 'high',
    reason: 'asks to bypass safety measures',
  },
  {
    pattern: String.raw`\b(?:grant|give)${W}(?:me${W})?(?:root|admin(?:istrator)?)${W}(?:access|privileges|rights)\b`,
    category: 'unsafe_action',
    severity: 'medium',
    reason: 'asks for administrator access',
  },
  {
    pattern: String.raw`\bsudo${W}rm${W}-(?:rf|fr)${W}/(?:\s|$|\*)`,
    category: 'unsafe_action',
    severity: 'high',
    reason: 'asks to run a destructive command',
  },
  {
    pattern: String.raw`\b(?:write|create|build|develop)${W}(?:a${W}|an${W}|some${W})?(?:ransomware|keylogger|credential${W}stealer|botnet)\b`,
    category: 'policy_violation',
    severity: 'high',
    reason: 'asks for malware',
  },
];

const RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3, critical: 4 };

/** Invisible characters that split a word for a pattern but not for a reader (or a model). */
const INVISIBLE =
  /[\u00ad\u061c\u115f\u1160\u17b4\u17b5\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0]|\u034f|\u180b|\u180c|\u180d|\u180e|\u180f|[\ufe00-\ufe0f]/gu;

/**
 * The text as the patterns see it: compatibility-normalised (NFKC folds fullwidth and other
 * look-alike forms, ｉｇｎｏｒｅ → ignore) with invisible characters removed, so neither a
 * zero-width space nor fullwidth letters slip an instruction past a word-boundary pattern.
 */
export function comparable(input: string): string {
  return input.normalize('NFKC').replace(INVISIBLE, '');
}

export class Gatekeeper {
  readonly #rules: { re: RegExp; cfg: PatternConfig }[];

  constructor(patterns: PatternConfig[] = DEFAULT_PATTERNS) {
    this.#rules = patterns.map((cfg) => ({ re: new RegExp(cfg.pattern, 'iu'), cfg }));
  }

  review(input: string): Verdict {
    const findings: Finding[] = [];
    const text = comparable(input);
    for (const { re, cfg } of this.#rules) {
      const m = re.exec(text);
      if (m)
        findings.push({
          category: cfg.category,
          severity: cfg.severity,
          reason: cfg.reason,
          match: m[0].slice(0, 200),
        });
    }
    if (findings.length === 0) {
      return {
        approved: true,
        confidence: 0.95,
        reasoning: 'no unsafe pattern found',
        warnings: [],
        findings,
        severity: null,
      };
    }
    let worst = findings.reduce<Severity>((s, f) => (RANK[f.severity] > RANK[s] ? f.severity : s), 'low');
    // Several independent attack patterns at once: the original's "severe" case.
    if (findings.length >= 3) worst = 'critical';
    return {
      approved: false,
      confidence: Math.round(Math.min(0.99, 0.6 + 0.15 * findings.length) * 100) / 100,
      reasoning: `rejected: ${findings.map((f) => f.reason).join('; ')}`,
      warnings: findings.map((f) => `${f.category}: ${f.reason}`),
      findings,
      severity: worst,
    };
  }
}
