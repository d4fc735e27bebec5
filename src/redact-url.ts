// Connection URLs end up in logs and error messages: never with their password.

/**
 * Replaces the password of a URL (redis://user:secret@host → redis://user:***@host); other text is kept
 * as written. Like URL parsers, the credentials run up to the LAST '@' of the authority, so a password
 * holding an unencoded '@' is masked whole.
 */
export function redactUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (!scheme) return url;
  const start = scheme[0].length;
  const authorityEnd = url.slice(start).search(/[/?#]/);
  const authority = authorityEnd < 0 ? url.slice(start) : url.slice(start, start + authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at < 0) return url;
  const colon = authority.indexOf(':');
  if (colon < 0 || colon > at) return url;
  return `${url.slice(0, start)}${authority.slice(0, colon + 1)}***${url.slice(start + at)}`;
}
