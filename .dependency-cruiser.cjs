// Which folder of src/ may import which (README, layout): `npm run lint` runs `depcruise src`, and any
// import these rules forbid fails it. Type-only imports count too: a type from the daemon's store in
// the CLI ties the two together just as a value does.
//
//   util     → util
//   core     → core, util
//   I/O      → I/O, core, util            (auth, actions, http, fs, config, log, install)
//   contract → contract, I/O, core, util
//   cli      → anything but daemon/        (the `daemon run` command loads daemon/main.ts lazily)
//   daemon   → anything but cli/
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'util-imports-util-only',
      comment: 'src/util/ holds domain-free helpers: it may import only src/util/.',
      severity: 'error',
      from: { path: '^src/util/' },
      to: { path: '^src/', pathNot: '^src/util/' },
    },
    {
      name: 'core-imports-core-and-util',
      comment: 'src/core/ holds the pure rules both programs use: it may import only src/core/ and src/util/.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/(core|util)/' },
    },
    {
      name: 'io-not-to-contract-daemon-cli',
      comment:
        'The I/O folders (auth, actions, http, fs, config, log, install) may import each other, src/core/ and src/util/; never src/contract/, src/daemon/ or src/cli/.',
      severity: 'error',
      from: { path: '^src/(auth|actions|http|fs|config|log|install)/' },
      to: { path: '^src/(contract|daemon|cli)/' },
    },
    {
      name: 'contract-not-to-daemon-cli',
      comment: 'src/contract/ (the RPC protocol and client) may import src/core/, src/util/ and the I/O folders; never src/daemon/ or src/cli/.',
      severity: 'error',
      from: { path: '^src/contract/' },
      to: { path: '^src/(daemon|cli)/' },
    },
    {
      name: 'cli-not-to-daemon',
      comment:
        'src/cli/ may import anything but src/daemon/ (its store, loop, runner, RPC server): it talks to the daemon through src/contract/. The one exception is the `daemon run` command, which loads src/daemon/main.ts (see cli-daemon-main-lazily).',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/daemon/', pathNot: '^src/daemon/main\\.ts$' },
    },
    {
      name: 'cli-daemon-main-lazily',
      comment:
        'src/cli/ may import src/daemon/main.ts only with a dynamic import() (the `daemon run` command), so the CLI never loads the daemon to run any other command.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/daemon/main\\.ts$', dependencyTypesNot: ['dynamic-import'] },
    },
    {
      name: 'remote-not-to-daemon-cli',
      comment:
        'src/remote/ (a Timers REST API as the CLI drives it, issue 15) speaks the contract of src/contract/ to the CLI; it never imports src/cli/ or src/daemon/.',
      severity: 'error',
      from: { path: '^src/remote/' },
      to: { path: '^src/(daemon|cli)/' },
    },
    {
      name: 'cli-remote-client-lazily',
      comment: 'src/cli/ may import src/remote/timers-client.ts (and with it @globus/sdk) only with a dynamic import(), so local commands never load it.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/remote/(timers-client|documents)\\.ts$', dependencyTypesNot: ['dynamic-import'] },
    },
    {
      name: 'daemon-not-to-cli',
      comment: 'src/daemon/ may import anything but src/cli/.',
      severity: 'error',
      from: { path: '^src/daemon/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-circular',
      comment: 'Modules of src/ do not import each other in a cycle.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are dependencies too (see the top of this file).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Exports and conditions as Node resolves them (the code is ESM on Node).
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
