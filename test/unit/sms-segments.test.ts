import { describe, expect, it } from 'vitest';
import { countSegments } from '#domain/sms-segments';

describe('countSegments', () => {
  it.each([
    [0, 0],
    [1, 1],
    [160, 1],
    [161, 2],
    [306, 2],
    [307, 3],
    [459, 3],
    [460, 4],
  ])('GSM-7, %i characters: %i segments', (length, segments) => {
    expect(countSegments('a'.repeat(length))).toEqual({ encoding: 'GSM-7', segments, characters: length, units: length });
  });

  it.each([
    [70, 1],
    [71, 2],
    [134, 2],
    [135, 3],
  ])('UCS-2, %i characters: %i segments', (length, segments) => {
    const text = 'ț' + 'a'.repeat(length - 1);
    expect(countSegments(text)).toEqual({ encoding: 'UCS-2', segments, characters: length, units: length });
  });

  it('Romanian diacritics force UCS-2 (the seed: 70 characters with diacritics)', () => {
    for (const c of ['ă', 'â', 'î', 'ș', 'ț', 'Ș', 'Ț']) expect(countSegments(`Bun${c}`).encoding).toBe('UCS-2');
    const text = 'Mulțumim pentru comandă! Livrarea ajunge mâine între 9 și 12.';
    expect(countSegments(text)).toMatchObject({ encoding: 'UCS-2', segments: 1 });
  });

  it('keeps GSM-7 for the accented letters the GSM alphabet has', () => {
    expect(countSegments('Café à Zürich, señor! £5 @ 10€').encoding).toBe('GSM-7');
  });

  it('counts extension characters as two septets', () => {
    expect(countSegments('€'.repeat(80))).toEqual({ encoding: 'GSM-7', segments: 1, characters: 80, units: 160 });
    expect(countSegments('a'.repeat(159) + '{')).toMatchObject({ segments: 2, units: 161 });
    expect(countSegments('[]{}|~^\\\f')).toMatchObject({ encoding: 'GSM-7', units: 18 });
  });

  it('never splits an escape pair between two parts', () => {
    // 152 septets, then '€' (2): it moves whole to the second part; 153 + 153 + 1 would otherwise fit in 2.
    expect(countSegments('a'.repeat(152) + '€' + 'a'.repeat(153)).segments).toBe(3);
  });

  it('counts UTF-16 code units in UCS-2 and keeps surrogate pairs whole', () => {
    expect(countSegments('😀'.repeat(35))).toEqual({ encoding: 'UCS-2', segments: 1, characters: 35, units: 70 });
    expect(countSegments('😀'.repeat(36))).toMatchObject({ segments: 2, units: 72 });
    // 66 units, then a pair that would straddle the 67-unit boundary.
    expect(countSegments('ț'.repeat(66) + '😀' + 'ț'.repeat(66)).segments).toBe(3);
  });
});
