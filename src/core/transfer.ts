import { TRANSFER_SCOPE, transferScope } from './scopes.ts';
import { InvalidInputError } from './errors.ts';
import { hasUnsafeChars } from '../util/printable.ts';
import { checkActionUrl } from './input.ts';
import { formatIso, parseDateTime } from './time.ts';

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
  /**
   * Absent unless the user said yes or no: Transfer finds out itself whether a source path is
   * a file or a directory (reference timers-api.md §3b: `recursive` appears only when set).
   */
  recursive?: boolean;
  /** The source file's checksum, which Transfer checks the copy against (OAS TransferTaskItem). */
  external_checksum?: string;
  /** The algorithm of external_checksum; Transfer assumes MD5 when it is absent. */
  checksum_algorithm?: string;
}

const TRUE_WORDS = new Set(['y', 'yes', 't', 'true', 'on', '1']);
const FALSE_WORDS = new Set(['n', 'no', 'f', 'false', 'off', '0']);
/** RECURSIVE words that leave the choice to Transfer (no `recursive` key); an empty CSV value too. */
const AUTO_WORDS = new Set(['auto', '']);

/** A yes/no word as the original accepted it (Python's strtobool), any case; null if none. */
function parseYesNo(text: string): boolean | null {
  const word = text.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return null;
}

const YES_NO_HINT = 'use one of y, yes, t, true, on, 1 or n, no, f, false, off, 0, or auto to let Transfer tell files from directories';

/** RECURSIVE: true/false, or undefined for `auto` (Transfer decides); throws naming `where`. */
function parseRecursive(text: string, where: string, what: string): boolean | undefined {
  if (AUTO_WORDS.has(text.trim().toLowerCase())) return undefined;
  const flag = parseYesNo(text);
  if (flag === null) throw new InvalidInputError(`${where}: invalid ${what} value ${JSON.stringify(text)}: ${YES_NO_HINT}`);
  return flag;
}

function checkPath(path: string, what: string, where: string): string {
  if (!path) throw new InvalidInputError(`${where}: the ${what} is empty`);
  if (/[\u0000-\u001f\u007f]/.test(path)) throw new InvalidInputError(`${where}: the ${what} ${JSON.stringify(path)} contains a control character`);
  return path;
}

/** A checksum as Transfer takes it: hex or base64 text, nothing else (it is compared, not parsed). */
const CHECKSUM = /^[0-9A-Za-z+/=_-]{1,512}$/;
/** An algorithm name (MD5, SHA1, SHA256, ADLER32, …): Transfer knows the list, so only the spelling is checked here. */
const CHECKSUM_ALGORITHM = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

/**
 * An item's external checksum and its algorithm (either may be empty: none). An algorithm
 * without a checksum would be silently meaningless, so it is refused.
 */
function checksumFields(checksum: string, algorithm: string, where: string): Pick<TransferItem, 'external_checksum' | 'checksum_algorithm'> {
  const sum = checksum.trim();
  const alg = algorithm.trim();
  if (!sum && alg) throw new InvalidInputError(`${where}: a checksum algorithm (${JSON.stringify(alg)}) needs an external checksum`);
  if (sum && !CHECKSUM.test(sum)) throw new InvalidInputError(`${where}: invalid external checksum ${JSON.stringify(sum)}: give it as hex or base64 text`);
  if (alg && !CHECKSUM_ALGORITHM.test(alg)) {
    throw new InvalidInputError(`${where}: invalid checksum algorithm ${JSON.stringify(alg)}: give its name, e.g. MD5, SHA1, SHA256 or ADLER32`);
  }
  return { ...(sum ? { external_checksum: sum } : {}), ...(alg ? { checksum_algorithm: alg } : {}) };
}

/** One `--item SRC DST RECURSIVE` (values trimmed, as the original did); RECURSIVE `auto` sends no `recursive`. */
export function transferItem(source: string, destination: string, recursive: string, where = '--item'): TransferItem {
  const flag = parseRecursive(recursive, where, 'RECURSIVE');
  return {
    source_path: checkPath(source.trim(), 'source path', where),
    destination_path: checkPath(destination.trim(), 'destination path', where),
    ...(flag !== undefined ? { recursive: flag } : {}),
  };
}

/**
 * `--external-checksum` / `--checksum-algorithm` on the command line. They name one file, so
 * they go with exactly one item, as globus-cli's `timer create transfer` takes them with its
 * one SOURCE DEST pair; several items carry theirs in the items file (parseItemsCsv). Pairing
 * the Nth flag with the Nth `--item` was the other choice: one missing flag would then move
 * every later checksum onto the wrong file, which Transfer reports only as failed runs.
 */
export function withChecksum(items: TransferItem[], checksum: string | undefined, algorithm: string | undefined): TransferItem[] {
  if (checksum === undefined && algorithm === undefined) return items;
  const flag = checksum !== undefined ? '--external-checksum' : '--checksum-algorithm';
  if (items.length !== 1) {
    throw new InvalidInputError(`${flag} goes with exactly one item (got ${items.length}); for several, put each checksum in the items file's 4th column`);
  }
  const item = items[0]!;
  if (item.external_checksum !== undefined) throw new InvalidInputError(`${flag}: the item already has a checksum from the items file`);
  return [{ ...item, ...checksumFields(checksum ?? '', algorithm ?? '', flag) }];
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

const CSV_COLUMNS = ['source_path', 'destination_path', 'recursive', 'external_checksum', 'checksum_algorithm'] as const;
/** The first three columns are required; the checksum columns may be left off. */
const CSV_REQUIRED = 3;
const CSV_SHAPE = `${CSV_COLUMNS.slice(0, CSV_REQUIRED).join(',')}[,${CSV_COLUMNS.slice(CSV_REQUIRED).join(',')}]`;

/**
 * The `--items-file` CSV: one item per line, columns `source_path,destination_path,recursive`
 * and optionally `external_checksum,checksum_algorithm` (the per-item checksum: a file has
 * one, so it lives on the item's own line). An empty recursive value or `auto` sends no
 * `recursive` (Transfer tells files from directories). Blank lines and lines starting with
 * `#` (after spaces) are skipped; so is a first line that is the column names, a header.
 * Every error names the file and line.
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
    const isHeader = !sawRecord && fields.length >= CSV_REQUIRED && fields.every((f, i) => f.toLowerCase() === CSV_COLUMNS[i]);
    sawRecord = true;
    if (isHeader) return;
    if (fields.length < CSV_REQUIRED || fields.length > CSV_COLUMNS.length) {
      throw new InvalidInputError(
        `${where}: expected ${CSV_REQUIRED} to ${CSV_COLUMNS.length} values (${CSV_SHAPE}), got ${fields.length}: ${JSON.stringify(trimmed)}`,
      );
    }
    const [source, destination, recursive, checksum = '', algorithm = ''] = fields as [string, string, string, string?, string?];
    const flag = parseRecursive(recursive, where, 'recursive');
    items.push({
      source_path: checkPath(source, 'source path', where),
      destination_path: checkPath(destination, 'destination path', where),
      ...(flag !== undefined ? { recursive: flag } : {}),
      ...checksumFields(checksum, algorithm, where),
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

/** One of Transfer's filter rules: the first rule whose pattern matches a name decides; a name no rule matches is transferred. */
export interface FilterRule {
  DATA_TYPE: 'filter_rule';
  method: 'include' | 'exclude';
  name: string;
}

/** A pattern or local user name: trimmed, non-empty, printable; `flag` names it in the error. */
function checkText(value: string, flag: string, what: string): string {
  const text = value.trim();
  if (!text || text.length > 1024 || hasUnsafeChars(text)) throw new InvalidInputError(`invalid ${flag} ${JSON.stringify(value)}: give ${what}`);
  return text;
}

/**
 * `--include` and `--exclude` as Transfer filter rules (globus-cli's shape). yargs keeps the
 * values of each flag in order but not how the two were interleaved, so the order is fixed
 * and documented instead: every --include first, then every --exclude, each as given. That
 * is the whitelist form (`--include '*.txt' --exclude '*'`); an --include with no --exclude
 * after it would change nothing (unmatched names are transferred), so it is refused.
 */
export function filterRules(include: readonly string[], exclude: readonly string[]): FilterRule[] {
  if (include.length > 0 && exclude.length === 0) {
    throw new InvalidInputError("--include has no effect without an --exclude (Transfer copies every name no rule excludes); add e.g. --exclude '*'");
  }
  const rule = (method: FilterRule['method']) => (pattern: string) =>
    ({ DATA_TYPE: 'filter_rule', method, name: checkText(pattern, `--${method}`, 'a name pattern such as *.txt') }) as FilterRule;
  return [...include.map(rule('include')), ...exclude.map(rule('exclude'))];
}

/** `--source-local-user` / `--destination-local-user`: the account on a collection that maps several. */
function checkLocalUser(value: string, flag: string): string {
  return checkText(value, flag, 'the local account name');
}

/**
 * `--deadline`: when Transfer gives up on each task, sent as an ISO date-time with offset. It
 * is one absolute time for every run, so a deadline in the past (or before the start) would
 * make every run fail at once: refused.
 */
export function parseDeadline(text: string, nowMs: number, startAtMs: number | null): string {
  const atMs = parseDateTime(text, '--deadline');
  if (atMs <= nowMs) throw new InvalidInputError(`invalid --deadline ${formatIso(atMs)}: it is not after now (${formatIso(nowMs)}), so every run would fail`);
  if (startAtMs !== null && atMs <= startAtMs) {
    throw new InvalidInputError(`invalid --deadline ${formatIso(atMs)}: it is not after the start (${formatIso(startAtMs)}), so every run would fail`);
  }
  return formatIso(atMs);
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
  deleteDestinationExtra?: boolean | undefined;
  filterRules?: FilterRule[] | undefined;
  sourceLocalUser?: string | undefined;
  destinationLocalUser?: string | undefined;
  /** Already checked and formatted (parseDeadline). */
  deadline?: string | undefined;
  /** Default false: see buildTransferBody. */
  notifyOnSucceeded?: boolean | undefined;
  notifyOnFailed?: boolean | undefined;
  notifyOnInactive?: boolean | undefined;
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
  delete_destination_extra?: boolean;
  filter_rules?: FilterRule[];
  source_local_user?: string;
  destination_local_user?: string;
  deadline?: string;
  notify_on_succeeded: boolean;
  notify_on_failed?: boolean;
  notify_on_inactive?: boolean;
}

/** `{key: value}` when the value was given, else nothing: for keys Transfer reads absence of as its default. */
function given<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value !== undefined ? { [key]: value } : {}) as { [k in K]?: V };
}

/**
 * The action body `{body: {...}}` for the current Transfer action provider. The five
 * booleans of the original CLI are always sent (false is Transfer's default too, OAS
 * TransferTaskDocument, so this is what the original sent and changes nothing); every newer
 * key only when given (reference timers-api.md §3b). The one exception is
 * `notify_on_succeeded`: Transfer e-mails the user on every successful task unless told
 * otherwise, which for a job that runs every night is mail nobody asked for, so it is sent
 * false unless --notify-on-succeeded. Failure and inactivity mail keep Transfer's default (on).
 */
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
    ...given('sync_level', opts.syncLevel),
    encrypt_data: opts.encryptData ?? false,
    verify_checksum: opts.verifyChecksum ?? false,
    preserve_timestamp: opts.preserveTimestamp ?? false,
    skip_source_errors: opts.skipSourceErrors ?? false,
    fail_on_quota_errors: opts.failOnQuotaErrors ?? false,
    ...given('recursive_symlinks', opts.recursiveSymlinks),
    ...given('delete_destination_extra', opts.deleteDestinationExtra),
    ...given('filter_rules', opts.filterRules?.length ? opts.filterRules.map((r) => ({ ...r })) : undefined),
    ...given('source_local_user', opts.sourceLocalUser !== undefined ? checkLocalUser(opts.sourceLocalUser, '--source-local-user') : undefined),
    ...given(
      'destination_local_user',
      opts.destinationLocalUser !== undefined ? checkLocalUser(opts.destinationLocalUser, '--destination-local-user') : undefined,
    ),
    ...given('deadline', opts.deadline),
    notify_on_succeeded: opts.notifyOnSucceeded ?? false,
    ...given('notify_on_failed', opts.notifyOnFailed),
    ...given('notify_on_inactive', opts.notifyOnInactive),
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
