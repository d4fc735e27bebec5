// Connection URLs end up in logs and error messages: never with their password.

/** Replaces the password of a URL (redis://user:secret@host → redis://user:***@host); other text is kept. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL we can parse: hide anything between "//…:" and "@" by hand rather than echo a secret.
    return url.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@');
  }
  if (parsed.password === '') return url;
  parsed.password = '***';
  return parsed.toString();
}
