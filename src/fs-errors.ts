/** File-system failures said plainly, for one-line errors (`EROFS` → "read-only file system"). */
const PLAIN: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'a file is in the way',
  ENOTDIR: 'a file is in the way',
  ENOENT: 'no such directory',
  EIO: 'disk I/O error',
};

export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (!code) return 'file system error';
  const plain = PLAIN[code];
  return plain ? `${plain} (${code})` : code;
}
