// Configuration errors: the kernel's errno for the same mistake (spec §11), and a message that names the
// problem and the fix. Thrown before anything changes, or after everything was rolled back.
import os from 'node:os';

export type ErrnoCode =
  | 'EINVAL' | 'ENODEV' | 'EEXIST' | 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EBUSY' | 'EPERM' | 'ENOENT' | 'EOPNOTSUPP' | 'ERANGE' | 'EIO';

export class ConfigError extends Error {
  readonly errno: number;
  constructor(readonly code: ErrnoCode, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.errno = -(os.constants.errno as Record<string, number>)[code]!;
  }
}

const STRERROR: Record<string, ErrnoCode> = {
  'File exists': 'EEXIST',
  'Invalid argument': 'EINVAL',
  'No such device': 'ENODEV',
  'Cannot find device': 'ENODEV',
  'Address already in use': 'EADDRINUSE',
  'Cannot assign requested address': 'EADDRNOTAVAIL',
  'Operation not permitted': 'EPERM',
  'Device or resource busy': 'EBUSY',
  'No such file or directory': 'ENOENT',
  'Operation not supported': 'EOPNOTSUPP',
  'Numerical result out of range': 'ERANGE',
};

/** The errno code iproute2's stderr names, if any. */
export function codeFromIpStderr(stderr: string): ErrnoCode {
  for (const [text, code] of Object.entries(STRERROR)) if (stderr.includes(text)) return code;
  if (/mtu (less|greater) than device (minimum|maximum)/.test(stderr)) return 'EINVAL';
  return 'EIO';
}
