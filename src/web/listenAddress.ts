/** The `--web.listen-address` flag, parsed as Go parses a listen address. */
import net from 'node:net';

export interface ListenAddress {
  /** Undefined means every interface (Go's `:port`). IPv6 without brackets. */
  host?: string;
  port: number;
}

/**
 * Parses a Go-style listen address: `:9717`, `0.0.0.0:9717`, `127.0.0.1:0`,
 * `[::1]:9717`, `localhost:9717`, `[fe80::1%eth0]:9717`.
 */
export function parseListenAddress(s: string): ListenAddress {
  const bad = (why: string): never => {
    throw new Error(`invalid listen address ${JSON.stringify(s)}: ${why}`);
  };
  const input = s.trim();
  if (input === '') bad('empty (expected host:port, e.g. ":9717" or "127.0.0.1:9717")');
  let host: string;
  let portStr: string;
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0) bad('missing "]" after the IPv6 address');
    host = input.slice(1, close);
    const rest = input.slice(close + 1);
    if (!rest.startsWith(':')) bad('missing port after "]" (expected e.g. "[::1]:9717")');
    portStr = rest.slice(1);
    const ip = host.split('%')[0] ?? '';
    if (!net.isIPv6(ip)) bad(`${JSON.stringify(host)} in brackets is not an IPv6 address`);
  } else {
    const colon = input.lastIndexOf(':');
    if (colon < 0) bad(`missing port (did you mean ":${input}"?)`);
    host = input.slice(0, colon);
    portStr = input.slice(colon + 1);
    if (host.includes(':')) bad('an IPv6 address needs brackets, e.g. "[::1]:9717"');
    if (host !== '' && !net.isIPv4(host) && !isHostname(host)) bad(`${JSON.stringify(host)} is neither an IP address nor a host name`);
  }
  if (!/^\d{1,5}$/.test(portStr)) bad(`port ${JSON.stringify(portStr)} is not a number`);
  const port = Number(portStr);
  if (port > 65535) bad(`port ${port} is out of range 0-65535`);
  return host === '' ? { port } : { host, port };
}

function isHostname(h: string): boolean {
  return h.length <= 253 && /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$/.test(h);
}
