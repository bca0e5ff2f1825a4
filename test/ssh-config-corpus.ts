/**
 * Lines of a project ssh config, written the ways OpenSSH 9.2 reads them, for the project
 * ssh-config scan (src/config/ssh-config-scan.ts, issue 14 §2). One corpus, three users:
 * - test/unit/config/ssh-config-scan.test.ts: what the scan reports for each (file:line:col);
 * - test/integration/config/ssh-config-corpus.test.ts: the real `ssh -G` reads each `dangerous`
 *   case as the directive the scan names (the marker is created, or `ssh -G` prints the
 *   directive), and none of the `harmless` ones, so the corpus cannot drift from OpenSSH;
 * - test/integration/cli/ssh-config-trust.test.ts: `kpfleet validate` and `facts` refuse every
 *   dangerous case (exit 3) and the marker is never created.
 * And `GROUPING`, configs for the `ssh -G` grouping (src/transport/ssh/ssh-config-groups.ts):
 * test/integration/transport/ssh-config-groups.test.ts resolves `GROUPING_HOSTS` with each and
 * compares every host's answer with its own `ssh -G`, key by key.
 *
 * In the texts, `@D@` stands for the folder the files are written to and `@M@` for the marker
 * file that a command creates when ssh runs it.
 */

export type Proof =
  /** ssh ran the command: the marker exists after `ssh -G`. */
  | { marker: true }
  /** `ssh -G` printed this line (after `@D@`/`@M@` are replaced). */
  | { line: string };

export interface CorpusCase {
  name: string;
  /** The project's ssh config (`ssh_config` in `@D@`). */
  config: string;
  /** More files in `@D@`: name → text. */
  files?: Record<string, string>;
  /** For a dangerous case: how the real `ssh -G` shows that it reads it as the scan says. */
  proof?: Proof;
  /** What the scan reports with `@D@` = `/repo`: `file:line:col code`, file relative to `@D@`. */
  expect: string[];
}

const EXEC = 'Match exec "touch @M@"\n';
const INCLUDED = { 'inc.conf': EXEC, 'inc i1.conf': EXEC, 'inc_i3.conf': EXEC };
const RUNS = 'ssh-config/runs-command';

/** Each runs a command, loads a library, or names a host kpfleet must not record. */
export const DANGEROUS: readonly CorpusCase[] = [
  // the forms of the hostile review (issue 14): a quote in mid-word is removed by OpenSSH
  {
    name: 'Ma"tch": a quote inside the keyword',
    config: 'Ma"tch" exec "touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:9 ${RUNS}`],
  },
  {
    name: 'ex"ec": a quote inside the criterion',
    config: 'Match ex"ec" "touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:7 ${RUNS}`],
  },
  {
    name: '!ex"ec" after other criteria',
    config: 'Match host h1 !ex"ec" "touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:15 ${RUNS}`],
  },
  {
    name: 'Proxy"Command"',
    config: 'Proxy"Command" touch @M@',
    proof: { line: 'proxycommand touch @M@' },
    expect: [`ssh_config:1:1 ${RUNS}`],
  },
  {
    name: 'Known"HostsCommand"',
    config: 'Known"HostsCommand" touch @M@',
    proof: { line: 'knownhostscommand touch @M@' },
    expect: [`ssh_config:1:1 ${RUNS}`],
  },
  {
    name: 'Include with a backslash-escaped blank',
    config: 'Include @D@/inc\\ i1.conf',
    files: INCLUDED,
    proof: { marker: true },
    expect: ['ssh_config:1:18 ssh-config/include', `inc i1.conf:1:7 ${RUNS}`],
  },
  {
    name: 'Include in single quotes',
    config: "Include '@D@/inc.conf'",
    files: INCLUDED,
    proof: { marker: true },
    expect: ['ssh_config:1:9 ssh-config/include', `inc.conf:1:7 ${RUNS}`],
  },
  {
    name: 'Include with quotes in mid-word',
    config: 'Include @D@/inc_"i3.conf"',
    files: INCLUDED,
    proof: { marker: true },
    expect: ['ssh_config:1:19 ssh-config/include', `inc_i3.conf:1:7 ${RUNS}`],
  },
  // more of the same family
  {
    name: '"Match"exec: a closing quote ends the keyword',
    config: '"Match"exec "touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:8 ${RUNS}`],
  },
  {
    name: 'Ma"tch"exec',
    config: 'Ma"tch"exec "touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:8 ${RUNS}`],
  },
  {
    name: 'ex"ec"command: a closing quote ends the criterion',
    config: 'Match ex"ec"touch${IFS}@M@',
    proof: { marker: true },
    expect: [`ssh_config:1:7 ${RUNS}`],
  },
  {
    name: 'an empty quoted word before the keyword',
    config: '"" Match exec "touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:10 ${RUNS}`],
  },
  {
    name: 'a leading =',
    config: '=Match exec "touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:8 ${RUNS}`],
  },
  {
    name: 'exec=command',
    config: 'Match exec="touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:7 ${RUNS}`],
  },
  {
    name: '!exec=command',
    config: 'Match !exec=false;touch${IFS}@M@',
    proof: { marker: true },
    expect: [`ssh_config:1:7 ${RUNS}`],
  },
  {
    name: 'upper case',
    config: 'MATCH Host h1 EXEC "touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:15 ${RUNS}`],
  },
  {
    name: 'tabs',
    config: 'Match\texec\t"touch @M@"',
    proof: { marker: true },
    expect: [`ssh_config:1:7 ${RUNS}`],
  },
  {
    name: 'Match exec on a line ssh then rejects: the command has run already',
    config: 'Match exec "touch @M@" garbage',
    proof: { marker: true },
    expect: [`ssh_config:1:7 ${RUNS}`],
  },
  {
    name: 'a NUL byte: ssh reads the line up to it',
    config: 'Match exec "touch @M@"\u0000"',
    proof: { marker: true },
    expect: [`ssh_config:1:7 ${RUNS}`],
  },
  {
    name: 'a NUL byte inside the keyword of a later line',
    config: 'Host *\nProxyCommand touch @M@\u0000 none',
    proof: { line: 'proxycommand touch @M@' },
    expect: [`ssh_config:2:1 ${RUNS}`],
  },
  {
    name: '"ProxyCommand"command',
    config: '"ProxyCommand"touch @M@',
    proof: { line: 'proxycommand touch @M@' },
    expect: [`ssh_config:1:1 ${RUNS}`],
  },
  {
    name: 'ProxyCommand "none": the quotes stay, so it is a command',
    config: 'ProxyCommand "none"',
    proof: { line: 'proxycommand "none"' },
    expect: [`ssh_config:1:1 ${RUNS}`],
  },
  {
    name: 'ProxyCommand none # …: the rest of the line is the command',
    config: 'ProxyCommand none # not a comment',
    proof: { line: 'proxycommand none # not a comment' },
    expect: [`ssh_config:1:1 ${RUNS}`],
  },
  {
    name: 'Local"Command"',
    config: 'Local"Command" touch @M@',
    proof: { line: 'localcommand touch @M@' },
    expect: [`ssh_config:1:1 ${RUNS}`],
  },
  {
    name: 'PermitLocalCommand ye"s"',
    config: 'PermitLocalCommand ye"s"',
    proof: { line: 'permitlocalcommand yes' },
    expect: [`ssh_config:1:1 ${RUNS}`],
  },
  {
    name: 'PKCS11Provider loads a library',
    config: 'PKCS11Provider @D@/evil.so',
    proof: { line: 'pkcs11provider @D@/evil.so' },
    expect: [`ssh_config:1:1 ${RUNS}`],
  },
  {
    name: 'SecurityKeyProvider loads a library',
    config: 'SecurityKeyProvider @D@/evil.so',
    proof: { line: 'securitykeyprovider @D@/evil.so' },
    expect: [`ssh_config:1:1 ${RUNS}`],
  },
  {
    name: 'Include=path',
    config: 'Include=@D@/inc.conf',
    files: INCLUDED,
    proof: { marker: true },
    expect: [`inc.conf:1:7 ${RUNS}`],
  },
  {
    name: 'In"clude"',
    config: 'In"clude" @D@/inc.conf',
    files: INCLUDED,
    proof: { marker: true },
    expect: ['ssh_config:1:3 ssh-config/include', `inc.conf:1:7 ${RUNS}`],
  },
  {
    name: 'Include with a glob escape',
    config: 'Include @D@/inc\\_i3.conf',
    files: INCLUDED,
    proof: { marker: true },
    expect: ['ssh_config:1:18 ssh-config/include', `inc_i3.conf:1:7 ${RUNS}`],
  },
  {
    name: 'Include in double quotes, with a blank',
    config: 'Include "@D@/inc i1.conf"',
    files: INCLUDED,
    proof: { marker: true },
    expect: ['ssh_config:1:9 ssh-config/include', `inc i1.conf:1:7 ${RUNS}`],
  },
  // names kpfleet would record in known_hosts (accept-new)
  {
    name: 'HostKeyAlias with shell syntax',
    config: `HostKeyAlias "x;s=$'\\x20';touch\${s}@M@;#"`,
    proof: { line: `hostkeyalias x;s=$'\\x20';touch\${s}@M@;#` },
    expect: ['ssh_config:1:14 ssh-config/host-name'],
  },
  {
    name: 'HostName with shell syntax',
    config: 'HostName "h1;touch @M@"',
    proof: { line: 'hostname h1;touch @M@' },
    expect: ['ssh_config:1:10 ssh-config/host-name'],
  },
  {
    name: 'HostKeyAlias that sshd reads as an authorized_keys option',
    config: 'HostKeyAlias RESTRICT',
    proof: { line: 'hostkeyalias restrict' },
    expect: ['ssh_config:1:14 ssh-config/host-name'],
  },
];

/** The scan lets these pass, and ssh -G neither runs a command nor shows one. */
export const HARMLESS: readonly CorpusCase[] = [
  'ProxyCommand none',
  'ProxyCommand=NONE',
  'PermitLocalCommand no',
  'ProxyJump bastion',
  '# ProxyCommand touch @M@',
  '  #LocalCommand touch @M@',
  'Host exec',
  'User proxycommand',
  'Match host exec-box',
  'Match all',
  'SecurityKeyProvider internal',
  'HostKeyAlias fleet-vip',
  'HostKeyAlias [web01]:2222',
  'HostName %h.example.com',
  'HostName 10.0.0.1',
  'HostName fd00::1',
  'Include @D@/clean.conf',
].map((config) => ({
  name: config,
  config,
  files: { 'clean.conf': 'User deploy\n' },
  expect: [],
}));

/**
 * Refused though ssh runs nothing: on a Match line the scan ignores quotes and comments (it does
 * not bet on one version's word splitting), and over-refusing in a project file is the safe side.
 */
export const REFUSED_BY_CAUTION: readonly CorpusCase[] = [
  {
    name: 'exec inside a quoted pattern',
    config: 'Match user "exec me"',
    expect: [`ssh_config:1:12 ${RUNS}`],
  },
  {
    name: 'exec after a comment',
    config: 'Match host h9 # exec "touch @M@"',
    expect: [`ssh_config:1:17 ${RUNS}`],
  },
  {
    name: 'Match all exec (ssh refuses the line before running it)',
    config: 'Match all exec "touch @M@"',
    expect: [`ssh_config:1:11 ${RUNS}`],
  },
];

/** `text` with `@D@` and `@M@` replaced. */
export function fill(text: string, dir: string, marker: string): string {
  return text.replaceAll('@D@', dir).replaceAll('@M@', marker);
}

/** A config for the `ssh -G` grouping, and what grouping `GROUPING_HOSTS` costs with it. */
export interface GroupingCase {
  name: string;
  /** The ssh config (`-F @D@/ssh_config`). */
  config: string;
  /** More files in `@D@`: name → text. */
  files?: Record<string, string>;
  /** `ssh -G` runs for `GROUPING_HOSTS` resolved with the same options (the `-v` check aside). */
  spawns: number;
}

/**
 * Lower-case names group. Asked about alone: `Web3` (Host patterns are case sensitive), and the
 * addresses ssh rewrites to their standard form (`127.1`, `0x7f.1` → 127.0.0.1,
 * `2001:0db8::0001` → 2001:db8::1), and every IPv6 address (`fd00::5`): 5 runs in every case.
 */
export const GROUPING_HOSTS: readonly string[] = [
  'web1',
  'web2',
  'web10',
  'db1',
  'db2',
  'bastion',
  'web1.example.com',
  '10.0.0.5',
  'fd00::5',
  'Web3',
  'x-y_z',
  '127.1',
  '0x7f.1',
  '2001:0db8::0001',
];

export const GROUPING: readonly GroupingCase[] = [
  {
    name: 'Host patterns, wildcards, first value wins',
    config: [
      'Host web?',
      '  User webuser',
      '  Port 2201',
      'Host web*',
      '  IdentitiesOnly yes',
      '  ServerAliveInterval 30',
      'Host db*',
      '  User dbuser',
      'Host *.example.com',
      '  ConnectTimeout 7',
      'Host *',
      '  ForwardAgent no',
      '  User everyone',
    ].join('\n'),
    // web1 web2 | web10 | db1 db2 | web1.example.com | bastion 10.0.0.5 x-y_z | the five alone
    spawns: 10,
  },
  {
    name: 'negated patterns',
    config: 'Host web* !web2\n  User not-web2\nHost * !db*\n  Port 2222\n',
    // web1 web10 web1.example.com | web2 bastion 10.0.0.5 x-y_z | db1 db2 | the five alone
    spawns: 8,
  },
  {
    name: 'Include with a glob, read where it stands',
    config: 'Include @D@/conf.d/*.conf\nHost *\n  User fallback\n',
    files: {
      'conf.d/10-web.conf': 'Host web*\n  User inc-web\n',
      'conf.d/20-db.conf': 'Host db1\n  Port 2300\n',
    },
    // web… (4) | db1 | db2 and the rest | the five alone
    spawns: 8,
  },
  {
    name: 'Include inside a Host block',
    config: 'Host db*\n  Include @D@/db.conf\nHost *\n  Compression yes\n',
    files: { 'db.conf': 'User from-db-include\nHost db1\n  Port 2400\n' },
    // db1 | db2 | the rest | the five alone
    spawns: 8,
  },
  {
    name: 'HostName %h: the hosts that reach it are asked about alone',
    config: 'Host web*\n  HostName %h.internal.example\nHost *\n  User u\n',
    // web1 web2 web10 web1.example.com alone | the other five | the five alone
    spawns: 10,
  },
  {
    name: 'a literal HostName',
    config: 'Host bastion\n  HostName 10.9.9.9\n  User jump\n',
    // bastion alone | the rest | the five alone
    spawns: 7,
  },
  {
    name: 'IdentityFile %h in Host *: every host alone',
    config: 'Host *\n  IdentityFile ~/.ssh/id_%h\n',
    spawns: 14,
  },
  {
    name: 'ControlPath %C for the db hosts',
    config: 'Host db*\n  ControlPath /tmp/cm-%C\nHost *\n  User u\n',
    // db1, db2 alone | the other seven | the five alone
    spawns: 8,
  },
  {
    name: 'ProxyJump and per-host User/Port',
    config: [
      'Host db*',
      '  ProxyJump jump@bastion:2200',
      'Host bastion',
      '  User jump',
      '  Port 2200',
      'Host web1',
      '  User alice',
      'Host web2',
      '  Port 2022',
    ].join('\n'),
    // db1 db2 | bastion | web1 | web2 | the other four | the five alone
    spawns: 10,
  },
  {
    name: 'ProxyCommand %h %p',
    config: 'Host web*\n  ProxyCommand nc %h %p\n',
    // four web hosts alone | the other five | the five alone
    spawns: 10,
  },
  {
    name: 'Match host: every host alone',
    config: 'Match host web*\n  User m\n',
    spawns: 14,
  },
  {
    name: 'Match exec: every host alone',
    config: 'Match exec true\n  User e\n',
    spawns: 14,
  },
  {
    name: 'Match all, final, canonical and localuser are the same for every host',
    config: [
      'Match final all',
      '  GSSAPIAuthentication no',
      'Match !localuser nosuch-user',
      '  ServerAliveCountMax 5',
      'Match canonical',
      '  Compression yes',
      'Host web*',
      '  User w',
    ].join('\n'),
    // the four web hosts | the other five | the five alone
    spawns: 7,
  },
  {
    name: 'a comment after a pattern: versions split it differently, every host alone',
    config: 'Host web* # the web tier\n  User w\n',
    spawns: 14,
  },
  {
    name: 'numeric addresses ssh rewrites, matched again after Match final',
    config: [
      'Host 127.0.0.1',
      '  User alice',
      'Host 2001:db8::1',
      '  User v6admin',
      '  ProxyJump jump.example',
      'Match final',
    ].join('\n'),
    // the nine plain names | the five alone
    spawns: 6,
  },
  {
    name: 'a ProxyJump through a host of the group: that host alone',
    config: 'Host *\n  ProxyJump jump@bastion:2200\n',
    // the other eight | bastion | the five alone
    spawns: 7,
  },
];
