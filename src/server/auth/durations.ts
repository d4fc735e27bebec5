// Durations on the command line: `90s`, `15m`, `12h`, `7d` (a bare number is seconds).
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds in `text`, or null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,7})\s*([smhd]?)$/.exec(text.trim());
  if (!m) return null;
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] || 's']!;
  return seconds > 0 ? seconds : null;
}
