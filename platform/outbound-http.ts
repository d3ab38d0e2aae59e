/**
 * Outbound HTTP to the backend's URLs (webhook steps, notifications) reaches public addresses only:
 * no loopback, private, link-local (cloud metadata at 169.254.169.254), multicast, unspecified or
 * otherwise reserved address, IPv4 or IPv6. The check runs on the address actually connected to
 * (undici's connect.lookup), so a name that resolves to a public address when registered and to
 * 127.0.0.1 when called (DNS rebinding) is refused too. Redirects are not followed and the
 * response read is capped. WEBHOOK_ALLOW_PRIVATE=true lifts the address check.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(net, prefix, 'ipv6');

/** Why this IP may not be called, or null when it is a public address. */
export function refusedAddress(ip: string): string | null {
  const family = isIP(ip);
  if (family === 0) return `${ip} is not an IP address`;
  if (family === 6) {
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms are judged by their IPv4 address.
    const mapped = /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
    if (mapped) return refusedAddress(mapped);
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
    if (hex) {
      const n = (parseInt(hex[1]!, 16) << 16) | parseInt(hex[2]!, 16);
      return refusedAddress([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'));
    }
  }
  return blocked.check(ip, family === 4 ? 'ipv4' : 'ipv6') ? `${ip} is not a public address (loopback, private, link-local, multicast or reserved)` : null;
}

export class RefusedAddressError extends Error {
  constructor(
    readonly host: string,
    reason: string,
  ) {
    super(`refused ${host}: ${reason}`);
    this.name = 'RefusedAddressError';
  }
}

const bareHost = (hostname: string) => hostname.replace(/^\[|\]$/g, '');

/** Every address the host resolves to, each refused or not (registration: refuse if any is). */
export async function checkHost(hostname: string): Promise<string | null> {
  const host = bareHost(hostname);
  if (isIP(host)) return refusedAddress(host);
  const addresses = await new Promise<LookupAddress[]>((resolve, reject) => dnsLookup(host, { all: true }, (err, list) => (err ? reject(err) : resolve(list))));
  for (const { address } of addresses) {
    const reason = refusedAddress(address);
    if (reason) return `${host} resolves to ${reason}`;
  }
  return null;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that fails for any non-public answer: the socket never opens to it. */
function guardedLookup(hostname: string, options: { all?: boolean }, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    for (const { address } of addresses) {
      const reason = refusedAddress(address);
      if (reason) return callback(Object.assign(new RefusedAddressError(hostname, reason), { code: 'EREFUSEDADDRESS' }), []);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
}

export interface OutboundHttpOptions {
  allowPrivate: boolean;
  timeoutMs?: number;
}

/**
 * `fetch` that refuses non-public addresses (unless allowed) and follows no redirect (a 3xx is
 * the answer). Read its responses with `readCapped`.
 */
export function createOutboundFetch(opts: OutboundHttpOptions): typeof fetch {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const dispatcher = new Agent({
    connect: { timeout: timeoutMs, ...(opts.allowPrivate ? {} : { lookup: guardedLookup as never }) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const guarded = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const target = new URL(input instanceof Request ? input.url : input);
    if (!opts.allowPrivate && isIP(bareHost(target.hostname))) {
      // An IP literal is connected to without a lookup: judge it here.
      const reason = refusedAddress(bareHost(target.hostname));
      if (reason) throw new RefusedAddressError(target.hostname, reason);
    }
    try {
      return (await undiciFetch(target, { ...(init as object), redirect: 'manual', dispatcher })) as unknown as Response;
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      throw cause instanceof RefusedAddressError ? cause : err;
    }
  };
  return guarded as typeof fetch;
}

/** At most `maxBytes` of a response body, as text; the rest is never read. */
export async function readCapped(res: Response, maxBytes = 4096): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}
