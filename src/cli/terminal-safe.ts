/**
 * Text from outside (a request path in an access-log line, a child's output, a flag value) must
 * not drive the operator's terminal: every control character — C0 but tab, DEL, C1 (which some
 * terminals read as CSI), and the bidirectional overrides that reorder what is shown — is printed
 * as a visible escape instead. Newlines too: one record stays one line.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function terminalSafe(text: string): string {
  return text.replace(CONTROLS, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
