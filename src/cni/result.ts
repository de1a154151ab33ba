// The ADD result, kept in CNI 1.x shape and printed in the version the configuration asked for: before
// 1.0.0 each IP also says its version ("4" or "6"); otherwise the shape is the same back to 0.3.0.
import net from 'node:net';
import { CniError, CNI_CODES } from './errors.js';
import { SUPPORTED_VERSIONS } from './conf.js';

export interface IpConfig {
  interface?: number;
  address: string;
  gateway?: string;
}
export interface Result {
  interfaces: { name: string; mac: string; sandbox?: string }[];
  ips: IpConfig[];
  routes: { dst: string; gw?: string }[];
  dns?: unknown;
}

/** An IPAM plugin's result (any supported version) in the 1.x shape. */
export function fromIpam(o: unknown): Pick<Result, 'ips' | 'routes' | 'dns'> {
  const r = (o ?? {}) as { ips?: (IpConfig & { version?: string })[]; routes?: Result['routes']; dns?: unknown };
  return {
    ips: (r.ips ?? []).map(({ version: _v, ...ip }) => ip),
    routes: r.routes ?? [],
    ...(r.dns && Object.keys(r.dns as object).length ? { dns: r.dns } : {}),
  };
}

export function checkVersion(v: string): void {
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(v))
    throw new CniError(CNI_CODES.incompatibleVersion, `incompatible CNI versions: config is "${v}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`);
}

export function printable(r: Result, cniVersion: string): object {
  const old = cniVersion.startsWith('0.');
  return {
    cniVersion,
    interfaces: r.interfaces,
    ...(r.ips.length ? { ips: r.ips.map((ip) => (old ? { version: net.isIP(ip.address.split('/')[0]!) === 6 ? '6' : '4', ...ip } : ip)) } : {}),
    ...(r.routes.length ? { routes: r.routes } : {}),
    dns: r.dns ?? {},
  };
}
