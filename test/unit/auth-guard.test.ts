/**
 * The failure budget's unit and bounds (services/api/auth-guard.ts): one IPv6 host rotating
 * through its /64 stays one client; a budget spent answers Retry-After until the window ends.
 */
import { describe, expect, it } from 'vitest';
import { AuthGuard, clientBucket } from '#services/api/auth-guard';

describe('clientBucket', () => {
  it('counts IPv4 (and IPv4-mapped) addresses singly and IPv6 per /64', () => {
    expect(clientBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(clientBucket('::ffff:203.0.113.7')).toBe('::ffff:203.0.113.7');
    expect(clientBucket('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientBucket('2001:0db8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(clientBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientBucket('::1')).toBe('0:0:0:0::/64');
  });
});

describe('AuthGuard', () => {
  it('refuses an address for the rest of the minute once its failures reach the budget', () => {
    const guard = new AuthGuard(3);
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) {
      expect(guard.retryAfter('a', t0)).toBe(0);
      guard.recordFailure('a', t0);
    }
    expect(guard.retryAfter('a', t0 + 500)).toBe(60);
    expect(guard.retryAfter('a', t0 + 59_001)).toBe(1);
    expect(guard.retryAfter('b', t0)).toBe(0);
    expect(guard.retryAfter('a', t0 + 60_000)).toBe(0);
  });

  it('takes back a failure recorded ahead of a lookup that succeeded', () => {
    const guard = new AuthGuard(1);
    guard.recordFailure('a', 0);
    guard.forgiveFailure('a', 0);
    expect(guard.retryAfter('a', 0)).toBe(0);
  });

  it('remembers unknown keys for ten minutes', () => {
    const guard = new AuthGuard(1);
    guard.rememberUnknown('h', 0);
    expect(guard.isKnownUnknown('h', 599_999)).toBe(true);
    expect(guard.isKnownUnknown('h', 600_000)).toBe(false);
    expect(guard.isKnownUnknown('other', 0)).toBe(false);
  });
});
