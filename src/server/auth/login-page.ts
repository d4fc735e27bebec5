// The login page: a plain HTML form posting to /auth/login (no script, so it works under a strict CSP).
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Only our own absolute paths are followed after login: never `//evil.example` or `https://…`. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[^\s]*$/.test(next) && next.length <= 2048 ? next : '/board';
}

export function loginPage(opts: { next: string; error?: string | null }): string {
  const error = opts.error ? `<p class="error" role="alert">${escapeHtml(opts.error)}</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskfleet — log in</title>
<style>
  body { font-family: system-ui, sans-serif; background: #f4f5f7; display: flex; justify-content: center; padding-top: 12vh; }
  form { background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.15); min-width: 18rem; }
  h1 { font-size: 1.25rem; margin-top: 0; }
  label { display: block; margin: .75rem 0 .25rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; }
  button { margin-top: 1rem; width: 100%; padding: .6rem; }
  .error { color: #b00020; }
</style>
</head>
<body>
<form method="post" action="/auth/login">
  <h1>taskfleet operations</h1>
  ${error}
  <input type="hidden" name="next" value="${escapeHtml(opts.next)}">
  <label for="username">Username</label>
  <input id="username" name="username" autocomplete="username" required maxlength="64" autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
  <button type="submit">Log in</button>
</form>
</body>
</html>
`;
}

/** GET /logout: a one-button form, because logging out changes state and so is a POST. */
export function logoutPage(): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>taskfleet — log out</title>
<style>body { font-family: system-ui, sans-serif; display: flex; justify-content: center; padding-top: 12vh; } button { padding: .6rem 1.5rem; }</style>
</head>
<body>
<form method="post" action="/auth/logout"><button type="submit">Log out of taskfleet</button></form>
</body>
</html>
`;
}
