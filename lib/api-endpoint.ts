/**
 * The API endpoint a machine advertises in its machine record: its fleetd's TCP listener
 * (api_tcp_address), as a URL other machines and fleetctl can dial. Pure.
 *
 *   api_tcp_address=10.0.0.2:49153 + api_tls_certfile   -> https://10.0.0.2:49153
 *   api_tcp_address=:49153, public_ip=10.0.0.2           -> http://10.0.0.2:49153 (no TLS)
 *   no api_tcp_address, or a wildcard host and no public_ip -> undefined (nothing to advertise)
 */
import type { FleetConfig } from './config.js';

const WILDCARD = new Set(['', '0.0.0.0', '::', '[::]']);

export function advertisedApiEndpoint(
  cfg: Pick<FleetConfig, 'apiTcpAddress' | 'apiTlsCertFile' | 'publicIp'>,
): string | undefined {
  const tcp = cfg.apiTcpAddress;
  if (!tcp) return undefined;
  const host = WILDCARD.has(tcp.host) ? (cfg.publicIp ?? '') : tcp.host;
  if (host === '') return undefined;
  const scheme = cfg.apiTlsCertFile ? 'https' : 'http';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${tcp.port}`;
}
