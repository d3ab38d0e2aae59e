/**
 * What keeps a flood of bad API keys cheap (docs/design.md §7.1): failed
 * authentications are counted per client address, and an address past its budget is refused
 * before any key lookup; keys found unknown are remembered, so repeating one costs no query.
 * In memory, per API process, with bounded sizes: an attacker with many addresses or keys evicts
 * the oldest entries instead of growing the heap.
 */
import { isIPv6 } from 'node:net';

const WINDOW_MS = 60_000;
/** Enough for every client of a large deployment; ~100 bytes each. */
const MAX_ADDRESSES = 100_000;
/** Unknown keys remembered (sha-256 hex of the key, ~150 bytes each). */
const MAX_UNKNOWN_KEYS = 100_000;
/** A key is minted at random, so one unknown now stays unknown: the TTL only bounds staleness of memory. */
const UNKNOWN_KEY_TTL_MS = 10 * 60_000;

/**
 * The budget's unit: the address itself for IPv4, its /64 for IPv6 (one subscriber usually holds
 * a whole /64, so counting single IPv6 addresses would let one host rotate past the limit).
 */
export function clientBucket(ip: string): string {
  if (!isIPv6(ip) || ip.toLowerCase().startsWith('::ffff:')) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** Deletes the oldest entries (Map order is insertion order) until there is room for one more. */
function makeRoom<K, V>(map: Map<K, V>, max: number): void {
  for (const key of map.keys()) {
    if (map.size < max) return;
    map.delete(key);
  }
}

export class AuthGuard {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();
  private readonly unknownKeys = new Map<string, number>();

  constructor(private readonly failuresPerMinute: number) {}

  /** Seconds until the address may try a key again; 0: it may now. */
  retryAfter(bucket: string, now: number): number {
    const window = this.failures.get(bucket);
    if (!window || window.resetAt <= now || window.count < this.failuresPerMinute) return 0;
    return Math.ceil((window.resetAt - now) / 1000);
  }

  recordFailure(bucket: string, now: number): void {
    const window = this.failures.get(bucket);
    if (window && window.resetAt > now) {
      window.count += 1;
      return;
    }
    // A new window goes to the end of the map, so the oldest windows are evicted first.
    this.failures.delete(bucket);
    makeRoom(this.failures, MAX_ADDRESSES);
    this.failures.set(bucket, { count: 1, resetAt: now + WINDOW_MS });
  }

  /** Takes back a failure recorded ahead of a lookup that found the key. */
  forgiveFailure(bucket: string, now: number): void {
    const window = this.failures.get(bucket);
    if (window && window.resetAt > now && window.count > 0) window.count -= 1;
  }

  isKnownUnknown(keyHash: string, now: number): boolean {
    const until = this.unknownKeys.get(keyHash);
    if (until === undefined) return false;
    if (until > now) return true;
    this.unknownKeys.delete(keyHash);
    return false;
  }

  rememberUnknown(keyHash: string, now: number): void {
    this.unknownKeys.delete(keyHash);
    makeRoom(this.unknownKeys, MAX_UNKNOWN_KEYS);
    this.unknownKeys.set(keyHash, now + UNKNOWN_KEY_TTL_MS);
  }
}
