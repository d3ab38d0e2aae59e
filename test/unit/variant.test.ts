import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fnv1a32, variantIndex, variantLetter } from '#domain/variant';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('fnv1a32', () => {
  it('matches the published FNV-1a test vectors', () => {
    expect(fnv1a32(bytes(''))).toBe(0x811c9dc5);
    expect(fnv1a32(bytes('a'))).toBe(0xe40c292c);
    expect(fnv1a32(bytes('foobar'))).toBe(0xbf9cf968);
  });
});

describe('variantLetter', () => {
  it('is stable for a record in an automation', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.integer({ min: 1, max: 26 }), (automation, record, count) => {
        const letter = variantLetter(automation, record, count);
        expect(variantLetter(automation, record, count)).toBe(letter);
        expect(letter.charCodeAt(0) - 65).toBe(variantIndex(automation, record, count));
        expect(variantIndex(automation, record, count)).toBeLessThan(count);
      }),
    );
  });

  it('hashes the UTF-8 of "<automation>:<record>", so other systems can reproduce it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (automation, record) => {
        expect(variantIndex(automation, record, 5)).toBe(fnv1a32(bytes(`${automation}:${record}`)) % 5);
      }),
    );
  });

  it('spreads records evenly over the variants', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const letter = variantLetter('aut_42', `rec_${i}`, 3);
      counts.set(letter, (counts.get(letter) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['A', 'B', 'C']);
    for (const n of counts.values()) expect(n).toBeGreaterThan(1800);
  });

  it('differs between automations for the same record', () => {
    const letters = new Set(Array.from({ length: 20 }, (_, i) => variantLetter(`aut_${i}`, 'rec_1', 2)));
    expect(letters).toEqual(new Set(['A', 'B']));
  });

  it('rejects a variant count it cannot name', () => {
    for (const n of [0, 27, 1.5, NaN]) expect(() => variantLetter('a', 'r', n)).toThrow(RangeError);
  });
});
