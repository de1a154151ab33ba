// Configuration errors: the kernel's errno for the same mistake (spec §11), and a message that names the
// problem and the fix. Thrown before anything changes, or after everything was rolled back.
import os from 'node:os';
import { isSystemError } from '../native.js';

const ERRNO = os.constants.errno as Record<string, number>;

export type ErrnoCode =
  | 'EINVAL' | 'ENODEV' | 'EEXIST' | 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EBUSY' | 'EPERM' | 'ENOENT' | 'EOPNOTSUPP' | 'ERANGE' | 'EIO'
  | 'ENOSPC' | 'ENOMEM' | 'E2BIG' | 'EACCES' | 'ENOBUFS' | 'ETIMEDOUT' | 'ENOTSUP';

export class ConfigError extends Error {
  readonly errno: number;
  constructor(readonly code: ErrnoCode, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.errno = -(ERRNO[code] ?? ERRNO.EIO!);
  }
}

/**
 * A kernel refusal (a Node-shaped error from the addon: errno, code, syscall, and the kernel's
 * extended-ack text when it gave one) as a ConfigError: "<what>: <strerror>[: <extack>]".
 */
export function kernelError(e: unknown, what: string): ConfigError | unknown {
  if (e instanceof ConfigError || !isSystemError(e)) return e;
  // The addon's message: "<syscall> <CODE>: <strerror> (<detail>)"; detail is the extack or a label.
  const m = /^\S+ [A-Z0-9]+: ([^(]*?)(?: \((.*)\))?$/.exec(e.message);
  const strerror = m?.[1] ?? e.message;
  const extack = m?.[2] && m[2] !== 'netlink' && !/^ifindex \d+$/.test(m[2]) ? `: ${m[2]}` : '';
  const code = (e.code in ERRNO ? e.code : 'EIO') as ErrnoCode;
  return new ConfigError(code, `${what}: ${strerror}${extack}`);
}

/** Runs fn; a kernel refusal becomes a ConfigError about `what`. */
export function orKernelError<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw kernelError(e, what);
  }
}
