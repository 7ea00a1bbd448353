/**
 * Text that came from elsewhere (the daemon's database, an Action Provider, Globus Auth)
 * ends up on the user's terminal, where some characters are commands rather than text:
 * - C0 controls, DEL and C1 controls: ESC (U+001B) and the one-byte CSI (U+009B) start
 *   escape sequences that clear the screen, move the cursor over earlier output, set the
 *   window title or fake a prompt; a newline fakes a row of a table;
 * - the bidirectional embeddings and overrides (U+202A–U+202E) and isolates
 *   (U+2066–U+2069): they reorder how the rest of a line is shown, so what is read is not
 *   what is there ("Trojan Source", CVE-2021-42574).
 * The marks U+200E/U+200F (LRM/RLM) and U+061C (ALM) are allowed: each acts as one
 * strong letter of its direction and reorders no more than a Hebrew or Arabic letter of
 * the name would, and right-to-left names need them.
 *
 * Input checks refuse these characters in what the user stores (job names, notes,
 * labels); everything the CLI prints from the daemon is passed through printable()
 * anyway, whoever wrote it; JSON output escapes them (jsonForTerminal).
 */

const UNSAFE_RANGES = '\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069';
const UNSAFE_CHAR = new RegExp(`[${UNSAFE_RANGES}]`);
const UNSAFE_CHARS = new RegExp(`[${UNSAFE_RANGES}]`, 'g');
/** What JSON.stringify leaves raw (it escapes C0 itself). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const LINE_BREAKS_AND_TABS = /[\t\n\v\f\r]/g;
const BREAKS_BUT_NEWLINE = /[\t\v\f\r]/g;

/** Whether `text` has a character that printable() would replace: what input checks refuse. */
export function hasUnsafeChars(text: string): boolean {
  return UNSAFE_CHAR.test(text);
}

/**
 * `text` made safe to print: tabs and line breaks become spaces (so it stays one line of a
 * record or a table), every other unsafe character U+FFFD, which shows that something was
 * there. With keepNewlines, `\n` is kept (a log entry's stack trace).
 */
export function printable(text: string, { keepNewlines = false }: { keepNewlines?: boolean } = {}): string {
  const spaced = text.replace(keepNewlines ? BREAKS_BUT_NEWLINE : LINE_BREAKS_AND_TABS, ' ');
  return spaced.replace(UNSAFE_CHARS, (ch) => (keepNewlines && ch === '\n' ? ch : '\ufffd'));
}

/**
 * A template literal whose interpolated values are made printable(): the literal parts
 * are ours (they may hold our own newlines), the values may come from anywhere.
 */
export function safe(strings: TemplateStringsArray, ...values: unknown[]): string {
  return strings.reduce((out, part, i) => out + printable(String(values[i - 1])) + part);
}

/**
 * JSON text (as JSON.stringify writes it) with DEL, C1 and the bidi controls escaped as
 * `\u00XX`/`\u202e`, as JSON.stringify already does for C0. They can only occur inside
 * strings, so the result is the same JSON value, and raw on a terminal it is harmless.
 */
export function jsonForTerminal(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
