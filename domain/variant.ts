/**
 * A/B variants: a record always gets the same letter in an automation, so every A/B step of that
 * automation shows it the same side of the test. Pure: a string hash, no randomness, so the API,
 * the workflows and a product backend (FNV-1a 32 of the UTF-8 of "<automationId>:<recordId>")
 * all agree.
 */

export const MAX_VARIANTS = 26;

/** 'A', 'B', ... for a record in an automation with `variantCount` variants. */
export function variantLetter(automationId: string, recordId: string, variantCount: number): string {
  return String.fromCharCode(65 + variantIndex(automationId, recordId, variantCount));
}

/** The 0-based variant of a record in an automation with `variantCount` variants. */
export function variantIndex(automationId: string, recordId: string, variantCount: number): number {
  if (!Number.isInteger(variantCount) || variantCount < 1 || variantCount > MAX_VARIANTS) {
    throw new RangeError(`variantCount must be an integer from 1 to ${MAX_VARIANTS}, got ${variantCount}`);
  }
  return fnv1a32(utf8(`${automationId}:${recordId}`)) % variantCount;
}

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a32(bytes: Iterable<number>): number {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, FNV_PRIME) >>> 0;
  return hash;
}

// TextEncoder would do, but this keeps the module free of any platform global.
function* utf8(text: string): Generator<number> {
  for (const char of text) {
    const cp = char.codePointAt(0)!;
    if (cp < 0x80) yield cp;
    else if (cp < 0x800) yield* [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
    else if (cp < 0x10000) yield* [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
    else yield* [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  }
}
