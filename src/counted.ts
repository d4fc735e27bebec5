// "1 record", "2 records": messages an operator reads say the count in good English.

/** `n` with the noun in its singular or plural form (the plural defaults to singular + "s"). */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}
