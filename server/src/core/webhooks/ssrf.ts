// Where a webhook may be sent. An admin registers the URL, but whoever can
// make a hostname resolve somewhere (or an admin's slip) could otherwise make
// the worker POST into the private network: the cloud metadata service, the
// database, an internal admin panel. Only public unicast addresses are
// allowed, unless WEBHOOK_ALLOW_PRIVATE_NETWORKS=true.
//
// The check runs twice: when the endpoint is saved (an early, clear error),
// and on every delivery inside the socket's own DNS lookup, so the address
// that was checked is the address connected to (no rebinding in between).
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { AppError } from '../errors.ts';

// Ranges ipaddr.js files under "unicast" that are not the public internet.
const EXTRA_BLOCKED = [
  ipaddr.parseCIDR('198.18.0.0/15'), // benchmarking
  ipaddr.parseCIDR('192.0.0.0/24'), // IETF protocol assignments
];

/**
 * Why `address` is not a public unicast address, or null when it is. IPv4
 * written inside IPv6 (`::ffff:10.0.0.1`) is judged as the IPv4 it carries;
 * IPv4-compatible (`::10.0.0.1`), NAT64, 6to4 and Teredo forms are refused,
 * as they can carry any IPv4.
 */
export function privateRange(address: string): string | null {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address.replace(/^\[|\]$/g, ''));
  } catch {
    return 'not an IP address';
  }
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  const range = ip.range();
  if (range !== 'unicast') return range;
  // IPv4-compatible (::a.b.c.d, deprecated): routed to IPv4 where a tunnel exists.
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0)) return 'IPv4-compatible';
  if (ip.kind() === 'ipv4' && EXTRA_BLOCKED.some(([net, bits]) => net.kind() === 'ipv4' && (ip as ipaddr.IPv4).match(net as ipaddr.IPv4, bits))) return 'reserved';
  return null;
}

export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError';
}

function refusal(host: string, address: string, range: string): string {
  const shown = host === address ? address : `${host} (${address})`;
  return `${shown} is not a public address (${range}); webhooks go to public addresses only (set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true to allow it)`;
}

/** The literal IP of a URL's host, or null for a name. */
function literalIp(hostname: string): string | null {
  const bare = hostname.replace(/^\[|\]$/g, '');
  return ipaddr.isValid(bare) ? bare : null;
}

/**
 * Checks a URL's host before it is saved: a literal address directly, a name
 * by resolving it (every address it resolves to must be public). Throws
 * BAD_REQUEST on `field`.
 */
export async function assertPublicUrl(url: URL, allowPrivate: boolean, field = 'url'): Promise<void> {
  if (allowPrivate) return;
  const literal = literalIp(url.hostname);
  const addresses = literal
    ? [literal]
    : await dns.promises.lookup(url.hostname, { all: true, verbatim: true }).then(
        (all) => all.map((a) => a.address),
        (err: NodeJS.ErrnoException) => {
          throw new AppError('BAD_REQUEST', `${field}: ${url.hostname} does not resolve (${err.code ?? 'DNS error'})`, { field });
        },
      );
  for (const address of addresses) {
    const range = privateRange(address);
    if (range) throw new AppError('BAD_REQUEST', `${field}: ${refusal(url.hostname, address, range)}`, { field });
  }
}

/** Refuses a literal private address before connecting (a socket skips the lookup for those). */
export function assertPublicLiteral(url: URL, allowPrivate: boolean): void {
  if (allowPrivate) return;
  const literal = literalIp(url.hostname);
  const range = literal && privateRange(literal);
  if (range) throw new BlockedAddressError(refusal(literal, literal, range));
}

/**
 * A DNS lookup for sockets that fails when any resolved address is private:
 * the connection then uses only addresses that were checked.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as dns.LookupAddress[];
      if (!allowPrivate) {
        for (const a of list) {
          const range = privateRange(a.address);
          if (range) return callback(new BlockedAddressError(refusal(hostname, a.address, range)), '', 0);
        }
      }
      if (list.length === 0) return callback(Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}
