/**
 * `globus-timer daemon install|uninstall`: where the service files go, what they say, and
 * the commands that make the service manager pick them up. Planning only reads; applying
 * writes or removes the files and nothing else, so the CLI decides whether to run the
 * commands or print them. Every path comes from the injected env/homedir/uid, which is how
 * tests point all of it at a temp directory.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_BIN } from '../util/package-root.ts';
import { API_ADDR_ENV, apiBaseUrl, type ApiAddr } from '../core/api-addr.ts';
import { InvalidInputError } from '../core/errors.ts';
import { shellQuote } from '../util/shell-quote.ts';
import {
  LAUNCHD_LABEL,
  LAUNCHD_LOG_NAME,
  LAUNCHD_PLIST_NAME,
  SYSTEMD_SERVICE_NAME,
  SYSTEMD_SOCKET_NAME,
  launchdPlist,
  systemdServiceUnit,
  systemdSocketUnit,
  type ServiceUnitInput,
} from './units.ts';

export type ServiceKind = 'systemd' | 'launchd';

export function defaultServiceKind(platform: NodeJS.Platform = process.platform): ServiceKind {
  return platform === 'darwin' ? 'launchd' : 'systemd';
}

export interface ServiceOptions {
  /** Default: launchd on macOS, systemd elsewhere. */
  kind?: ServiceKind | undefined;
  /** Default process.env. HOME, XDG_CONFIG_HOME, XDG_RUNTIME_DIR, GLOBUS_TIMER_HOME… are read from here only. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Default env.HOME, else os.homedir(). */
  homedir?: string | undefined;
  /** Default process.getuid(): launchd's gui/<uid> domain and systemd's /run/user/<uid>. */
  uid?: number | undefined;
  platform?: NodeJS.Platform | undefined;
  /** Default process.execPath. */
  nodePath?: string | undefined;
  /** Default this package's bin/globus-timer.js. */
  cliPath?: string | undefined;
  /** Plan only: apply* then touches nothing. */
  dryRun?: boolean | undefined;
  /** Whether the user may create user namespaces (systemd's PrivateUsers=). Default: probeUserNamespaces(). */
  userNamespaces?: boolean | undefined;
  /** Serve the Timers REST API on this loopback address, a fixed port (`daemon install --api`); absent: no API. */
  apiAddr?: ApiAddr | undefined;
}

export interface ServiceCommand {
  argv: readonly string[];
  /** The same command quoted for a POSIX shell, to print. */
  shell: string;
  /** Failure is expected in some states and harmless (e.g. booting out an agent that is not loaded). */
  mayFail: boolean;
}

interface PlannedFile {
  path: string;
  content: string;
  mode: number;
  /** What is on disk now: nothing, these exact bytes, or something else that will be replaced. */
  state: 'new' | 'same' | 'changed';
}

export interface InstallPlan {
  kind: ServiceKind;
  dryRun: boolean;
  /** Created 0700 if missing (existing ones are left as they are). */
  dirs: string[];
  files: PlannedFile[];
  /** Run in order after the files are written. */
  commands: ServiceCommand[];
  /** Where the CLI will find the daemon once it runs under the service manager. */
  socketPath: string;
  /** The REST API's base URL the service will serve (`--api`), or null: no API. */
  apiUrl: string | null;
  /** Things the user should know (lingering, an unset XDG_RUNTIME_DIR, a Node path that moves). */
  notes: string[];
}

interface PlannedRemoval {
  path: string;
  exists: boolean;
  /** Only removed if it is a symlink (systemd's enablement links, left if `disable` never ran). */
  symlinkOnly: boolean;
}

export interface UninstallPlan {
  kind: ServiceKind;
  dryRun: boolean;
  /** Run these first, while the files still exist: they stop the service and disable it. */
  commands: ServiceCommand[];
  files: PlannedRemoval[];
  /** Run these after the files are gone. */
  afterCommands: ServiceCommand[];
  notes: string[];
}

const FILE_MODE = 0o644;
const DIR_MODE = 0o700;

/** bin/globus-timer.js of this checkout or installed package (src/install/ → ../../bin). */
export function defaultCliPath(): string {
  return CLI_BIN;
}

interface Context {
  kind: ServiceKind;
  env: Readonly<Record<string, string | undefined>>;
  homedir: string;
  uid: number;
  nodePath: string;
  cliPath: string;
  dryRun: boolean;
  /** GLOBUS_TIMER_HOME, resolved as resolvePaths() does. */
  home: string | undefined;
  userNamespaces: boolean | undefined;
  apiAddr: ApiAddr | undefined;
}

function contextOf(opts: ServiceOptions): Context {
  const env = opts.env ?? process.env;
  const homedir = opts.homedir ?? (env.HOME || os.homedir());
  if (!path.isAbsolute(homedir)) throw new InvalidInputError(`home directory must be an absolute path, got ${JSON.stringify(homedir)}`);
  const uid = opts.uid ?? process.getuid?.();
  if (uid === undefined) throw new InvalidInputError('cannot tell the user id on this platform; service install needs systemd or launchd');
  // A service needs a port it can tell its clients, and that systemd can hold before the daemon runs.
  if (opts.apiAddr?.port === 0) throw new InvalidInputError('the service needs a fixed API port, not 0 (any free one): give one, e.g. --api 8765');
  return {
    kind: opts.kind ?? defaultServiceKind(opts.platform),
    env,
    homedir,
    uid,
    nodePath: opts.nodePath ?? process.execPath,
    cliPath: opts.cliPath ?? defaultCliPath(),
    dryRun: opts.dryRun ?? false,
    home: env.GLOBUS_TIMER_HOME ? path.resolve(env.GLOBUS_TIMER_HOME) : undefined,
    userNamespaces: opts.userNamespaces,
    apiAddr: opts.apiAddr,
  };
}

/** XDG base directories must be absolute; a relative one is ignored, as the spec says. */
function xdg(env: Context['env'], name: string): string | undefined {
  const v = env[name];
  return v && path.isAbsolute(v) ? v : undefined;
}

function systemdUnitDir(ctx: { env: Readonly<Record<string, string | undefined>>; homedir: string }): string {
  return path.join(xdg(ctx.env, 'XDG_CONFIG_HOME') ?? path.join(ctx.homedir, '.config'), 'systemd', 'user');
}

function launchAgentsDir(ctx: { homedir: string }): string {
  return path.join(ctx.homedir, 'Library', 'LaunchAgents');
}

/**
 * Variables that decide where the daemon keeps its state besides GLOBUS_TIMER_HOME, passed
 * on when set so that the service uses the same database and socket as this shell. systemd
 * sets XDG_RUNTIME_DIR itself (it is the socket unit's %t); a LaunchAgent may get no TMPDIR,
 * and the socket falls back to the temp directory.
 */
const PASSED_ON: Record<ServiceKind, readonly string[]> = {
  systemd: ['XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME'],
  launchd: ['XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME', 'XDG_RUNTIME_DIR', 'TMPDIR'],
};

function passedOn(ctx: Context): Record<string, string> {
  const out: Record<string, string> = {};
  if (ctx.home !== undefined) return out;
  for (const name of PASSED_ON[ctx.kind]) {
    // A relative one would mean a different place for a service started in another directory.
    const v = ctx.env[name];
    if (v && path.isAbsolute(v)) out[name] = v;
  }
  return out;
}

/** Version managers put Node under a versioned directory that an upgrade removes. */
const MOVING_NODE = /\/(\.nvm|\.fnm|fnm|\.volta|\.asdf|mise|n\/versions)\//;

function commonNotes(ctx: Context): string[] {
  const notes: string[] = [];
  if (MOVING_NODE.test(ctx.nodePath)) {
    notes.push(
      `The service runs ${ctx.nodePath}, which a Node.js version manager may remove on upgrade; run \`globus-timer daemon install\` again after switching Node.js.`,
    );
  }
  if (ctx.cliPath.includes(`${path.sep}_npx${path.sep}`)) {
    notes.push(
      `The service runs ${ctx.cliPath} from npx's cache, which npm may clear; install globus-timer (npm install -g, or in a project) and run \`daemon install\` from there.`,
    );
  }
  if (ctx.apiAddr) {
    const url = apiBaseUrl(ctx.apiAddr);
    const held = ctx.kind === 'systemd' ? ' (the socket unit holds the port, so the first request starts the daemon)' : '';
    notes.push(
      `The service serves the Timers REST API on ${url}${held}; once it runs, \`globus-timer api url\` prints the URL and \`globus-timer api token\` the bearer token every request needs.`,
    );
    if (ctx.apiAddr.port < 1024)
      notes.push(`Port ${ctx.apiAddr.port} is below 1024, which usually needs privileges a user service lacks; if it does not start, pick a port above 1024.`);
  } else if (ctx.env[API_ADDR_ENV]) {
    // daemon start would serve it; a service does not read this shell's variables.
    notes.push(
      `${API_ADDR_ENV} is set in this shell, but the service gets only what --api gives: to serve the REST API, run \`globus-timer daemon install --api PORT\`.`,
    );
  }
  return notes;
}

function checkExecutables(ctx: Context): void {
  for (const [what, p] of [
    ['Node.js', ctx.nodePath],
    ['the globus-timer CLI', ctx.cliPath],
  ] as const) {
    if (!path.isAbsolute(p)) throw new InvalidInputError(`path of ${what} must be absolute, got ${JSON.stringify(p)}`);
    if (!fs.existsSync(p)) throw new InvalidInputError(`${what} not found at ${p}`);
  }
}

function fileState(p: string, content: string): PlannedFile['state'] {
  let current: string;
  try {
    current = fs.readFileSync(p, 'utf8');
  } catch {
    return 'new';
  }
  return current === content ? 'same' : 'changed';
}

function command(argv: string[], mayFail = false): ServiceCommand {
  return { argv, shell: argv.map((word) => shellQuote(word)).join(' '), mayFail };
}

const systemctl = (...args: string[]) => command(['systemctl', '--user', ...args]);

function launchdTarget(ctx: Context): string {
  return `gui/${ctx.uid}/${LAUNCHD_LABEL}`;
}

function unitInput(ctx: Context, socketPath: string, logDir: string, runtimeDir?: string): ServiceUnitInput {
  return { nodePath: ctx.nodePath, cliPath: ctx.cliPath, socketPath, logDir, home: ctx.home, environment: passedOn(ctx), runtimeDir, apiAddr: ctx.apiAddr };
}

function planApiUrl(ctx: Context): string | null {
  return ctx.apiAddr ? apiBaseUrl(ctx.apiAddr) : null;
}

function planSystemd(ctx: Context): InstallPlan {
  const unitDir = systemdUnitDir(ctx);
  const shellRuntime = xdg(ctx.env, 'XDG_RUNTIME_DIR');
  // The user manager's %t: normally what the login session exported, else its fixed place.
  const runtimeDir = shellRuntime ?? `/run/user/${ctx.uid}`;
  const socketPath = ctx.home !== undefined ? path.join(ctx.home, 'daemon.sock') : path.join(runtimeDir, 'globus-timer', 'daemon.sock');
  // Unused by the units (the journal has the output), but the same place resolvePaths() uses.
  const logDir =
    ctx.home !== undefined
      ? path.join(ctx.home, 'logs')
      : path.join(xdg(ctx.env, 'XDG_STATE_HOME') ?? path.join(ctx.homedir, '.local', 'state'), 'globus-timer');
  const writableDirs = daemonWritableDirs(ctx, socketPath, logDir);
  const userNamespaces = ctx.userNamespaces ?? probeUserNamespaces();
  const input = { ...unitInput(ctx, socketPath, logDir, runtimeDir), writableDirs, userNamespaces };
  const files = [
    { path: path.join(unitDir, SYSTEMD_SERVICE_NAME), content: systemdServiceUnit(input) },
    { path: path.join(unitDir, SYSTEMD_SOCKET_NAME), content: systemdSocketUnit(input) },
  ].map((f) => ({ ...f, mode: FILE_MODE, state: fileState(f.path, f.content) }));
  const commands = [systemctl('daemon-reload'), systemctl('enable', '--now', SYSTEMD_SOCKET_NAME, SYSTEMD_SERVICE_NAME)];
  // enable --now leaves a running daemon alone; only a restart makes it use the new unit.
  if (files.some((f) => f.state === 'changed')) commands.push(systemctl('restart', SYSTEMD_SOCKET_NAME, SYSTEMD_SERVICE_NAME));
  const notes = commonNotes(ctx);
  if (ctx.home === undefined && shellRuntime === undefined) {
    notes.push(
      `XDG_RUNTIME_DIR is not set in this shell: the service listens on ${socketPath}, but the CLI here would look in ${dataDirOf(ctx)}; ` +
        `a normal login session sets XDG_RUNTIME_DIR=${runtimeDir}, otherwise export it.`,
    );
  }
  if (!userNamespaces) {
    notes.push(
      'You cannot create user namespaces on this machine (unshare --user fails), so the service is sandboxed by system-call filters only: ' +
        'without one, systemd cannot make the file system read-only to it or drop its capabilities.',
    );
  }
  notes.push('A user service runs while you are logged in; to start it at boot and keep it running after you log out: loginctl enable-linger');
  // The sandbox leaves only these writable and needs them to exist; the socket unit makes the socket's.
  const stateDirs = writableDirs.filter((d) => d !== path.dirname(socketPath));
  return { kind: 'systemd', dryRun: ctx.dryRun, dirs: [unitDir, ...stateDirs], files, commands, socketPath, apiUrl: planApiUrl(ctx), notes };
}

/**
 * Every directory the daemon writes, where resolvePaths() puts them in the service's
 * environment (HOME, the XDG variables passed on, GLOBUS_TIMER_HOME): the database with its
 * -wal/-shm and the pid file, the logs, the socket, and the token cache with its .lock
 * directory and temp files. The unit's ReadWritePaths=.
 */
function daemonWritableDirs(ctx: Context, socketPath: string, logDir: string): string[] {
  if (ctx.home !== undefined) return [ctx.home];
  const dataDir = dataDirOf(ctx);
  const tokensDir = path.join(xdg(ctx.env, 'XDG_CONFIG_HOME') ?? path.join(ctx.homedir, '.config'), 'globus');
  return [...new Set([dataDir, logDir, path.dirname(socketPath), tokensDir])];
}

/**
 * Whether this user can create a user namespace with a mount namespace in it, which is what
 * a user manager does for PrivateUsers=: util-linux's unshare tries exactly that. No where
 * unprivileged user namespaces are restricted (Ubuntu's AppArmor default since 23.10,
 * kernel.unprivileged_userns_clone=0, user.max_user_namespaces=0) or unshare is missing.
 */
function probeUserNamespaces(): boolean {
  return spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'true'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/**
 * resolvePaths()' data directory (env-paths' `data`: on macOS in Application Support, else
 * $XDG_DATA_HOME), which is also the socket's without XDG_RUNTIME_DIR (beside timer.db).
 */
function dataDirOf(ctx: Context): string {
  if (ctx.kind === 'launchd') return path.join(ctx.homedir, 'Library', 'Application Support', 'globus-timer');
  return path.join(ctx.env.XDG_DATA_HOME || path.join(ctx.homedir, '.local', 'share'), 'globus-timer');
}

/** Where resolvePaths() puts the socket for this environment (the daemon makes it itself under launchd). */
function launchdSocketPath(ctx: Context): string {
  if (ctx.home !== undefined) return path.join(ctx.home, 'daemon.sock');
  const runtime = xdg(ctx.env, 'XDG_RUNTIME_DIR');
  if (runtime !== undefined) return path.join(runtime, 'globus-timer', 'daemon.sock');
  return path.join(dataDirOf(ctx), 'daemon.sock');
}

function planLaunchd(ctx: Context): InstallPlan {
  const agentsDir = launchAgentsDir(ctx);
  // As env-paths on macOS (resolvePaths' logDir there), or GLOBUS_TIMER_HOME/logs.
  const logDir = ctx.home !== undefined ? path.join(ctx.home, 'logs') : path.join(ctx.homedir, 'Library', 'Logs', 'globus-timer');
  const socketPath = launchdSocketPath(ctx);
  const plistPath = path.join(agentsDir, LAUNCHD_PLIST_NAME);
  const content = launchdPlist(unitInput(ctx, socketPath, logDir));
  const file: PlannedFile = { path: plistPath, content, mode: FILE_MODE, state: fileState(plistPath, content) };
  const domain = `gui/${ctx.uid}`;
  const commands: ServiceCommand[] = [];
  // bootstrap refuses a label that is already loaded: unload the old one first.
  if (file.state !== 'new') commands.push(command(['launchctl', 'bootout', launchdTarget(ctx)], true));
  // A service someone once `launchctl disable`d stays disabled across bootstrap.
  commands.push(command(['launchctl', 'enable', launchdTarget(ctx)]), command(['launchctl', 'bootstrap', domain, plistPath]));
  const notes = [...commonNotes(ctx), `The agent runs while you are logged in; its output goes to ${path.join(logDir, LAUNCHD_LOG_NAME)}.`];
  // launchd does not create the log file's directory: without it the agent cannot start.
  return { kind: 'launchd', dryRun: ctx.dryRun, dirs: [agentsDir, logDir], files: [file], commands, socketPath, apiUrl: planApiUrl(ctx), notes };
}

/** What `daemon install` would write and run. Reads the file system, changes nothing. */
export function planInstall(opts: ServiceOptions = {}): InstallPlan {
  const ctx = contextOf(opts);
  checkExecutables(ctx);
  return ctx.kind === 'systemd' ? planSystemd(ctx) : planLaunchd(ctx);
}

/** Write a file so that a reader sees the old bytes or the new ones, never half of them. */
function writeFileAtomic(p: string, content: string, mode: number): void {
  const tmp = path.join(path.dirname(p), `.${path.basename(p)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, content, { mode });
    // The umask may have taken bits off; units are world-readable as systemd and launchd expect.
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, p);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export function applyInstall(plan: InstallPlan): { written: string[] } {
  if (plan.dryRun) return { written: [] };
  for (const dir of plan.dirs) fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  for (const f of plan.files) writeFileAtomic(f.path, f.content, f.mode);
  return { written: plan.files.map((f) => f.path) };
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** What `daemon uninstall` would run and remove. Reads the file system, changes nothing. */
export function planUninstall(opts: ServiceOptions = {}): UninstallPlan {
  const ctx = contextOf(opts);
  const removal = (p: string, symlinkOnly = false): PlannedRemoval => ({ path: p, exists: exists(p), symlinkOnly });
  if (ctx.kind === 'systemd') {
    const unitDir = systemdUnitDir(ctx);
    return {
      kind: 'systemd',
      dryRun: ctx.dryRun,
      // May fail when the units are already gone; removing the files must still go ahead.
      commands: [{ ...systemctl('disable', '--now', SYSTEMD_SOCKET_NAME, SYSTEMD_SERVICE_NAME), mayFail: true }],
      files: [
        removal(path.join(unitDir, SYSTEMD_SERVICE_NAME)),
        removal(path.join(unitDir, SYSTEMD_SOCKET_NAME)),
        // What `systemctl enable` made; `disable` removes them, this catches a skipped disable.
        removal(path.join(unitDir, 'default.target.wants', SYSTEMD_SERVICE_NAME), true),
        removal(path.join(unitDir, 'sockets.target.wants', SYSTEMD_SOCKET_NAME), true),
      ],
      // Nothing to reload when no user manager runs (e.g. over ssh without lingering).
      afterCommands: [{ ...systemctl('daemon-reload'), mayFail: true }],
      notes: ['Jobs, run history and the journal are kept; the daemon no longer starts on its own.'],
    };
  }
  return {
    kind: 'launchd',
    dryRun: ctx.dryRun,
    // Fails harmlessly when the agent is not loaded. By label, so it works after the plist is gone too.
    commands: [command(['launchctl', 'bootout', launchdTarget(ctx)], true)],
    files: [removal(path.join(launchAgentsDir(ctx), LAUNCHD_PLIST_NAME))],
    afterCommands: [],
    notes: ['Jobs, run history and the log files are kept; the daemon no longer starts on its own.'],
  };
}

export function applyUninstall(plan: UninstallPlan): { removed: string[] } {
  if (plan.dryRun) return { removed: [] };
  const removed: string[] = [];
  for (const f of plan.files) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(f.path);
    } catch {
      continue;
    }
    if (f.symlinkOnly && !st.isSymbolicLink()) continue;
    fs.rmSync(f.path, { force: true });
    removed.push(f.path);
  }
  return { removed };
}

/** Runs one command and says whether it succeeded. */
export type CommandRunner = (cmd: ServiceCommand) => boolean;

interface CommandResult {
  command: ServiceCommand;
  ok: boolean;
}

/** Runs a command with the terminal attached, so systemctl/launchctl speak to the user themselves. */
export const spawnRunner: CommandRunner = (cmd) => {
  const [file, ...args] = cmd.argv;
  if (file === undefined) return false;
  return spawnSync(file, args, { stdio: 'inherit' }).status === 0;
};

/** Runs commands in order; stops at the first failure that is not expected to happen. */
function runAll(commands: readonly ServiceCommand[], run: CommandRunner, results: CommandResult[]): boolean {
  for (const cmd of commands) {
    const ok = run(cmd);
    results.push({ command: cmd, ok });
    if (!ok && !cmd.mayFail) return false;
  }
  return true;
}

export interface ServiceRunOptions extends ServiceOptions {
  /**
   * Run the plan's commands with this (e.g. spawnRunner). Without it nothing is run and the
   * caller prints `commands` for the user. Never called on a dry run.
   */
  run?: CommandRunner | undefined;
}

export interface ServiceOutcome {
  /** Commands run so far, in order; empty when nothing was run. */
  ran: CommandResult[];
  /** False when a command that had to succeed failed (the last entry of `ran`). */
  ok: boolean;
}

/** Plan, write (unless dryRun), then run the commands if given a runner: what `daemon install` calls. */
export function installService(opts: ServiceRunOptions = {}): InstallPlan & ServiceOutcome & { written: string[] } {
  const plan = planInstall(opts);
  const { written } = applyInstall(plan);
  const ran: CommandResult[] = [];
  const ok = plan.dryRun || opts.run === undefined ? true : runAll(plan.commands, opts.run, ran);
  return { ...plan, written, ran, ok };
}

/**
 * What `daemon uninstall` calls. With a runner: stop and disable, remove the files, reload.
 * Without one the files go at once and nothing is run; `systemctl disable` needs the unit
 * files, so a caller that only prints must have the user run planUninstall()'s `commands`
 * before this, not after.
 */
export function uninstallService(opts: ServiceRunOptions = {}): UninstallPlan & ServiceOutcome & { removed: string[] } {
  const plan = planUninstall(opts);
  const ran: CommandResult[] = [];
  if (plan.dryRun) return { ...plan, removed: [], ran, ok: true };
  if (opts.run !== undefined && !runAll(plan.commands, opts.run, ran)) return { ...plan, removed: [], ran, ok: false };
  const { removed } = applyUninstall(plan);
  const ok = opts.run === undefined ? true : runAll(plan.afterCommands, opts.run, ran);
  return { ...plan, removed, ran, ok };
}
