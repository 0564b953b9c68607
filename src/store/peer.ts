/**
 * Peers of the client-side cache: the origin an edge proxy connects onward
 * to, as TLS client. Syntax, in one canonical form so that one origin has
 * exactly one name:
 *
 *   peer = host ":" port [ "/" sni ]
 *   host = DNS name (lowercase) | IPv4 dotted quad | "[" IPv6 "]" (as URL prints it)
 *   port = 1..65535, no leading zero
 *   sni  = DNS name (lowercase), given only when it differs from host
 *
 * e.g. "origin.example.com:443", "10.0.0.1:443/sni.example.com",
 * "[2001:db8::1]:8443/origin.example.com".
 */
import { isHostName } from "../core/index.js";

/** host (253) + ":" + port (5) + "/" + sni (253). */
export const MAX_PEER_LENGTH = 253 + 1 + 5 + 1 + 253;

export interface Peer {
  host: string;
  port: number;
  sni: string | undefined;
}

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

function isDnsName(name: string): boolean {
  return name === name.toLowerCase() && isHostName(name);
}

function isCanonicalIpv6(bracketed: string): boolean {
  if (!/^\[[0-9a-f:.]{2,45}\]$/.test(bracketed)) return false;
  try {
    return new URL(`http://${bracketed}/`).hostname === bracketed;
  } catch {
    return false;
  }
}

/** The peer, or a message saying what is wrong with it. */
export function parsePeer(text: string): Peer | string {
  if (text.length === 0 || text.length > MAX_PEER_LENGTH) return `must be 1 to ${MAX_PEER_LENGTH} characters`;
  const m = /^(\[[^\]]*\]|[^:/[\]]+):([0-9]+)(?:\/(.+))?$/.exec(text);
  if (!m) return 'must be host:port or host:port/sni, e.g. "origin.example.com:443" or "10.0.0.1:443/sni.example.com"';
  const [, host, portText, sni] = m as unknown as [string, string, string, string | undefined];
  if (host.startsWith("[") ? !isCanonicalIpv6(host) : !IPV4.test(host) && !isDnsName(host)) {
    return "host must be a lowercase DNS name, an IPv4 address or a bracketed IPv6 address in canonical form";
  }
  const port = Number(portText);
  if (!/^[1-9][0-9]{0,4}$/.test(portText) || port > 65535) return "port must be 1 to 65535 without leading zeros";
  if (sni !== undefined) {
    if (!isDnsName(sni)) return "sni must be a lowercase DNS name";
    if (sni === host) return "sni is given only when it differs from host";
  }
  return { host, port, sni };
}
