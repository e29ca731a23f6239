/**
 * The unit templates from the top-level systemd/ and launchd/ folders. The build embeds them in
 * the binary (esbuild `define`); from source they are read next to the code.
 */
import { readFileSync } from 'node:fs';

export type TemplateName = 'systemd-system' | 'systemd-user' | 'launchd';

const FILES: Record<TemplateName, string> = {
  'systemd-system': 'systemd/robbie.service',
  'systemd-user': 'systemd/robbie-user.service',
  launchd: 'launchd/dev.robbie.supervise.plist',
};

declare const __ROBBIE_TEMPLATES__: Record<string, string> | undefined;

export const TEMPLATE_FILES = FILES;

export function template(name: TemplateName): string {
  if (typeof __ROBBIE_TEMPLATES__ !== 'undefined') {
    const text = __ROBBIE_TEMPLATES__[name];
    if (text !== undefined) return text;
  }
  return readFileSync(new URL(`../../${FILES[name]}`, import.meta.url), 'utf8');
}

/** Fills `{{name}}` placeholders; every placeholder must have a value. */
export function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`template value ${key} missing`);
    return v;
  });
}
