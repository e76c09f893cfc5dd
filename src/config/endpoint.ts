/**
 * `endpoint: host[:port]`, checked at load so that a value that cannot work
 * (`127.0.0.1:99999`, `:0`, a host starting with `-`) is refused with the
 * file and line, instead of failing every poll as `network`.
 *
 * host: a DNS name (labels of letters, digits and `-`, not starting or
 * ending with `-`, at most 63 characters each and 253 in all, an optional
 * final dot), an IPv4 address, or an IPv6 address in brackets.
 * port: 1 to 65535, decimal.
 */
import net from 'node:net';
import { quote } from '../yaml/issues.js';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export interface Endpoint {
  readonly host: string;
  readonly port?: number;
}

/** The endpoint's parts, or why it is not one. */
export function parseEndpoint(value: string): { ok: true; endpoint: Endpoint } | { ok: false; reason: string } {
  const bad = (why: string) => ({ ok: false as const, reason: `${quote(value)} is not host or host:port: ${why}` });
  if (value === '') return bad('it is empty');
  if (/\s/.test(value)) return bad('it contains white space');
  if (value.includes('://')) return bad('write it without a scheme (set protocol: instead)');
  if (/[/?#@]/.test(value)) return bad('write it without a path, query or user name');

  let host: string;
  let portText: string | undefined;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return bad('the "[" of an IPv6 address is not closed');
    host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return bad('only ":port" may follow "]"');
    portText = rest === '' ? undefined : rest.slice(1);
    if (!net.isIPv6(host)) return bad('not an IPv6 address between the brackets');
  } else {
    const colons = value.split(':').length - 1;
    if (colons > 1) return bad('an IPv6 address goes in brackets, e.g. [::1]:8080');
    [host, portText] = colons === 1 ? (value.split(':') as [string, string]) : [value, undefined];
    if (host === '') return bad('the host is missing');
    const name = host.endsWith('.') ? host.slice(0, -1) : host;
    if (/^[\d.]+$/.test(name)) {
      if (!net.isIPv4(name)) return bad('not a valid IPv4 address');
    } else {
      if (name.length > 253) return bad('the host name is longer than 253 characters');
      const labels = name.split('.');
      if (labels.some((l) => !LABEL.test(l))) {
        return bad('each dot-separated part of the host name needs 1 to 63 letters, digits or "-", and cannot start or end with "-"');
      }
    }
  }
  if (portText === undefined) return { ok: true, endpoint: { host } };
  if (!/^\d{1,5}$/.test(portText)) return bad('the port must be a number from 1 to 65535');
  const port = Number(portText);
  if (port < 1 || port > 65535) return bad(`port ${port} is out of range (1 to 65535)`);
  return { ok: true, endpoint: { host, port } };
}
