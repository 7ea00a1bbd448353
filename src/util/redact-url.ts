/**
 * A URL as a message may show it: `https://user:secret@host/run` becomes
 * `https://user:***@host/run`. Every message that echoes a URL (a refused action URL, a
 * failed request, a provider that cannot be introspected) goes through this, so a password
 * typed into a URL never reaches a terminal, a log or a stored run error.
 *
 * It works on the text, not on `new URL()`: a URL too broken to parse is echoed too, and
 * must lose its password all the same. The userinfo runs to the last `@` before the path
 * (as URL parsers read it), so a password containing `@` is hidden whole. A userinfo
 * without `:` is hidden whole too: a lone name there is often a token (`https://TOKEN@host`).
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;

export function redactUrl(text: string): string {
  return text.replace(USERINFO, (_, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon === -1 ? '***' : `${userinfo.slice(0, colon)}:***`}@`;
  });
}
