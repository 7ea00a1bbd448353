/**
 * The files that let the user's own service manager run the daemon: a systemd user service
 * with its socket unit, and a macOS LaunchAgent. Pure functions of their input, so the
 * exact text is testable; `install.ts` decides the paths and writes them.
 */
import path from 'node:path';
import { MAX_SOCKET_PATH_BYTES } from '../config/paths.ts';
import { API_ADDR_ENV, isLoopback, type ApiAddr } from '../core/api-addr.ts';
import { InvalidInputError } from '../core/errors.ts';

export const SYSTEMD_SERVICE_NAME = 'globus-timer.service';
export const SYSTEMD_SOCKET_NAME = 'globus-timer.socket';

/**
 * Not `org.globus.*`: that namespace is Globus's own and this is not their software, so the
 * label comes from this project's name. It names the daemon (the CLI is no agent), and the
 * plist's file name repeats it, which is what launchctl and people looking in
 * ~/Library/LaunchAgents expect.
 */
export const LAUNCHD_LABEL = 'org.globus-timer.daemon';
export const LAUNCHD_PLIST_NAME = `${LAUNCHD_LABEL}.plist`;
/** launchd writes the daemon's stderr here; a name of its own, apart from the daemon's rotated `daemon.N.log` files. */
export const LAUNCHD_LOG_NAME = 'launchd.log';

/** The daemon's shutdown grace is 5 s (GLOBUS_TIMER_SHUTDOWN_GRACE_MS); closing the database comes after it. */
const STOP_TIMEOUT_SEC = 15;
const RESTART_SEC = 5;
/** A broken install (Node moved, database unreadable) fails after this many starts instead of looping for ever. */
const START_LIMIT_BURST = 5;
const START_LIMIT_INTERVAL_SEC = 120;

export interface ServiceUnitInput {
  /** The Node.js binary (process.execPath of the installing CLI). */
  nodePath: string;
  /** bin/globus-timer.js. */
  cliPath: string;
  /** Where the daemon listens: the socket unit's ListenStream=, and where the CLI connects. */
  socketPath: string;
  /** Where launchd writes the daemon's output (systemd sends it to the journal). */
  logDir: string;
  /** GLOBUS_TIMER_HOME for the daemon, when the installing user had one. */
  home?: string | undefined;
  /**
   * Other variables the daemon resolves its paths from (XDG_DATA_HOME, TMPDIR, …), so the
   * service finds the same state as the shell that installed it.
   */
  environment?: Readonly<Record<string, string>> | undefined;
  /**
   * The user manager's runtime directory (`%t`, i.e. XDG_RUNTIME_DIR). A socketPath under it
   * is written as `%t/…`, so the unit stays right wherever the runtime directory is.
   */
  runtimeDir?: string | undefined;
  /**
   * Every directory the daemon writes (database and pid file, logs, socket, token cache):
   * the service unit's ReadWritePaths=, the rest of the file system being read-only to it.
   */
  writableDirs?: readonly string[] | undefined;
  /**
   * Whether the user may create user namespaces here (install.ts probes it): only then can
   * a user manager give the service PrivateUsers= and the sandboxing that needs it.
   */
  userNamespaces?: boolean | undefined;
  /**
   * The Timers REST API's loopback address (`daemon install --api`), a fixed port: the
   * daemon's GLOBUS_TIMER_API_ADDR, and under systemd a second ListenStream= of the socket
   * unit, handed over as fd 4. Absent: no API, and the units are as without the option.
   */
  apiAddr?: ApiAddr | undefined;
}

// ---------------------------------------------------------------------------------------
// Validation: a value we cannot express in the target syntax is refused, never mangled.

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkPath(what: string, value: string): void {
  if (!path.posix.isAbsolute(value)) throw new InvalidInputError(`${what} must be an absolute path, got ${JSON.stringify(value)}`);
  if (CONTROL_CHARS.test(value)) throw new InvalidInputError(`${what} contains a control character: ${JSON.stringify(value)}`);
}

function checkEnvironment(env: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new InvalidInputError(`invalid environment variable name ${JSON.stringify(name)}`);
    if (CONTROL_CHARS.test(value)) throw new InvalidInputError(`environment variable ${name} contains a control character`);
  }
}

/**
 * `127.0.0.1:8765`, `[::1]:8765`: the API's address as GLOBUS_TIMER_API_ADDR and
 * ListenStream= both read it (systemd.socket(5): `[x]:y` is IPv6). Loopback and a fixed port
 * only: ListenStream= refuses port 0, and clients could not know a port picked at each start.
 */
function apiListenAddress(addr: ApiAddr): string {
  if (!isLoopback(addr.host)) throw new InvalidInputError(`the API listens on loopback only (127.0.0.1 or ::1), not ${addr.host}`);
  if (!Number.isInteger(addr.port) || addr.port < 1 || addr.port > 65_535) {
    throw new InvalidInputError(`the service needs a fixed API port (1-65535), not ${addr.port}`);
  }
  return `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
}

/** GLOBUS_TIMER_HOME first, then the others by name: the same input always gives the same bytes. */
function environmentOf(input: ServiceUnitInput): [string, string][] {
  const extra = input.environment ?? {};
  checkEnvironment(extra);
  // The API's address is the apiAddr input's to give (or, absent, to leave out).
  const api: [string, string][] = input.apiAddr ? [[API_ADDR_ENV, apiListenAddress(input.apiAddr)]] : [];
  const pairs = [...Object.entries(extra).filter(([name]) => name !== 'GLOBUS_TIMER_HOME' && name !== API_ADDR_ENV), ...api].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  if (input.home !== undefined) {
    checkPath('home', input.home);
    pairs.unshift(['GLOBUS_TIMER_HOME', input.home]);
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------
// systemd (systemd.syntax(7), systemd.service(5) "COMMAND LINES", systemd.unit(5) specifiers)

/** `%` starts a specifier everywhere in a unit file. */
function escapeSpecifiers(s: string): string {
  return s.replaceAll('%', '%%');
}

/** Double-quoted item with the C escapes systemd.syntax(7) undoes (`\\`, `\"`). */
function quoteItem(s: string): string {
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One word of ExecStart=. Quoted only when it has to be; `%` doubled. Arguments also double
 * `$` (`$FOO`/`${FOO}` are expanded there), but the program path must not: systemd uses it
 * as written, so `$$` would name a different file. Both seen with systemd-analyze verify.
 */
export function systemdExecWord(word: string, { program = false }: { program?: boolean } = {}): string {
  if (CONTROL_CHARS.test(word)) throw new InvalidInputError(`command word contains a control character: ${JSON.stringify(word)}`);
  // systemd's string_is_safe(): correctly quoted or not, such a program path makes the unit
  // fail to load ("Executable name contains special characters").
  if (program && /["'\\]/.test(word)) {
    throw new InvalidInputError(`systemd cannot run a program whose path contains a quote or a backslash: ${word}; put Node.js (or a symlink to it) elsewhere`);
  }
  let s = escapeSpecifiers(word);
  if (!program) s = s.replaceAll('$', () => '$$');
  return PLAIN_WORD.test(s) ? s : quoteItem(s);
}

/** A whole-assignment-quoted Environment= value; `$` means nothing there. */
function systemdEnvironmentLine(name: string, value: string): string {
  return `Environment=${quoteItem(escapeSpecifiers(`${name}=${value}`))}`;
}

/**
 * ListenStream= takes the rest of the line as the path, unquoted and with surrounding
 * blanks dropped, after specifier expansion; a trailing backslash would join the next line.
 */
function systemdListenPath(socketPath: string, runtimeDir?: string): string {
  checkPath('socketPath', socketPath);
  if (socketPath !== socketPath.trim() || socketPath.endsWith('\\')) {
    throw new InvalidInputError(`socket path ${JSON.stringify(socketPath)} cannot be written in a socket unit (surrounding blanks or a trailing backslash)`);
  }
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new InvalidInputError(`socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`);
  }
  return specifierPath(socketPath, runtimeDir);
}

/** A path with `%` escaped; one under the runtime directory written as `%t/…`. */
function specifierPath(p: string, runtimeDir: string | undefined): string {
  if (runtimeDir !== undefined) {
    checkPath('runtimeDir', runtimeDir);
    const prefix = runtimeDir.endsWith('/') ? runtimeDir : `${runtimeDir}/`;
    if (p.startsWith(prefix)) return `%t/${escapeSpecifiers(p.slice(prefix.length))}`;
    if (p === runtimeDir) return '%t';
  }
  return escapeSpecifiers(p);
}

/**
 * One ReadWritePaths= entry: `-` first, so a directory removed since `daemon install` made
 * it does not keep the service from starting (the daemon then reports the read-only
 * directory itself, naming it); quoted when it has blanks or quotes.
 */
function systemdWritablePath(dir: string, runtimeDir: string | undefined): string {
  checkPath('writable directory', dir);
  const item = `-${specifierPath(dir, runtimeDir)}`;
  return PLAIN_WORD.test(item) ? item : quoteItem(item);
}

/**
 * The service's sandbox (systemd.exec(5)), for a daemon that talks HTTPS to Globus and
 * Action Providers, serves its socket and writes only its own directories. In a user
 * manager, on systemd 252 and later:
 * - seccomp/prctl settings work for any user (NoNewPrivileges= is implied for seccomp in a
 *   user manager anyway): NoNewPrivileges=, RestrictAddressFamilies=,
 *   RestrictNamespaces=, RestrictRealtime=, RestrictSUIDSGID=, LockPersonality=,
 *   SystemCallArchitectures=, SystemCallFilter=, KeyringMode=, UMask=;
 * - mount-namespace settings (ProtectSystem=, ReadWritePaths=, PrivateTmp=,
 *   ProtectKernelTunables=) need a user namespace to work in: PrivateUsers=, or on
 *   systemd >= 255 one the manager sets up by itself where it can; where neither is possible
 *   they are skipped and the service still starts;
 * - settings that shrink the capability bounding set (CapabilityBoundingSet=,
 *   PrivateDevices=, ProtectKernelModules=, ProtectKernelLogs=, ProtectClock=) fail the
 *   start outright without one, and PrivateUsers= does where user namespaces are not
 *   allowed (Ubuntu's AppArmor default since 23.10, unprivileged_userns_clone=0): so those
 *   are written only when `daemon install` saw that this user can create one.
 * Not used: ProtectControlGroups=, ProtectProc=, ProcSubset= and RemoveIPC= (system
 * managers only), PrivateNetwork=/IPAddressDeny= (it must reach any provider, and with
 * `--api` serve its loopback port), MemoryDenyWriteExecute= (V8 compiles JavaScript to
 * machine code in memory it then executes).
 * RestrictAddressFamilies= keeps AF_INET and AF_INET6 for the providers; the REST API
 * (`--api`, 127.0.0.1 or ::1) needs them as well: the inherited socket is served, not made,
 * but a daemon whose socket unit predates `--api` binds the port itself.
 */
function systemdSandbox(input: ServiceUnitInput): string[] {
  const writable = [...new Set(input.writableDirs ?? [])].map((d) => `ReadWritePaths=${systemdWritablePath(d, input.runtimeDir)}`);
  const lines = [
    '# Sandbox (systemd.exec(5)): only what a user manager can apply.',
    'NoNewPrivileges=yes',
    "# The whole file system read-only, but for the daemon's own directories: database and pid",
    '# file, logs, socket, token cache (each may be missing: "-").',
    'ProtectSystem=strict',
    ...writable,
    'PrivateTmp=yes',
    'ProtectKernelTunables=yes',
    "# Its own socket and the resolver's, IPv4 and IPv6. No netlink: getaddrinfo() then",
    '# assumes both address families are configured, which is right for a client.',
    ...(input.apiAddr ? ['# IPv4 and IPv6 also serve the REST API on its loopback port (daemon install --api).'] : []),
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'SystemCallArchitectures=native',
    '# What system services need, less what Node.js and SQLite never call as a user (traced);',
    '# any other call fails with EPERM, which Node.js copes with (as with pkey_alloc).',
    'SystemCallFilter=@system-service',
    'SystemCallFilter=~@privileged @resources',
    'SystemCallErrorNumber=EPERM',
    'KeyringMode=private',
    "# No MemoryDenyWriteExecute=: V8's JIT writes machine code, then runs it.",
  ];
  if (input.userNamespaces) {
    lines.push(
      '# This user may create user namespaces (daemon install checked), so the service gets its',
      '# own: the settings above apply on any systemd, and these can drop capabilities.',
      'PrivateUsers=yes',
      'CapabilityBoundingSet=',
      'PrivateDevices=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelLogs=yes',
      'ProtectClock=yes',
      'ProtectHostname=yes',
    );
  } else {
    lines.push(
      '# No PrivateUsers=, CapabilityBoundingSet=, PrivateDevices=, ProtectKernel{Modules,Logs}=,',
      '# ProtectClock=, ProtectHostname=: this user cannot create user namespaces (daemon install',
      '# checked), without which they would keep the service from starting; the file-system',
      '# settings above are skipped (run daemon install again once user namespaces work).',
    );
  }
  return lines;
}

const GENERATED_BY = '# Written by `globus-timer daemon install`; run it again rather than editing this file\n# (local changes: systemctl --user edit <unit>).';

/** The systemd user service: `<node> <cli> daemon run`, started on login and by its socket. */
export function systemdServiceUnit(input: ServiceUnitInput): string {
  checkPath('nodePath', input.nodePath);
  checkPath('cliPath', input.cliPath);
  const exec = [systemdExecWord(input.nodePath, { program: true }), systemdExecWord(input.cliPath), 'daemon', 'run'].join(' ');
  const env = environmentOf(input).map(([name, value]) => systemdEnvironmentLine(name, value));
  return [
    GENERATED_BY,
    '[Unit]',
    'Description=globus-timer: self-hosted Globus Timer daemon',
    `# The socket unit holds the listening socket and hands it over as fd 3 (LISTEN_FDS), so the`,
    `# CLI can connect while the daemon starts or restarts.`,
    ...(input.apiAddr ? ["# It holds the REST API's port too, handed over as fd 4; Environment= below names it for", '# `daemon status` and `api url`.'] : []),
    `Requires=${SYSTEMD_SOCKET_NAME}`,
    `After=${SYSTEMD_SOCKET_NAME}`,
    `StartLimitIntervalSec=${START_LIMIT_INTERVAL_SEC}`,
    `StartLimitBurst=${START_LIMIT_BURST}`,
    '',
    '[Service]',
    '# simple rather than exec: Type=exec needs systemd 240.',
    'Type=simple',
    `ExecStart=${exec}`,
    ...env,
    'Restart=on-failure',
    `RestartSec=${RESTART_SEC}`,
    '# SIGTERM is a graceful stop: no new fires, in-flight runs get the shutdown grace, then',
    '# the database is closed. SIGKILL only if that takes longer than TimeoutStopSec.',
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${STOP_TIMEOUT_SEC}`,
    '# pino JSON lines on stderr: journalctl --user -u globus-timer',
    'StandardOutput=journal',
    'StandardError=journal',
    'SyslogIdentifier=globus-timer',
    '# Anything created without an explicit mode stays private to the user.',
    'UMask=0077',
    ...systemdSandbox(input),
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

/**
 * The socket unit: systemd creates the socket (0600 in a 0700 directory) before the daemon
 * runs. With apiAddr a second ListenStream= holds the REST API's loopback port, so a
 * client's first connection starts the daemon. systemd hands the sockets over in the order
 * of these lines: fd 3 the Unix socket, fd 4 the API (daemon/systemd.ts). No
 * BindIPv6Only=: it only matters for the wildcard address `[::]`, and ::1 is no wildcard.
 * No FreeBind=: loopback addresses are always there to bind, all of 127.0.0.0/8 included.
 */
export function systemdSocketUnit(input: Pick<ServiceUnitInput, 'socketPath' | 'runtimeDir' | 'apiAddr'>): string {
  const api = input.apiAddr
    ? [
        "# The REST API's loopback port (daemon install --api), handed over as fd 4: systemd holds",
        "# it, so a client's first request starts the daemon. Loopback only: the daemon refuses any other.",
        `ListenStream=${apiListenAddress(input.apiAddr)}`,
      ]
    : [];
  return [
    GENERATED_BY,
    '[Unit]',
    'Description=globus-timer daemon socket',
    '',
    '[Socket]',
    `ListenStream=${systemdListenPath(input.socketPath, input.runtimeDir)}`,
    ...api,
    'SocketMode=0600',
    'DirectoryMode=0700',
    '# A stopped unit leaves no socket file behind for the CLI to knock on.',
    'RemoveOnStop=yes',
    '',
    '[Install]',
    'WantedBy=sockets.target',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------
// launchd (launchd.plist(5))

/** Characters XML 1.0 cannot carry at all, escaped or not. */
const NOT_XML_CHAR = /[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;

function xmlEscape(s: string): string {
  if (NOT_XML_CHAR.test(s)) throw new InvalidInputError(`value cannot be stored in a property list: ${JSON.stringify(s)}`);
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&apos;');
}

/** The LaunchAgent: started at login, restarted after a crash but not after a clean stop. */
export function launchdPlist(input: ServiceUnitInput): string {
  checkPath('nodePath', input.nodePath);
  checkPath('cliPath', input.cliPath);
  checkPath('logDir', input.logDir);
  const logFile = path.posix.join(input.logDir, LAUNCHD_LOG_NAME);
  const key = (k: string) => `  <key>${xmlEscape(k)}</key>`;
  const str = (v: string, indent = '  ') => `${indent}<string>${xmlEscape(v)}</string>`;
  const env = environmentOf(input);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    key('Label'),
    str(LAUNCHD_LABEL),
    key('ProgramArguments'),
    '  <array>',
    ...[input.nodePath, input.cliPath, 'daemon', 'run'].map((a) => str(a, '    ')),
    '  </array>',
  ];
  if (env.length > 0) {
    lines.push(key('EnvironmentVariables'), '  <dict>');
    for (const [name, value] of env) lines.push(`    <key>${xmlEscape(name)}</key>`, str(value, '    '));
    lines.push('  </dict>');
  }
  lines.push(
    key('RunAtLoad'),
    '  <true/>',
    // Only a crash (non-zero exit or a signal) restarts it; `launchctl bootout` or a clean
    // SIGTERM stop stays stopped.
    key('KeepAlive'),
    '  <dict>',
    '    <key>SuccessfulExit</key>',
    '    <false/>',
    '  </dict>',
    // Standard, not Background: launchd throttles Background jobs and coalesces their
    // timers, which would cost the millisecond precision a timer daemon exists for.
    key('ProcessType'),
    str('Standard'),
    key('ExitTimeOut'),
    `  <integer>${STOP_TIMEOUT_SEC}</integer>`,
    key('StandardOutPath'),
    str(logFile),
    key('StandardErrorPath'),
    str(logFile),
    '</dict>',
    '</plist>',
    '',
  );
  return lines.join('\n');
}
