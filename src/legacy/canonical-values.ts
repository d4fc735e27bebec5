// Canonical text for timestamps and decimals: the exact form Postgres prints them in (UTC session).
// Records are normalized to it once, so what is written and what is read back compare as text.
// Only the representation changes (2021-03-04T10:00:00Z and 2021-03-04 10:00:00+00 are one instant).

// RFC 3339 allows a lower-case t and z.
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

// The common shape (UTC, "Z"), converted without Date arithmetic.
const UTC_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * Postgres keeps microseconds: digits past the sixth are fine when they are zeros (.NET writes seven,
 * ".1230000"), and refused otherwise (rounding them away would change the value). Null when refused.
 */
function microseconds(frac: string): string | null {
  if (frac.length <= 6) return frac;
  return /[1-9]/.test(frac.slice(6)) ? null : frac.slice(0, 6);
}
/** A timestamp refused only for a non-zero digit past the sixth fractional one (to say why). */
export function hasSubMicrosecondDigits(text: string): boolean {
  const digits = TIMESTAMP.exec(text.trim())?.[7] ?? '';
  return microseconds(digits) === null;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** "2021-03-04T12:00:00.120+02:00" -> "2021-03-04 10:00:00.12+00"; null when not a valid timestamp. */
export function canonicalTimestamp(text: string): string | null {
  const utc = UTC_TIMESTAMP.exec(text);
  if (utc) {
    const [, y, mo, d, h, mi, s, digits = ''] = utc;
    const frac = microseconds(digits);
    if (frac === null) return null;
    const year = Number(y), month = Number(mo), day = Number(d);
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    if (year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && !leap ? 28 : DAYS_IN_MONTH[month - 1]!)
      && Number(h) <= 23 && Number(mi) <= 59 && Number(s) <= 59) {
      const fraction = frac.replace(/0+$/, '');
      return `${y}-${mo}-${d} ${h}:${mi}:${s}${fraction ? `.${fraction}` : ''}+00`;
    }
    return null;
  }
  return canonicalTimestampSlow(text);
}

function canonicalTimestampSlow(text: string): string | null {
  const m = TIMESTAMP.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', digits = '', zone = 'Z'] = m;
  const frac = microseconds(digits);
  if (frac === null) return null;
  const year = Number(y), month = Number(mo), day = Number(d), hour = Number(h), minute = Number(mi), second = Number(s);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const base = utcMillis(year, month, day, hour, minute, second);
  const check = new Date(utcMillis(year, month, day, 0, 0, 0));
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return null;
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2)), om = Number(digits.slice(2) || '0');
    if (oh > 15 || om > 59) return null;
    offsetMinutes = sign * (oh * 60 + om);
  }
  const utc = new Date(base - offsetMinutes * 60_000);
  if (Number.isNaN(utc.getTime()) || utc.getUTCFullYear() < 1 || utc.getUTCFullYear() > 9999) return null;
  const iso = utc.toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z (whole seconds: the fraction is kept apart)
  const fraction = frac.padEnd(6, '0').replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction ? `.${fraction}` : ''}+00`;
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** "+04.50" -> "4.50", ".5" -> "0.5", "1e3" -> "1000": Postgres numeric's own text; null if not a number. */
export function canonicalDecimal(text: string): string | null {
  const m = DECIMAL.exec(text.trim());
  if (!m) return null;
  const [, sign = '', intPart = '', fracPart = '', exp] = m;
  if (intPart === '' && fracPart === '') return null;
  let digits = intPart + fracPart;
  let point = intPart.length; // position of the decimal point within digits
  let scale = fracPart.length;
  if (exp !== undefined) {
    const e = Number(exp);
    if (!Number.isSafeInteger(e) || Math.abs(e) > 1000) return null;
    point += e;
    scale = Math.max(0, scale - e);
    if (point < 0) { digits = '0'.repeat(-point) + digits; point = 0; }
    if (point > digits.length) digits = digits + '0'.repeat(point - digits.length);
  }
  let whole = digits.slice(0, point).replace(/^0+/, '') || '0';
  let frac = digits.slice(point);
  frac = frac.length > scale ? frac.slice(0, scale) : frac.padEnd(scale, '0');
  const zero = /^0*$/.test(whole + frac);
  if (whole === '') whole = '0';
  return `${sign === '-' && !zero ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** Epoch milliseconds of a UTC date-time; unlike Date.UTC, years 0–99 stay years 0–99. */
export function utcMillis(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}
