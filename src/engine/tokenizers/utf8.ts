/**
 * @file UTF-8 of single code points, the way `TextEncoder` writes it (a lone surrogate, which a JS
 * string may hold, becomes U+FFFD), without allocating an encoder per character.
 */

const REPLACEMENT_CHARACTER = 0xfffd;

/** The code point at UTF-16 index `index` of `text`; a lone surrogate stays a code unit. */
export function codePointAt(text: string, index: number): number {
  // codePointAt never returns undefined for an index inside the string.
  return text.codePointAt(index) as number;
}

/** UTF-16 length of a code point: 2 for astral characters (surrogate pairs), else 1. */
export function utf16Length(codePoint: number): number {
  return codePoint > 0xffff ? 2 : 1;
}

/** Appends the UTF-8 bytes of `codePoint` to `out`. */
export function appendUtf8(codePoint: number, out: number[]): void {
  const cp = codePoint >= 0xd800 && codePoint <= 0xdfff ? REPLACEMENT_CHARACTER : codePoint;
  if (cp < 0x80) {
    out.push(cp);
  } else if (cp < 0x800) {
    out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  } else {
    out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
}

/** The UTF-8 bytes of a whole string. */
export function utf8Bytes(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; ) {
    const cp = codePointAt(text, i);
    appendUtf8(cp, out);
    i += utf16Length(cp);
  }
  return out;
}
