import { TRANSFER_SCOPE, transferScope } from './scopes.ts';
import { InvalidInputError } from './errors.ts';
import { hasUnsafeChars } from '../util/printable.ts';
import { checkActionUrl } from './input.ts';

/**
 * The Globus Transfer action body that `job transfer` builds from flags (reference
 * globus-timer-cli.md §1). The original CLI targeted the legacy provider
 * (actions.automate.globus.org, shut down 2025-01-22); this builds the body of its
 * replacement at transfer.actions.globus.org, whose fields are renamed:
 * `transfer_items` → `DATA`, `source_endpoint_id` → `source_endpoint`,
 * `destination_endpoint_id` → `destination_endpoint`. Pure: the items file arrives as text.
 */

export const TRANSFER_ACTION_URL = 'https://transfer.actions.globus.org/transfer/run';

/** Overrides the Transfer action provider's run URL (tests point it at a loopback fake). */
const TRANSFER_ACTION_URL_ENV = 'GLOBUS_TIMER_TRANSFER_ACTION_URL';

export function transferActionUrl(env: NodeJS.ProcessEnv): string {
  const override = env[TRANSFER_ACTION_URL_ENV]?.trim();
  if (!override) return TRANSFER_ACTION_URL;
  try {
    return checkActionUrl(override);
  } catch (err) {
    throw new InvalidInputError(`${TRANSFER_ACTION_URL_ENV}: ${(err as Error).message}`, { cause: err });
  }
}

/** The original CLI's Transfer provider (reference globus-timer-cli.md §1), shut down on 2025-01-22, and its scope. */
const LEGACY_TRANSFER_ACTION_URL = 'https://actions.automate.globus.org/transfer/transfer/run';
export const LEGACY_TRANSFER_SCOPE = 'https://auth.globus.org/scopes/actions.globus.org/transfer/transfer';

/** The legacy provider's body fields and their names at the current one; the items keep theirs. */
const LEGACY_FIELD_NAMES: Readonly<Record<string, string>> = {
  source_endpoint_id: 'source_endpoint',
  destination_endpoint_id: 'destination_endpoint',
  transfer_items: 'DATA',
};

/** The legacy provider's run URL, with or without a trailing slash. */
function isLegacyTransferUrl(url: string): boolean {
  const legacy = new URL(LEGACY_TRANSFER_ACTION_URL);
  try {
    const u = new URL(url);
    return u.origin === legacy.origin && u.pathname.replace(/\/+$/, '') === legacy.pathname && !u.search;
  } catch {
    return false;
  }
}

/**
 * A legacy Transfer body under the current field names, in the same key order; the other
 * keys kept. A body that has a field under both names is refused rather than guessed at.
 */
function currentTransferBody(callbackBody: Record<string, unknown>): Record<string, unknown> {
  const body = callbackBody.body as Record<string, unknown>;
  for (const [old, current] of Object.entries(LEGACY_FIELD_NAMES)) {
    if (old in body && current in body) {
      throw new InvalidInputError(`the action body has both "${old}" (the legacy Transfer provider's name) and "${current}"; give only "${current}"`);
    }
  }
  return { ...callbackBody, body: Object.fromEntries(Object.entries(body).map(([k, v]) => [LEGACY_FIELD_NAMES[k] ?? k, v])) };
}

/** What currentTransferParams reads and rewrites of a job's parameters (contract/protocol.ts SubmitJobParams has them). */
export interface ActionTarget {
  callback_url: string;
  callback_body: Record<string, unknown>;
  scope?: string | null;
}

/**
 * Issue 12 item 12: a `job submit` written for the legacy provider, as the original
 * README's example and its users' scripts are, is sent to the current Transfer Action
 * Provider with the current field names (and its legacy `--scope`, the original's required
 * flag, becomes the Transfer scope), with one line saying so. Anything else is unchanged.
 */
export function currentTransferParams<P extends ActionTarget>(params: P, env: NodeJS.ProcessEnv): { params: P; notice: string | null } {
  if (!isLegacyTransferUrl(params.callback_url)) return { params, notice: null };
  const url = transferActionUrl(env);
  return {
    params: {
      ...params,
      callback_url: url,
      callback_body: currentTransferBody(params.callback_body),
      ...(params.scope === LEGACY_TRANSFER_SCOPE ? { scope: TRANSFER_SCOPE } : {}),
    },
    notice: `globus-timer: actions.automate.globus.org was shut down on 2025-01-22; sending this job to the Globus Transfer Action Provider (${url}) with its field names`,
  };
}

export interface TransferItem {
  source_path: string;
  destination_path: string;
  recursive: boolean;
}

const TRUE_WORDS = new Set(['y', 'yes', 't', 'true', 'on', '1']);
const FALSE_WORDS = new Set(['n', 'no', 'f', 'false', 'off', '0']);

/** A yes/no word as the original accepted it (Python's strtobool), any case; null if none. */
function parseYesNo(text: string): boolean | null {
  const word = text.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return null;
}

const YES_NO_HINT = 'use one of y, yes, t, true, on, 1 or n, no, f, false, off, 0';

function checkPath(path: string, what: string, where: string): string {
  if (!path) throw new InvalidInputError(`${where}: the ${what} is empty`);
  if (/[\u0000-\u001f\u007f]/.test(path)) throw new InvalidInputError(`${where}: the ${what} ${JSON.stringify(path)} contains a control character`);
  return path;
}

/** One `--item SRC DST RECURSIVE` (values trimmed, as the original did). */
export function transferItem(source: string, destination: string, recursive: string, where = '--item'): TransferItem {
  const flag = parseYesNo(recursive);
  if (flag === null) throw new InvalidInputError(`${where}: invalid RECURSIVE value ${JSON.stringify(recursive)}: ${YES_NO_HINT}`);
  return {
    source_path: checkPath(source.trim(), 'source path', where),
    destination_path: checkPath(destination.trim(), 'destination path', where),
    recursive: flag,
  };
}

/**
 * Split one CSV line into fields (RFC 4180 quoting: `"a, b"` is one field, `""` inside quotes
 * is a quote). Hand-rolled rather than adding csv-parse: records here are always one line
 * (no path has a newline worth supporting), so quoting is the only CSV rule that matters and
 * it takes a dozen lines. Unquoted fields are trimmed; a quoted field is kept exactly as
 * written, which is how a path keeps leading or trailing spaces. Returns an error string
 * instead of fields when the quoting is broken.
 */
function splitCsvLine(line: string): string[] | string {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    let field: string;
    if (line[i] === '"') {
      field = '';
      i++;
      for (;;) {
        const quote = line.indexOf('"', i);
        if (quote === -1) return 'unterminated quoted value';
        field += line.slice(i, quote);
        i = quote + 1;
        if (line[i] !== '"') break;
        field += '"';
        i++;
      }
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (i < line.length && line[i] !== ',') return 'text after a closing quote (write "" for a quote inside a quoted value)';
    } else {
      const comma = line.indexOf(',', i);
      const end = comma === -1 ? line.length : comma;
      field = line.slice(i, end).trim();
      if (field.includes('"')) return 'a quote inside an unquoted value (quote the whole value and write "" for the quote)';
      i = end;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

const CSV_COLUMNS = ['source_path', 'destination_path', 'recursive'] as const;

/**
 * The `--items-file` CSV: one item per line, columns `source_path,destination_path,recursive`.
 * Blank lines and lines starting with `#` (after spaces) are skipped; so is a first line that
 * is exactly the column names, a header. Every error names the file and line.
 */
export function parseItemsCsv(text: string, fileName: string): TransferItem[] {
  const items: TransferItem[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  let sawRecord = false;
  lines.forEach((line, index) => {
    const where = `${fileName} line ${index + 1}`;
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) return;
    const fields = splitCsvLine(line);
    if (typeof fields === 'string') throw new InvalidInputError(`${where}: ${fields}`);
    const isHeader = !sawRecord && fields.length === 3 && fields.every((f, i) => f.toLowerCase() === CSV_COLUMNS[i]);
    sawRecord = true;
    if (isHeader) return;
    if (fields.length !== 3) {
      throw new InvalidInputError(`${where}: expected 3 values (${CSV_COLUMNS.join(',')}), got ${fields.length}: ${JSON.stringify(trimmed)}`);
    }
    const [source, destination, recursive] = fields as [string, string, string];
    const flag = parseYesNo(recursive);
    if (flag === null) throw new InvalidInputError(`${where}: invalid recursive value ${JSON.stringify(recursive)}: ${YES_NO_HINT}`);
    items.push({
      source_path: checkPath(source, 'source path', where),
      destination_path: checkPath(destination, 'destination path', where),
      recursive: flag,
    });
  });
  if (items.length === 0) throw new InvalidInputError(`${fileName}: no transfer items in the file`);
  return items;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A collection/endpoint id: a UUID, returned trimmed and lower-case. */
function checkUuid(value: string, flag: string): string {
  const id = value.trim();
  if (!UUID.test(id)) {
    throw new InvalidInputError(`invalid ${flag} ${JSON.stringify(value)}: give the collection's UUID, e.g. 313ce13e-b597-5858-ae13-29e46fea26e6`);
  }
  return id.toLowerCase();
}

/** Transfer's sync levels; the names are the ones the Globus CLI and SDK accept. */
const SYNC_LEVEL_NAMES: Record<string, number> = { exists: 0, size: 1, mtime: 2, checksum: 3 };

export function parseSyncLevel(text: string): number {
  const value = text.trim().toLowerCase();
  if (/^[0-3]$/.test(value)) return Number(value);
  const named = SYNC_LEVEL_NAMES[value];
  if (named !== undefined) return named;
  throw new InvalidInputError(`invalid --sync-level ${JSON.stringify(text)}: use 0-3 (or exists, size, mtime, checksum)`);
}

export const RECURSIVE_SYMLINKS = ['ignore', 'keep', 'copy'] as const;
export type RecursiveSymlinks = (typeof RECURSIVE_SYMLINKS)[number];

/** Transfer refuses task labels over 128 characters. */
const MAX_LABEL_LENGTH = 128;

/**
 * The original CLI's help said labels may hold only letters, numbers, spaces and `- _ ,`,
 * but Transfer accepts far more (its own task labels contain dots and parentheses), so only
 * what certainly breaks is refused: empty, too long, control characters and bidi overrides
 * (the label is shown in Globus's web app and in our JSON; util/printable.ts).
 */
export function checkLabel(label: string): string {
  const trimmed = label.trim();
  if (!trimmed || trimmed.length > MAX_LABEL_LENGTH || hasUnsafeChars(trimmed)) {
    throw new InvalidInputError(`invalid --label: give 1 to ${MAX_LABEL_LENGTH} printable characters`);
  }
  return trimmed;
}

/** The label used without --label; cut to Transfer's limit, since a long job name is allowed. */
function defaultLabel(jobName: string): string {
  return `Job from Timer service named ${jobName}`.slice(0, MAX_LABEL_LENGTH).trimEnd();
}

export interface TransferBodyOptions {
  /** The job name, for the default label. */
  name: string;
  sourceEndpoint: string;
  destinationEndpoint: string;
  items: TransferItem[];
  label?: string | undefined;
  syncLevel?: number | undefined;
  encryptData?: boolean | undefined;
  verifyChecksum?: boolean | undefined;
  preserveTimestamp?: boolean | undefined;
  skipSourceErrors?: boolean | undefined;
  failOnQuotaErrors?: boolean | undefined;
  recursiveSymlinks?: RecursiveSymlinks | undefined;
}

export interface TransferBody {
  source_endpoint: string;
  destination_endpoint: string;
  DATA: TransferItem[];
  label: string;
  sync_level?: number;
  encrypt_data: boolean;
  verify_checksum: boolean;
  preserve_timestamp: boolean;
  skip_source_errors: boolean;
  fail_on_quota_errors: boolean;
  recursive_symlinks?: RecursiveSymlinks;
}

/** The action body `{body: {...}}` for the current Transfer action provider. */
export function buildTransferBody(opts: TransferBodyOptions): { body: TransferBody } {
  if (opts.items.length === 0) {
    throw new InvalidInputError('Must provide at least one of the following options: --item/-i, --items-file');
  }
  if (opts.syncLevel !== undefined && !(Number.isInteger(opts.syncLevel) && opts.syncLevel >= 0 && opts.syncLevel <= 3)) {
    throw new InvalidInputError(`invalid --sync-level ${JSON.stringify(opts.syncLevel)}: use 0-3`);
  }
  if (opts.recursiveSymlinks !== undefined && !RECURSIVE_SYMLINKS.includes(opts.recursiveSymlinks)) {
    throw new InvalidInputError(`invalid --recursive-symlinks ${JSON.stringify(opts.recursiveSymlinks)}: use ${RECURSIVE_SYMLINKS.join(', ')}`);
  }
  const body: TransferBody = {
    source_endpoint: checkUuid(opts.sourceEndpoint, '--source-endpoint'),
    destination_endpoint: checkUuid(opts.destinationEndpoint, '--dest-endpoint'),
    DATA: opts.items.map((item) => ({ ...item })),
    label: opts.label !== undefined ? checkLabel(opts.label) : defaultLabel(opts.name),
    ...(opts.syncLevel !== undefined ? { sync_level: opts.syncLevel } : {}),
    encrypt_data: opts.encryptData ?? false,
    verify_checksum: opts.verifyChecksum ?? false,
    preserve_timestamp: opts.preserveTimestamp ?? false,
    skip_source_errors: opts.skipSourceErrors ?? false,
    fail_on_quota_errors: opts.failOnQuotaErrors ?? false,
    ...(opts.recursiveSymlinks !== undefined ? { recursive_symlinks: opts.recursiveSymlinks } : {}),
  };
  return { body };
}

/**
 * The job's scope: the Transfer API scope (what the current provider acts with), with a
 * `data_access` dependency for each `--data-access` collection (GCS v5 mapped collections
 * need that consent). Duplicates are dropped, order kept.
 */
export function transferScopeFor(dataAccess: readonly string[]): string {
  const ids = [...new Set(dataAccess.map((id) => checkUuid(id, '--data-access')))];
  return transferScope(ids);
}
