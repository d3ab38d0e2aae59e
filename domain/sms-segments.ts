/**
 * How many SMS segments a text takes, as carriers bill it. A text that fits the GSM-7 alphabet
 * costs 7 bits a character (160 in one message, 153 a part once split, as each part carries a
 * header); any other character switches the whole text to UCS-2, 16 bits a UTF-16 code unit (70,
 * or 67 a part). Romanian diacritics (ă, ș, ț) are not in GSM-7.
 */

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SegmentCount {
  encoding: SmsEncoding;
  segments: number;
  /** Characters as a person counts them (code points). */
  characters: number;
  /** What the limits count: GSM-7 septets, or UTF-16 code units for UCS-2. */
  units: number;
}

// GSM 03.38 default alphabet, without the escape code itself.
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
// The extension table: each is sent as escape + character, so it costs two septets.
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

const LIMITS: Record<SmsEncoding, { single: number; perPart: number }> = {
  'GSM-7': { single: 160, perPart: 153 },
  'UCS-2': { single: 70, perPart: 67 },
};

export function countSegments(text: string): SegmentCount {
  const chars = [...text];
  const encoding: SmsEncoding = chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c)) ? 'GSM-7' : 'UCS-2';
  const unitsOf = encoding === 'GSM-7' ? (c: string) => (GSM7_EXTENSION.has(c) ? 2 : 1) : (c: string) => c.length;
  const sizes = chars.map(unitsOf);
  const units = sizes.reduce((a, b) => a + b, 0);
  const { single, perPart } = LIMITS[encoding];
  return { encoding, segments: units <= single ? Math.sign(units) : partsNeeded(sizes, perPart), characters: chars.length, units };
}

/**
 * Parts of a split text. An escape pair or a surrogate pair is never cut between two parts, so a
 * part may carry one unit less than the limit.
 */
function partsNeeded(sizes: number[], perPart: number): number {
  let parts = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > perPart) {
      parts++;
      used = 0;
    }
    used += size;
  }
  return parts;
}
