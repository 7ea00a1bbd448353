import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import fs from 'node:fs';
import path from 'node:path';
import { MIGRATIONS_DIR } from '../../util/package-root.ts';
import { ERROR_CODES, TimerError } from '../../core/errors.ts';
import { ensurePrivateDir, securePrivateFile, securePrivateFileHeldOpen } from '../../fs/private.ts';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/**
 * Open (creating if needed) the database file, in WAL mode, and migrate it forward.
 * Only the daemon calls this: the CLI never touches SQLite.
 */
export function openDb(file: string): Db {
  if (file !== ':memory:') {
    ensurePrivateDir(path.dirname(file), 'state directory');
    // Created here (O_EXCL) or checked, before SQLite opens it by name: SQLite follows a
    // planted link and opens someone else's database as readily as ours.
    securePrivateFile(file, 'database', 'if-missing');
    secureSidecars(file, securePrivateFile);
  }
  // Empty: made just now (or never written), so it can be made in incremental auto-vacuum mode.
  const empty = file === ':memory:' || fs.statSync(file).size === 0;
  let sqlite: Database.Database;
  try {
    sqlite = new Database(file);
    // Before the WAL pragma, which writes the header: a new store is made in the mode (freed
    // pages can go back to the file system, vacuum.ts); an older one converts at start, once
    // it has been checked (set on a damaged file, the pragma writes to it as it closes).
    if (empty) sqlite.pragma('auto_vacuum = INCREMENTAL');
    sqlite.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a power cut may lose the last commits but never corrupts the file.
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
  } catch (err) {
    throw new TimerError(ERROR_CODES.STORE_FAILED, `cannot open database ${file}: ${(err as Error).message}; check the file and its permissions`, {
      cause: err,
    });
  }
  // Those the WAL pragma just made (SQLite gives them the database's mode): judged too, but
  // without opening them, now that SQLite holds them (see securePrivateFileHeldOpen).
  if (file !== ':memory:') {
    try {
      secureSidecars(file, securePrivateFileHeldOpen);
    } catch (err) {
      sqlite.close();
      throw err;
    }
  }
  refuseNewerSchema(sqlite, file);
  // Everything is read before anything is written: a damaged file is refused untouched.
  const existing = hasTable(sqlite, 'jobs');
  if (existing) checkReadable(sqlite, file);
  const appliedBefore = migrationCount(sqlite);
  const db = drizzle(sqlite, { schema }) as Db;
  // FKs off during migrate(): drizzle-kit rebuilds tables with DROP TABLE inside one
  // transaction, where PRAGMA foreign_keys does nothing, so the drop would cascade-delete runs.
  sqlite.pragma('foreign_keys = OFF');
  try {
    migrate(db, { migrationsFolder: MIGRATIONS_DIR });
  } catch (err) {
    sqlite.close();
    throw new TimerError(ERROR_CODES.STORE_FAILED, `cannot migrate database ${file}: ${(err as Error).message}`, { cause: err });
  }
  // A migration that rebuilt a table must not have broken a reference; checked again only
  // when one ran, since the check reads every run.
  if (!existing || migrationCount(sqlite) !== appliedBefore) checkReadable(sqlite, file);
  probeWritable(sqlite, file);
  sqlite.pragma('foreign_keys = ON');
  return db;
}

/**
 * Another, read-only connection to a database the daemon has opened (checked, migrated)
 * already: the REST API thread's (api/worker.ts), which reads jobs beside the main thread.
 * SQLite shares its locks between the connections of one process.
 */
export function openDbReadOnly(file: string): Db {
  const sqlite = new Database(file, { readonly: true, fileMustExist: true });
  sqlite.pragma('busy_timeout = 5000');
  return drizzle(sqlite, { schema }) as Db;
}

/**
 * The WAL and shared-memory files SQLite keeps beside the database, when they exist: its
 * own opens of them follow links, so they are checked as the database is (a failure to
 * make one private is fatal, never ignored).
 */
function secureSidecars(file: string, secure: (file: string, what: string) => boolean): void {
  for (const suffix of ['-wal', '-shm']) secure(`${file}${suffix}`, `database ${suffix.slice(1)} file`);
}

/**
 * drizzle's migrator applies what is missing but says nothing about a database migrated by
 * a newer globus-timer (after a downgrade). Running on a schema we do not know could
 * corrupt it, so refuse to open it.
 */
function refuseNewerSchema(sqlite: Database.Database, file: string): void {
  const hasTable = sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get();
  if (!hasTable) return;
  const applied = (sqlite.prepare('SELECT max(created_at) AS at FROM __drizzle_migrations').get() as { at: number | null }).at;
  const journal = JSON.parse(fs.readFileSync(path.join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')) as { entries: { when: number }[] };
  const known = Math.max(...journal.entries.map((e) => e.when));
  if (applied !== null && applied > known) {
    sqlite.close();
    throw new TimerError(
      ERROR_CODES.STORE_FAILED,
      `database ${file} was migrated by a newer globus-timer (schema of ${new Date(applied).toISOString()}); upgrade globus-timer, or set GLOBUS_TIMER_HOME to use another database`,
    );
  }
}

function hasTable(sqlite: Database.Database, name: string): boolean {
  return sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

function migrationCount(sqlite: Database.Database): number {
  if (!hasTable(sqlite, '__drizzle_migrations')) return 0;
  return (sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number }).n;
}

/**
 * Fail at start, naming the file, rather than at the first fire: the tables the daemon reads
 * first (each table's own b-tree from its root, the scheduler's index, the open runs) and
 * the foreign-key scan, which reads every run and looks up its job. Not a full
 * `quick_check`, which would cost seconds at a million jobs.
 */
function checkReadable(sqlite: Database.Database, file: string): void {
  let violations: unknown[];
  try {
    sqlite.prepare('SELECT * FROM jobs NOT INDEXED LIMIT 1').all();
    sqlite.prepare('SELECT * FROM runs NOT INDEXED LIMIT 1').all();
    sqlite.prepare('SELECT id FROM jobs ORDER BY next_run_at_ms LIMIT 1').all();
    sqlite.prepare('SELECT id FROM runs INDEXED BY runs_open WHERE completed_at_ms IS NULL').all();
    violations = sqlite.pragma('foreign_key_check') as unknown[];
  } catch (err) {
    sqlite.close();
    throw new TimerError(
      ERROR_CODES.STORE_FAILED,
      `cannot use database ${file}: ${(err as Error).message}; restore it from a backup (or move it away to start afresh)`,
      { cause: err },
    );
  }
  if (violations.length > 0) {
    sqlite.close();
    throw new TimerError(ERROR_CODES.STORE_FAILED, `database ${file} has foreign-key violations; restore it from a backup (or move it away to start afresh)`);
  }
}

/**
 * Fail at start, naming the file, rather than at the first fire: a database SQLite could
 * only open read-only (an immutable or read-only file), or one another process keeps locked
 * (waits busy_timeout first).
 */
function probeWritable(sqlite: Database.Database, file: string): void {
  const fail = (why: string, cause?: unknown) => {
    sqlite.close();
    return new TimerError(ERROR_CODES.STORE_FAILED, `cannot use database ${file}: ${why}`, { cause });
  };
  if (sqlite.readonly) throw fail('it can only be opened read-only; check the file, its directory and their permissions');
  try {
    // A real write (the header's user_version, set to what it is): an immutable file opens
    // without complaint and only refuses the first write.
    const version = sqlite.pragma('user_version', { simple: true }) as number;
    sqlite.pragma(`user_version = ${version}`);
  } catch (err) {
    throw fail(`it cannot be written (${(err as Error).message}); is another process holding it locked, or is it read-only?`, err);
  }
}
