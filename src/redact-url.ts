// Connection URLs end up in logs and error messages: never with their password.

/** Query parameters that carry a secret (pg and ioredis both take `?password=`). */
const SECRET_PARAMETER = /([?&][^=&#]*(?:pass|pwd|secret|token)[^=&#]*=)[^&#]*/gi;

/**
 * Replaces the password of a URL (redis://user:secret@host → redis://user:***@host), and the value of a
 * query parameter that holds one (?password=secret → ?password=***); other text is kept as written.
 * Like URL parsers, the credentials run up to the LAST '@' of the authority, so a password holding an
 * unencoded '@' is masked whole.
 */
export function redactUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (!scheme) return url;
  const start = scheme[0].length;
  const authorityEnd = url.slice(start).search(/[/?#]/);
  const authority = authorityEnd < 0 ? url.slice(start) : url.slice(start, start + authorityEnd);
  const rest = url.slice(start + authority.length).replace(SECRET_PARAMETER, '$1***');
  const at = authority.lastIndexOf('@');
  const colon = authority.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return `${url.slice(0, start)}${authority}${rest}`;
  return `${url.slice(0, start)}${authority.slice(0, colon + 1)}***${authority.slice(at)}${rest}`;
}
