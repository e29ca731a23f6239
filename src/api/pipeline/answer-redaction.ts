/**
 * Post-flight: secrets in a model's answer are removed from the answer itself (the original computed
 * a filtered text and returned the unfiltered one, defect 15): assignments of passwords, keys,
 * tokens and secrets, and common credential formats.
 */
const SECRET_NAMES =
  'password|passwd|pwd|secret|api[_-]?key|access[_-]?key|token|auth[_-]?token|client[_-]?secret';

/**
 * How every rule below can begin, written out (lower case): a streamed word that is none of these,
 * nor the beginning of one, can be let out before it is finished (stream-redaction.ts). Kept
 * beside the rules it mirrors; a unit test checks each rule's example against it.
 */
export const SECRET_STARTS: readonly string[] = [
  ...['password', 'passwd', 'pwd', 'secret', 'token'],
  ...['api', 'access', 'auth', 'client'].flatMap((p) => {
    const rest = { api: ['key'], access: ['key'], auth: ['token'], client: ['secret'] }[p] as string[];
    return rest.flatMap((r) => [`${p}${r}`, `${p}_${r}`, `${p}-${r}`]);
  }),
  'sk-',
  'akia',
  ...['p', 'o', 'u', 's', 'r'].map((c) => `gh${c}_`),
  ...['a', 'b', 'p', 'r', 's'].map((c) => `xox${c}-`),
  '-----begin ',
];

/** Text ending in a secret's name and its separator, its value still to come (for streamed answers). */
export const SECRET_NAME_AT_END = new RegExp(`\\b(?:${SECRET_NAMES})["']?\\s*(?:[:=]\\s*["']?)?$`, 'iu');

/** Text ending in a secret's name, its separator and (part of) its value: nothing of it may go yet. */
export const SECRET_VALUE_AT_END = new RegExp(
  `\\b(?:${SECRET_NAMES})["']?\\s*(?:[:=]\\s*["']?[^\\s"',;]*)?$`,
  'iu',
);

/** The kinds a private key block may name (`-----BEGIN RSA PRIVATE KEY-----`), or none. */
const PRIVATE_KEY_KINDS = ['RSA ', 'EC ', 'OPENSSH '];
const keyLine = (edge: string) => `-----${edge} (?:${PRIVATE_KEY_KINDS.join('|')})?PRIVATE KEY-----`;
/** How a private key block ends: a streamed answer holds a block back until this line. */
export const PRIVATE_KEY_FOOTER = new RegExp(keyLine('END'));
/** The longest text PRIVATE_KEY_FOOTER matches. */
export const PRIVATE_KEY_FOOTER_LONGEST =
  '-----END '.length + Math.max(...PRIVATE_KEY_KINDS.map((k) => k.length)) + 'PRIVATE KEY-----'.length;

const RULES: { re: RegExp; replace: string }[] = [
  {
    re: new RegExp(`\\b((?:${SECRET_NAMES})["']?\\s*[:=]\\s*["']?)([^\\s"',;]{3,})`, 'giu'),
    replace: '$1[REDACTED]',
  },
  { re: /\bsk-(?:proj-)?[A-Za-z0-9_-]{16,}\b/g, replace: '[REDACTED]' },
  { re: /\bAKIA[0-9A-Z]{16}\b/g, replace: '[REDACTED]' },
  { re: /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, replace: '[REDACTED]' },
  { re: /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/g, replace: '[REDACTED]' },
  // From `://` on, not from the scheme: a stream may have let the scheme's letters out already
  // (`post`, `gres` cannot begin a secret), and the credentials must still be caught.
  { re: /(:\/\/[^\s:/@]+:)([^\s@/]+)@/g, replace: '$1[REDACTED]@' },
  {
    re: new RegExp(`${keyLine('BEGIN')}[\\s\\S]*?${keyLine('END')}`, 'g'),
    replace: '[REDACTED PRIVATE KEY]',
  },
];

/**
 * Something every rule's match contains (case aside): how a rule begins, or a URL's `://`. One
 * search tells whether any rule can apply, instead of seven passes over every answer and every
 * summary for the request log.
 */
const ANY_RULE = new RegExp(
  [...SECRET_STARTS, '://'].map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'),
  'iu',
);

export function redactAnswer(text: string): { text: string; redactions: number } {
  if (!ANY_RULE.test(text)) return { text, redactions: 0 };
  let out = text;
  let redactions = 0;
  for (const { re, replace } of RULES) {
    out = out.replace(re, (...args: unknown[]) => {
      redactions++;
      const groups = args.slice(1, -2) as (string | undefined)[];
      return replace.replace(/\$(\d)/g, (_, n: string) => groups[Number(n) - 1] ?? '');
    });
  }
  return { text: out, redactions };
}

/** The most characters of a text the request log keeps. */
const SUMMARY = 200;

/** At most SUMMARY characters of a text for the request log, with secrets removed word by word. */
export function summarize(text: string): string {
  return summarizeRedacted(redactAnswer(text).text);
}

/**
 * At most SUMMARY characters of a text already redacted (an answer, after the pipeline's
 * post-flight redaction), whitespace runs made one space. Only as much of the text is read as the
 * summary needs: a streamed answer can be megabytes, and 500 streams ending together each paid
 * for a redaction and a whitespace pass over all of theirs (0.45 ms apiece at 40 KB) while the
 * streams still open waited.
 */
export function summarizeRedacted(text: string): string {
  let clean = '';
  for (let take = 4 * SUMMARY; ; take *= 4) {
    clean = text.slice(0, take).replace(/\s+/g, ' ').trimStart();
    // Past SUMMARY characters, the rest of the text cannot change the first SUMMARY of them.
    if (clean.length > SUMMARY) return `${clean.slice(0, SUMMARY)}...`;
    if (take >= text.length) return clean.trimEnd();
  }
}
