/**
 * Service files for systemd and launchd: their exact content, quoting of awkward paths,
 * install/uninstall into a temp home, the plist read back by a real plist parser (Python's
 * plistlib), and the units checked by systemd's own `systemd-analyze verify` where present.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { resolvePaths } from '../src/config/paths.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import { shellQuote } from '../src/util/shell-quote.ts';
import {
  applyInstall,
  applyUninstall,
  defaultCliPath,
  defaultServiceKind,
  installService,
  planInstall,
  planUninstall,
  uninstallService,
  type ServiceCommand,
} from '../src/install/plans.ts';
import { LAUNCHD_LABEL, launchdPlist, systemdExecWord, systemdServiceUnit, systemdSocketUnit, type ServiceUnitInput } from '../src/install/units.ts';
import { EXAMPLE_UNIT_INPUT } from './support/example-units.ts';

const BASE: ServiceUnitInput = {
  nodePath: '/usr/local/bin/node',
  cliPath: '/opt/globus-timer/bin/globus-timer.js',
  socketPath: '/run/user/1000/globus-timer/daemon.sock',
  logDir: '/Users/ada/Library/Logs/globus-timer',
  runtimeDir: '/run/user/1000',
};

/** Unit file → section → key → values (a key may repeat), comments and blank lines dropped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `stray line in unit: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

function section(unit: Map<string, Map<string, string[]>>, name: string): Record<string, string | string[]> {
  const s = unit.get(name);
  assert.ok(s, `no [${name}] section`);
  return Object.fromEntries([...s].map(([k, v]) => [k, v.length === 1 ? v[0]! : v]));
}

function tempDir(t: TestContext, prefix = 'gt-svc-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function mode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

function assertInvalid(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof TimerError && err.code === ERROR_CODES.INVALID_INPUT);
}

// ---------------------------------------------------------------------------------------
// systemd units

test('service unit: every key, no Environment= without a home', () => {
  const unit = parseUnit(systemdServiceUnit(BASE));
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  assert.deepEqual(section(unit, 'Unit'), {
    Description: 'globus-timer: self-hosted Globus Timer daemon',
    Requires: 'globus-timer.socket',
    After: 'globus-timer.socket',
    StartLimitIntervalSec: '120',
    StartLimitBurst: '5',
  });
  assert.deepEqual(section(unit, 'Service'), {
    Type: 'simple',
    ExecStart: '/usr/local/bin/node /opt/globus-timer/bin/globus-timer.js daemon run',
    Restart: 'on-failure',
    RestartSec: '5',
    KillSignal: 'SIGTERM',
    TimeoutStopSec: '15',
    StandardOutput: 'journal',
    StandardError: 'journal',
    SyslogIdentifier: 'globus-timer',
    UMask: '0077',
    ...SANDBOX,
  });
  assert.deepEqual(section(unit, 'Install'), { WantedBy: 'default.target' });
});

/** The sandbox every service unit has (issue 11 item 9): what any user manager can apply or skip. */
const SANDBOX = {
  NoNewPrivileges: 'yes',
  ProtectSystem: 'strict',
  PrivateTmp: 'yes',
  ProtectKernelTunables: 'yes',
  RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
  RestrictNamespaces: 'yes',
  RestrictRealtime: 'yes',
  RestrictSUIDSGID: 'yes',
  LockPersonality: 'yes',
  SystemCallArchitectures: 'native',
  SystemCallFilter: ['@system-service', '~@privileged @resources'],
  SystemCallErrorNumber: 'EPERM',
  KeyringMode: 'private',
};
/** Only where the user can create user namespaces: without one these stop the service from starting. */
const WITH_USER_NAMESPACE = {
  PrivateUsers: 'yes',
  CapabilityBoundingSet: '',
  PrivateDevices: 'yes',
  ProtectKernelModules: 'yes',
  ProtectKernelLogs: 'yes',
  ProtectClock: 'yes',
  ProtectHostname: 'yes',
};

test("service unit sandbox: every directive; ReadWritePaths= the daemon's directories, %t and quoting as systemd reads them", () => {
  const writableDirs = [
    '/home/ada/.local/share/globus-timer',
    '/run/user/1000/globus-timer',
    '/home/ada/my state 100%',
    '/home/ada/.config/globus',
    '/home/ada/.local/share/globus-timer',
  ];
  const service = (userNamespaces: boolean) => section(parseUnit(systemdServiceUnit({ ...BASE, writableDirs, userNamespaces })), 'Service');
  const full = service(true);
  for (const [key, value] of Object.entries({ ...SANDBOX, ...WITH_USER_NAMESPACE })) assert.deepEqual(full[key], value, key);
  // `-`: a directory removed since install does not stop the start; %t: the runtime dir; each once.
  assert.deepEqual(full.ReadWritePaths, [
    '-/home/ada/.local/share/globus-timer',
    '-%t/globus-timer',
    '"-/home/ada/my state 100%%"',
    '-/home/ada/.config/globus',
  ]);
  assert.equal(full.MemoryDenyWriteExecute, undefined, "V8's JIT needs writable code pages");

  const seccompOnly = service(false);
  for (const [key, value] of Object.entries(SANDBOX)) assert.deepEqual(seccompOnly[key], value, key);
  for (const key of Object.keys(WITH_USER_NAMESPACE)) assert.equal(seccompOnly[key], undefined, `${key} without user namespaces`);
  assertInvalid(() => systemdServiceUnit({ ...BASE, writableDirs: ['relative/dir'] }));
  assertInvalid(() => systemdServiceUnit({ ...BASE, writableDirs: ['/a\nExecStartPre=/bin/rm'] }));
});

test('service unit: GLOBUS_TIMER_HOME first, then other variables by name, each quoted whole', () => {
  const text = systemdServiceUnit({
    ...BASE,
    home: '/home/ada/timer state',
    environment: { XDG_STATE_HOME: '/s', XDG_DATA_HOME: '/home/ada/100% "data"\\x', GLOBUS_TIMER_HOME: '/ignored' },
  });
  assert.deepEqual(section(parseUnit(text), 'Service').Environment, [
    '"GLOBUS_TIMER_HOME=/home/ada/timer state"',
    // % doubled (specifier), " and \ C-escaped; $ is left alone (no expansion in Environment=).
    '"XDG_DATA_HOME=/home/ada/100%% \\"data\\"\\\\x"',
    '"XDG_STATE_HOME=/s"',
  ]);
  assertInvalid(() => systemdServiceUnit({ ...BASE, environment: { 'BAD-NAME': 'x' } }));
  assertInvalid(() => systemdServiceUnit({ ...BASE, home: 'relative/dir' }));
});

test('ExecStart: paths with spaces quoted; %, $, " and \\ escaped as systemd.syntax says', () => {
  const unit = parseUnit(
    systemdServiceUnit({
      ...BASE,
      nodePath: '/Users/Ada Lovelace/.nvm/versions/node/v20/bin/node',
      cliPath: '/home/ada/My Projects/50% "done" $HOME\\x/bin/globus-timer.js',
    }),
  );
  assert.equal(
    section(unit, 'Service').ExecStart,
    '"/Users/Ada Lovelace/.nvm/versions/node/v20/bin/node" "/home/ada/My Projects/50%% \\"done\\" $$HOME\\\\x/bin/globus-timer.js" daemon run',
  );
  // The program path is used as written: `$` stays single there (see the verify test below).
  assert.equal(systemdExecWord('/opt/a$b/node', { program: true }), '"/opt/a$b/node"');
  assert.equal(systemdExecWord('/opt/a$b/cli.js'), '"/opt/a$$b/cli.js"');
  assert.equal(systemdExecWord('/plain/path-1.2_x/node'), '/plain/path-1.2_x/node');
  // systemd refuses these in a program path however they are quoted (see the verify test).
  for (const bad of ["/home/o'brien/node", '/a"b/node', '/a\\b/node']) assertInvalid(() => systemdExecWord(bad, { program: true }));
  assertInvalid(() => systemdServiceUnit({ ...BASE, nodePath: 'node' }));
  assertInvalid(() => systemdServiceUnit({ ...BASE, cliPath: '/a\nExecStartPre=/bin/rm' }));
});

test('socket unit: every key; %t for the runtime dir, a literal path elsewhere', () => {
  const unit = parseUnit(systemdSocketUnit(BASE));
  assert.deepEqual([...unit.keys()], ['Unit', 'Socket', 'Install']);
  assert.deepEqual(section(unit, 'Socket'), {
    ListenStream: '%t/globus-timer/daemon.sock',
    SocketMode: '0600',
    DirectoryMode: '0700',
    RemoveOnStop: 'yes',
  });
  assert.deepEqual(section(unit, 'Install'), { WantedBy: 'sockets.target' });
  assert.equal(section(unit, 'Unit').Description, 'globus-timer daemon socket');

  const listen = (input: Pick<ServiceUnitInput, 'socketPath' | 'runtimeDir'>) => section(parseUnit(systemdSocketUnit(input)), 'Socket').ListenStream;
  assert.equal(listen({ socketPath: '/run/user/1000/globus-timer/daemon.sock', runtimeDir: '/run/user/1000/' }), '%t/globus-timer/daemon.sock');
  // ListenStream= takes the rest of the line unquoted: spaces stay, only % is special.
  assert.equal(listen({ socketPath: '/home/ada/timer 100%/daemon.sock', runtimeDir: '/run/user/1000' }), '/home/ada/timer 100%%/daemon.sock');
  assert.equal(listen({ socketPath: '/run/user/10000/daemon.sock', runtimeDir: '/run/user/1000' }), '/run/user/10000/daemon.sock');
  assertInvalid(() => listen({ socketPath: `/${'x'.repeat(120)}/daemon.sock` }));
  assertInvalid(() => listen({ socketPath: '/tmp/daemon.sock ' }));
  assertInvalid(() => listen({ socketPath: '/tmp/sock\\' }));
  assertInvalid(() => listen({ socketPath: 'daemon.sock' }));
});

// ---------------------------------------------------------------------------------------
// launchd plist, read back by a real parser

const PLIST_TO_JSON = [
  'import json, plistlib, sys',
  // FMT_XML: only the XML format is accepted, no guessing.
  'print(json.dumps(plistlib.loads(sys.stdin.buffer.read(), fmt=plistlib.FMT_XML)))',
].join('\n');

/** Parse with Python's plistlib (strict XML via expat); undefined when python3 is missing. */
function parsePlist(text: string): unknown {
  const r = spawnSync('python3', ['-c', PLIST_TO_JSON], { input: text, encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  assert.equal(r.status, 0, `plistlib rejected the plist:\n${r.stderr}\n${text}`);
  return JSON.parse(r.stdout);
}

test('plist: parses as a property list with every key; awkward paths survive exactly', (t) => {
  const nasty = '/Users/Zoë & <Bob> "quoted" \'single\' 💾/state';
  const input: ServiceUnitInput = {
    ...BASE,
    nodePath: '/Users/Zoë & Bob/.volta/bin/node',
    cliPath: `${nasty}/bin/globus-timer.js`,
    logDir: `${nasty}/logs`,
    home: nasty,
    environment: { TMPDIR: '/var/folders/xy/T/' },
  };
  const text = launchdPlist(input);
  const parsed = parsePlist(text);
  if (parsed === undefined) return t.skip('python3 not installed: apt-get install python3');
  assert.deepEqual(parsed, {
    Label: 'org.globus-timer.daemon',
    ProgramArguments: [input.nodePath, input.cliPath, 'daemon', 'run'],
    EnvironmentVariables: { GLOBUS_TIMER_HOME: nasty, TMPDIR: '/var/folders/xy/T/' },
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ProcessType: 'Standard',
    ExitTimeOut: 15,
    StandardOutPath: `${nasty}/logs/launchd.log`,
    StandardErrorPath: `${nasty}/logs/launchd.log`,
  });
  assert.match(text, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE plist PUBLIC "-\/\/Apple\/\/DTD PLIST 1\.0\/\/EN"/);
  assert.ok(text.includes('&amp; &lt;Bob&gt; &quot;quoted&quot; &apos;single&apos;'));
});

test('plist: no EnvironmentVariables without a home or variables; unstorable characters refused', (t) => {
  assertInvalid(() => launchdPlist({ ...BASE, cliPath: '/a\u0001b' }));
  assertInvalid(() => launchdPlist({ ...BASE, home: '/a\uffffb' }));
  assertInvalid(() => launchdPlist({ ...BASE, logDir: 'logs' }));
  const text = launchdPlist(BASE);
  assert.equal(text.includes('EnvironmentVariables'), false);
  const parsed = parsePlist(text) as Record<string, unknown> | undefined;
  if (parsed === undefined) return t.skip('python3 not installed: apt-get install python3');
  assert.equal(parsed.Label, LAUNCHD_LABEL);
});

// ---------------------------------------------------------------------------------------
// install / uninstall

interface Sandbox {
  root: string;
  home: string;
  env: Record<string, string>;
}

function sandbox(t: TestContext, extra: Record<string, string> = {}): Sandbox {
  const root = tempDir(t);
  const home = path.join(root, 'home dir');
  fs.mkdirSync(home);
  return { root, home, env: { HOME: home, ...extra } };
}

const shells = (cmds: readonly ServiceCommand[]) => cmds.map((c) => c.shell);

test('default kind: launchd on macOS, systemd elsewhere', () => {
  assert.equal(defaultServiceKind('darwin'), 'launchd');
  assert.equal(defaultServiceKind('linux'), 'systemd');
  assert.equal(defaultServiceKind('freebsd'), 'systemd');
  assert.equal(planInstall({ platform: 'darwin', env: { HOME: '/Users/ada' }, uid: 501, dryRun: true }).kind, 'launchd');
  assert.equal(planInstall({ platform: 'linux', env: { HOME: '/home/ada' }, uid: 1000, dryRun: true }).kind, 'systemd');
  assert.ok(fs.existsSync(defaultCliPath()), defaultCliPath());
});

test('systemd install: dry run writes nothing; install writes 0644 units in a 0700 dir under XDG_CONFIG_HOME', (t) => {
  const sb = sandbox(t);
  const config = path.join(sb.root, 'config');
  const env = { ...sb.env, XDG_CONFIG_HOME: config, XDG_RUNTIME_DIR: '/run/user/1000' };
  const unitDir = path.join(config, 'systemd', 'user');

  const dry = installService({ kind: 'systemd', env, uid: 1000, dryRun: true });
  assert.deepEqual(dry.written, []);
  assert.equal(fs.existsSync(config), false);
  assert.deepEqual(
    dry.files.map((f) => [f.path, f.state]),
    [
      [path.join(unitDir, 'globus-timer.service'), 'new'],
      [path.join(unitDir, 'globus-timer.socket'), 'new'],
    ],
  );
  assert.deepEqual(shells(dry.commands), ['systemctl --user daemon-reload', 'systemctl --user enable --now globus-timer.socket globus-timer.service']);
  assert.equal(dry.socketPath, '/run/user/1000/globus-timer/daemon.sock');
  assert.equal(dry.socketPath, resolvePaths(env).socketPath);

  const done = installService({ kind: 'systemd', env, uid: 1000 });
  assert.deepEqual(
    done.written,
    done.files.map((f) => f.path),
  );
  assert.equal(mode(config), 0o700);
  assert.equal(mode(unitDir), 0o700);
  for (const f of done.files) {
    assert.equal(fs.readFileSync(f.path, 'utf8'), f.content);
    assert.equal(mode(f.path), 0o644);
  }
  const exec = section(parseUnit(done.files[0]!.content), 'Service').ExecStart;
  assert.equal(exec, `${systemdExecWord(process.execPath, { program: true })} ${systemdExecWord(defaultCliPath())} daemon run`);
  assert.equal(section(parseUnit(done.files[1]!.content), 'Socket').ListenStream, '%t/globus-timer/daemon.sock');
  assert.deepEqual(fs.readdirSync(unitDir).sort(), ['globus-timer.service', 'globus-timer.socket'], 'no temp files left');

  // Same input again: nothing changes, so no restart; a changed unit is restarted.
  assert.deepEqual(
    planInstall({ kind: 'systemd', env, uid: 1000 }).files.map((f) => f.state),
    ['same', 'same'],
  );
  fs.appendFileSync(path.join(unitDir, 'globus-timer.service'), '# edited\n');
  const again = planInstall({ kind: 'systemd', env, uid: 1000 });
  assert.deepEqual(
    again.files.map((f) => f.state),
    ['changed', 'same'],
  );
  assert.equal(again.commands.at(-1)?.shell, 'systemctl --user restart globus-timer.socket globus-timer.service');
});

test('systemd install: ~/.config by default, GLOBUS_TIMER_HOME and XDG paths passed on, notes', (t) => {
  const sb = sandbox(t);
  const plain = planInstall({ kind: 'systemd', env: { ...sb.env, XDG_DATA_HOME: '/data', XDG_CONFIG_HOME: 'relative' }, uid: 4242 });
  assert.equal(plain.files[0]!.path, path.join(sb.home, '.config', 'systemd', 'user', 'globus-timer.service'));
  // Without XDG_RUNTIME_DIR the user manager's %t is /run/user/<uid>, and the user is told.
  assert.equal(plain.socketPath, '/run/user/4242/globus-timer/daemon.sock');
  assert.ok(plain.notes.some((n) => n.startsWith('XDG_RUNTIME_DIR is not set')));
  assert.ok(plain.notes.some((n) => n.includes('loginctl enable-linger')));
  assert.deepEqual(section(parseUnit(plain.files[0]!.content), 'Service').Environment, '"XDG_DATA_HOME=/data"');

  const state = path.join(sb.root, 'timer state');
  const env = { ...sb.env, GLOBUS_TIMER_HOME: state, XDG_DATA_HOME: '/data' };
  const withHome = planInstall({ kind: 'systemd', env, uid: 4242 });
  assert.equal(withHome.socketPath, resolvePaths(env).socketPath);
  assert.equal(section(parseUnit(withHome.files[0]!.content), 'Service').Environment, `"GLOBUS_TIMER_HOME=${state}"`);
  assert.equal(section(parseUnit(withHome.files[1]!.content), 'Socket').ListenStream, path.join(state, 'daemon.sock'));
  assert.equal(
    withHome.notes.some((n) => n.startsWith('XDG_RUNTIME_DIR')),
    false,
  );

  assert.ok(planInstall({ kind: 'systemd', env: sb.env, uid: 1, nodePath: process.execPath, cliPath: defaultCliPath() }).notes.length >= 1);
  assertInvalid(() => planInstall({ kind: 'systemd', env: sb.env, uid: 1, nodePath: path.join(sb.root, 'no-node') }));
  assertInvalid(() => planInstall({ kind: 'systemd', env: sb.env, uid: 1, cliPath: 'bin/globus-timer.js' }));
});

/** ReadWritePaths= of a service unit as systemd reads them: unquoted, `-` and `%t` resolved, `%%` → `%`. */
function writablePathsOf(unitText: string, runtimeDir: string): string[] {
  const values = [section(parseUnit(unitText), 'Service').ReadWritePaths ?? []].flat();
  return values.map((v) =>
    v
      .replace(/^"(.*)"$/, '$1')
      .replace(/^-/, '')
      .replace(/^%t(?=\/|$)/, runtimeDir)
      .replaceAll('%%', '%'),
  );
}

/** resolvePaths() reads XDG_DATA_HOME and XDG_STATE_HOME from process.env (env-paths): set them for `fn`. */
function withProcessEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('systemd install: ReadWritePaths= covers every directory the daemon writes; install makes them, 0700', (t) => {
  const sb = sandbox(t);
  const xdgVars = {
    XDG_DATA_HOME: path.join(sb.root, 'data'),
    XDG_STATE_HOME: path.join(sb.root, 'state'),
    XDG_CONFIG_HOME: path.join(sb.root, 'config'),
    XDG_RUNTIME_DIR: path.join(sb.root, 'run'),
  };
  const cases = [
    { name: 'XDG directories', env: { ...sb.env, ...xdgVars } },
    { name: 'GLOBUS_TIMER_HOME', env: { ...sb.env, ...xdgVars, GLOBUS_TIMER_HOME: path.join(sb.root, 'timer home') } },
  ];
  for (const c of cases) {
    const plan = installService({ kind: 'systemd', env: c.env, uid: 1000, userNamespaces: true });
    const writable = writablePathsOf(plan.files[0]!.content, xdgVars.XDG_RUNTIME_DIR);
    const paths = withProcessEnv(xdgVars, () => resolvePaths(c.env));
    // The database and its -wal/-shm, the pid file, the logs, the socket, the token cache with its .lock and temp files.
    const written = [paths.dbFile, paths.lockFile, path.join(paths.logDir, 'daemon.1.log'), paths.socketPath, paths.tokensFile, `${paths.tokensFile}.lock`];
    for (const file of written) {
      assert.ok(
        writable.some((dir) => file.startsWith(`${dir}/`)),
        `${c.name}: ${file} is not under ReadWritePaths= ${JSON.stringify(writable)}`,
      );
    }
    // Made by install (the socket unit makes the socket's), so the sandbox has them to open up.
    for (const dir of writable.filter((d) => d !== path.dirname(paths.socketPath))) assert.equal(mode(dir), 0o700, `${c.name}: ${dir}`);
    if (c.name === 'GLOBUS_TIMER_HOME') assert.deepEqual(writable, [paths.dataDir]);
  }
  assert.equal(fs.existsSync(path.join(xdgVars.XDG_RUNTIME_DIR, 'globus-timer')), false, "the runtime dir is the socket unit's to make");
});

test('systemd install: the sandbox needs user namespaces for its strict part; without them the unit says so and the user is told', (t) => {
  const sb = sandbox(t);
  const env = { ...sb.env, XDG_RUNTIME_DIR: '/run/user/1000' };
  const withNs = planInstall({ kind: 'systemd', env, uid: 1000, userNamespaces: true, dryRun: true });
  const without = planInstall({ kind: 'systemd', env, uid: 1000, userNamespaces: false, dryRun: true });
  assert.equal(section(parseUnit(withNs.files[0]!.content), 'Service').PrivateUsers, 'yes');
  assert.equal(section(parseUnit(without.files[0]!.content), 'Service').PrivateUsers, undefined);
  assert.ok(without.notes.some((n) => n.includes('cannot create user namespaces')));
  assert.ok(!withNs.notes.some((n) => n.includes('user namespaces')));
  assert.deepEqual(fs.readdirSync(sb.home), [], 'dry run: nothing made');
});

test('systemd uninstall: commands first, then units and leftover enablement links removed; dry run removes nothing', (t) => {
  const sb = sandbox(t);
  const env = { ...sb.env, XDG_RUNTIME_DIR: '/run/user/1000' };
  const unitDir = path.join(sb.home, '.config', 'systemd', 'user');
  installService({ kind: 'systemd', env, uid: 1000 });
  // What `systemctl enable` would have made, plus a file of someone else's that must stay.
  const wantsService = path.join(unitDir, 'default.target.wants', 'globus-timer.service');
  const wantsSocket = path.join(unitDir, 'sockets.target.wants', 'globus-timer.socket');
  fs.mkdirSync(path.dirname(wantsService));
  fs.mkdirSync(path.dirname(wantsSocket));
  fs.symlinkSync(path.join(unitDir, 'globus-timer.service'), wantsService);
  fs.writeFileSync(wantsSocket, 'not a link');

  const dry = uninstallService({ kind: 'systemd', env, uid: 1000, dryRun: true, run: () => assert.fail('dry run ran a command') });
  assert.deepEqual(dry.removed, []);
  assert.equal(fs.existsSync(path.join(unitDir, 'globus-timer.service')), true);
  assert.deepEqual(shells(dry.commands), ['systemctl --user disable --now globus-timer.socket globus-timer.service']);
  assert.deepEqual(shells(dry.afterCommands), ['systemctl --user daemon-reload']);

  const seen: { shell: string; unitPresent: boolean }[] = [];
  const done = uninstallService({
    kind: 'systemd',
    env,
    uid: 1000,
    run: (cmd) => {
      seen.push({ shell: cmd.shell, unitPresent: fs.existsSync(path.join(unitDir, 'globus-timer.service')) });
      return true;
    },
  });
  assert.deepEqual(seen, [
    { shell: 'systemctl --user disable --now globus-timer.socket globus-timer.service', unitPresent: true },
    { shell: 'systemctl --user daemon-reload', unitPresent: false },
  ]);
  assert.equal(done.ok, true);
  assert.deepEqual(done.removed, [path.join(unitDir, 'globus-timer.service'), path.join(unitDir, 'globus-timer.socket'), wantsService]);
  assert.equal(fs.existsSync(wantsSocket), true, 'a regular file in .wants is not ours to remove');
  assert.deepEqual(
    planUninstall({ kind: 'systemd', env, uid: 1000 }).files.map((f) => f.exists),
    [false, false, false, true],
  );
  // Uninstalling again is harmless.
  assert.deepEqual(applyUninstall(planUninstall({ kind: 'systemd', env, uid: 1000 })).removed, []);
});

test('install runner: commands run in order after the files are written; a required failure stops it', (t) => {
  const sb = sandbox(t);
  const env = { ...sb.env, XDG_RUNTIME_DIR: '/run/user/1000' };
  const ran: string[] = [];
  const out = installService({
    kind: 'systemd',
    env,
    uid: 1000,
    run: (cmd) => {
      assert.ok(fs.existsSync(path.join(sb.home, '.config', 'systemd', 'user', 'globus-timer.socket')));
      ran.push(cmd.shell);
      return !cmd.shell.includes('daemon-reload');
    },
  });
  assert.equal(out.ok, false);
  assert.deepEqual(ran, ['systemctl --user daemon-reload']);
  assert.deepEqual(
    out.ran.map((r) => r.ok),
    [false],
  );
});

test('launchd install: plist in ~/Library/LaunchAgents, log dir made, bootstrap commands; reinstall boots out first', (t) => {
  const sb = sandbox(t, { TMPDIR: '/var/folders/xy/abc/T/' });
  const agents = path.join(sb.home, 'Library', 'LaunchAgents');
  const logDir = path.join(sb.home, 'Library', 'Logs', 'globus-timer');
  const plistPath = path.join(agents, 'org.globus-timer.daemon.plist');

  const dry = installService({ kind: 'launchd', env: sb.env, uid: 501, dryRun: true });
  assert.deepEqual(dry.written, []);
  assert.equal(fs.existsSync(path.join(sb.home, 'Library')), false);
  assert.deepEqual(dry.dirs, [agents, logDir]);
  assert.deepEqual(shells(dry.commands), ['launchctl enable gui/501/org.globus-timer.daemon', `launchctl bootstrap gui/501 ${shellQuote(plistPath)}`]);
  assert.ok(shellQuote(plistPath).startsWith("'"), 'the home dir has a space, so the path is quoted');
  // Same place the daemon will make its socket: without XDG_RUNTIME_DIR, beside timer.db
  // in the user's own data directory, never under the shared TMPDIR (issue 11).
  assert.equal(dry.socketPath, path.join(sb.home, 'Library', 'Application Support', 'globus-timer', 'daemon.sock'));

  const done = installService({ kind: 'launchd', env: sb.env, uid: 501 });
  assert.deepEqual(done.written, [plistPath]);
  assert.equal(mode(plistPath), 0o644);
  assert.equal(mode(logDir), 0o700);
  const parsed = parsePlist(fs.readFileSync(plistPath, 'utf8')) as Record<string, unknown> | undefined;
  if (parsed !== undefined) {
    assert.deepEqual(parsed.ProgramArguments, [process.execPath, defaultCliPath(), 'daemon', 'run']);
    assert.deepEqual(parsed.EnvironmentVariables, { TMPDIR: '/var/folders/xy/abc/T/' });
    assert.equal(parsed.StandardErrorPath, path.join(logDir, 'launchd.log'));
  }

  const again = planInstall({ kind: 'launchd', env: sb.env, uid: 501 });
  assert.equal(again.files[0]!.state, 'same');
  assert.deepEqual(again.commands[0], {
    argv: ['launchctl', 'bootout', 'gui/501/org.globus-timer.daemon'],
    shell: 'launchctl bootout gui/501/org.globus-timer.daemon',
    mayFail: true,
  });
});

test('launchd: GLOBUS_TIMER_HOME puts logs under it; uninstall boots out by label and removes the plist', (t) => {
  const sb = sandbox(t);
  const state = path.join(sb.root, 'state');
  const env = { ...sb.env, GLOBUS_TIMER_HOME: state, TMPDIR: '/ignored' };
  const plan = planInstall({ kind: 'launchd', env, uid: 501 });
  assert.deepEqual(plan.dirs.at(-1), path.join(state, 'logs'));
  assert.equal(plan.socketPath, resolvePaths(env).socketPath);
  applyInstall(plan);
  const parsed = parsePlist(fs.readFileSync(plan.files[0]!.path, 'utf8')) as Record<string, unknown> | undefined;
  if (parsed !== undefined) assert.deepEqual(parsed.EnvironmentVariables, { GLOBUS_TIMER_HOME: state });

  const ran: string[] = [];
  const out = uninstallService({
    kind: 'launchd',
    env,
    uid: 501,
    run: (cmd) => {
      ran.push(cmd.shell);
      return false;
    },
  });
  // bootout of an agent that is not loaded fails; that must not keep the plist.
  assert.deepEqual(ran, ['launchctl bootout gui/501/org.globus-timer.daemon']);
  assert.equal(out.ok, true);
  assert.deepEqual(out.removed, [plan.files[0]!.path]);
  assert.equal(fs.existsSync(path.join(state, 'logs')), true, 'logs are kept');
});

test('shellQuote: plain words bare, anything else single-quoted', () => {
  assert.equal(shellQuote('gui/501/org.globus-timer.daemon'), 'gui/501/org.globus-timer.daemon');
  assert.equal(shellQuote("/Users/O'Brien/x y"), `'/Users/O'\\''Brien/x y'`);
  assert.equal(shellQuote('$(id -u)'), `'$(id -u)'`);
});

// ---------------------------------------------------------------------------------------
// systemd's own parser

function hasSystemdAnalyze(): boolean {
  return spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * `systemd-analyze --user verify` needs no running systemd, only a runtime dir to stand in
 * for the user manager's; --man=no because no Documentation=man: is given. It exits 0 on
 * mere warnings (an unknown key, a bad value), so stderr must be empty too.
 */
function verify(root: string, files: string[], configHome: string): { status: number | null; stderr: string } {
  const runtime = path.join(root, 'runtime');
  fs.mkdirSync(runtime, { recursive: true, mode: 0o700 });
  const r = spawnSync('systemd-analyze', ['--user', 'verify', '--man=no', ...files], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, XDG_RUNTIME_DIR: runtime, XDG_CONFIG_HOME: configHome, SYSTEMD_LOG_COLOR: '0' },
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr };
}

test('systemd-analyze verify accepts the installed units, awkward paths included', (t) => {
  if (!hasSystemdAnalyze()) return t.skip('systemd-analyze not installed: apt-get install systemd');
  const root = tempDir(t);
  // The program path is checked for real: put node where quoting and escaping matter.
  const nodeDir = path.join(root, 'node dir 100% $x');
  fs.mkdirSync(nodeDir);
  const nodePath = path.join(nodeDir, 'node');
  fs.symlinkSync(process.execPath, nodePath);
  const cliDir = path.join(root, 'cli dir $HOME %h "q" \\ \'s');
  fs.mkdirSync(cliDir);
  const cliPath = path.join(cliDir, 'globus-timer.js');
  fs.symlinkSync(defaultCliPath(), cliPath);

  const cases = [
    { name: 'default socket (%t)', env: { XDG_RUNTIME_DIR: path.join(root, 'runtime') } },
    { name: 'GLOBUS_TIMER_HOME with spaces', env: { GLOBUS_TIMER_HOME: path.join(root, 'state 50%'), XDG_DATA_HOME: path.join(root, 'd "x"') } },
    // ReadWritePaths= with a quote, a backslash, spaces and a % in it.
    { name: 'awkward XDG_DATA_HOME', env: { XDG_RUNTIME_DIR: path.join(root, 'runtime'), XDG_DATA_HOME: path.join(root, 'd "x" \\ 5%') } },
  ];
  // Both sandboxes: with user namespaces (PrivateUsers= and the rest) and without.
  for (const [i, c] of cases.flatMap((c) => [true, false].map((userNamespaces) => ({ ...c, userNamespaces }))).entries()) {
    const what = `${c.name}, user namespaces ${c.userNamespaces}`;
    const configHome = path.join(root, `config-${i}`);
    const { written } = installService({
      kind: 'systemd',
      env: { HOME: root, XDG_CONFIG_HOME: configHome, ...c.env },
      uid: 1000,
      nodePath,
      cliPath,
      userNamespaces: c.userNamespaces,
    });
    const r = verify(root, written, configHome);
    assert.equal(r.status, 0, `${what}: ${r.stderr}`);
    assert.equal(r.stderr, '', `${what}: warnings from systemd-analyze`);
  }

  // The check has teeth on this systemd: a wrong program path, a missing socket unit, an unknown key.
  const bad = path.join(root, 'bad');
  fs.mkdirSync(bad);
  const svc = (extra: Partial<ServiceUnitInput>) => systemdServiceUnit({ ...BASE, nodePath, cliPath, ...extra });
  fs.writeFileSync(path.join(bad, 'globus-timer.service'), svc({ nodePath: `${nodeDir}/no-such-node` }));
  fs.writeFileSync(path.join(bad, 'globus-timer.socket'), systemdSocketUnit(BASE));
  assert.notEqual(verify(root, [path.join(bad, 'globus-timer.service')], bad).status, 0, 'missing program not caught');
  fs.writeFileSync(path.join(bad, 'globus-timer.service'), `${svc({})}\n[Service]\nNoSuchKey=1\n`);
  assert.match(verify(root, [path.join(bad, 'globus-timer.service')], bad).stderr, /NoSuchKey/);
  // Why a quote in the program path is refused: systemd rejects it even when quoted right.
  const quotedDir = path.join(root, 'q"dir');
  fs.mkdirSync(quotedDir);
  fs.symlinkSync(process.execPath, path.join(quotedDir, 'node'));
  fs.writeFileSync(path.join(bad, 'globus-timer.service'), svc({}).replace(/^ExecStart=\S+/m, `ExecStart="${root}/q\\"dir/node"`));
  const quoted = verify(root, [path.join(bad, 'globus-timer.service')], bad);
  assert.match(quoted.stderr, /Executable name contains special characters/);
  fs.rmSync(path.join(bad, 'globus-timer.socket'));
  fs.writeFileSync(path.join(bad, 'globus-timer.service'), svc({}));
  assert.notEqual(verify(root, [path.join(bad, 'globus-timer.service')], bad).status, 0, 'missing socket unit not caught');
});

/** Whether this systemd-analyze can judge a unit file on its own (`security --offline`, systemd 252+). */
function hasOfflineSecurity(): boolean {
  const r = spawnSync('systemd-analyze', ['security', '--help'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('--offline');
}

/** `systemd-analyze security --offline` of a service unit: its overall exposure (0 best, 10 worst) and the table. */
function exposure(root: string, unitText: string): { score: number; table: string } {
  const dir = fs.mkdtempSync(path.join(root, 'unit-'));
  const file = path.join(dir, 'globus-timer.service');
  fs.writeFileSync(file, unitText);
  const runtime = path.join(root, 'runtime');
  fs.mkdirSync(runtime, { recursive: true, mode: 0o700 });
  const r = spawnSync('systemd-analyze', ['--user', 'security', '--offline=true', '--no-pager', file], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, XDG_RUNTIME_DIR: runtime, SYSTEMD_LOG_COLOR: '0' },
    timeout: 30_000,
  });
  const m = /Overall exposure level for globus-timer\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
  assert.ok(m, `no exposure level in:\n${r.stdout}\n${r.stderr}`);
  return { score: Number(m[1]), table: r.stdout };
}

/**
 * Thresholds with room for systemd versions that weigh a little differently. systemd 252
 * scores the unit 9.7 before the sandbox, 2.2 with it and 5.6 without user namespaces; what
 * is left is mostly what a user service cannot have (ProtectProc=, ProtectControlGroups=),
 * what it must have (network) and what it is not (root: offline analysis assumes User=root).
 */
const MAX_EXPOSURE = { withUserNamespaces: 3.0, withoutUserNamespaces: 6.0 };

test('systemd-analyze security --offline scores the service unit at or below the threshold', (t) => {
  if (!hasSystemdAnalyze()) return t.skip('systemd-analyze not installed: apt-get install systemd');
  if (!hasOfflineSecurity()) return t.skip('this systemd-analyze has no security --offline (systemd < 252)');
  const root = tempDir(t);
  const full = exposure(root, systemdServiceUnit(EXAMPLE_UNIT_INPUT));
  assert.ok(full.score <= MAX_EXPOSURE.withUserNamespaces, `exposure ${full.score} > ${MAX_EXPOSURE.withUserNamespaces}:\n${full.table}`);
  for (const setting of [
    'PrivateUsers=',
    'ProtectSystem=',
    'PrivateTmp=',
    'NoNewPrivileges=',
    'SystemCallArchitectures=',
    'LockPersonality=',
    'RestrictNamespaces=~user',
  ]) {
    assert.match(full.table, new RegExp(`^✓ ${setting.replace(/[=~]/g, (c) => `\\${c}`)}`, 'm'), `${setting} not counted as set`);
  }
  const seccompOnly = exposure(root, systemdServiceUnit({ ...EXAMPLE_UNIT_INPUT, userNamespaces: false }));
  assert.ok(
    seccompOnly.score <= MAX_EXPOSURE.withoutUserNamespaces,
    `exposure ${seccompOnly.score} > ${MAX_EXPOSURE.withoutUserNamespaces}:\n${seccompOnly.table}`,
  );
  // The check has teeth: the unit as it was before the sandbox scores far worse.
  const bare = systemdServiceUnit({ ...EXAMPLE_UNIT_INPUT, userNamespaces: false }).replace(/^# Sandbox[\s\S]*?(?=\n\n\[Install\])/m, '');
  assert.ok(exposure(root, bare).score > MAX_EXPOSURE.withoutUserNamespaces);
});

test('the example units in systemd/ are what the generator writes', () => {
  const dir = new URL('../systemd/', import.meta.url);
  assert.equal(fs.readFileSync(new URL('globus-timer.service', dir), 'utf8'), systemdServiceUnit(EXAMPLE_UNIT_INPUT));
  assert.equal(fs.readFileSync(new URL('globus-timer.socket', dir), 'utf8'), systemdSocketUnit(EXAMPLE_UNIT_INPUT));
});
