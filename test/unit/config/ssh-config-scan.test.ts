/**
 * The project ssh-config scan (issue 14 §2) from data: which lines run a command as OpenSSH 9.2
 * splits them, and which files it follows through `Include`, without running ssh.
 */
import { describe, expect, it } from 'vitest';
import { scanSshConfig } from '../../../src/config/ssh-config-scan.ts';
import { globFiles } from '../../../src/util/ssh-config-files.ts';
import { DANGEROUS, fill, HARMLESS, REFUSED_BY_CAUTION } from '../../ssh-config-corpus.ts';
import type { CorpusCase } from '../../ssh-config-corpus.ts';
import { memFs } from '../../ssh-config-mem-fs.ts';

const PROJECT = '/repo';
const HOME = '/home/op';

function scan(files: Record<string, string>, root = '/repo/ssh_config'): string[] {
  return scanSshConfig(
    {
      roots: [{ path: root, user: true }],
      home: HOME,
      inProject: (p) => p.startsWith(`${PROJECT}/`),
      display: (p) => p,
    },
    memFs(files),
  ).map((d) => `${d.file}:${String(d.pos?.line)}:${String(d.pos?.col)} ${d.code} ${d.message}`);
}

const lines = (text: string): Record<string, string> => ({ '/repo/ssh_config': text });

describe('directives that run a command', () => {
  it.each([
    ['ProxyCommand nc %h %p', 1],
    ['proxycommand=nc %h %p', 1],
    ['  PROXYCOMMAND = nc %h %p', 3],
    ['\tProxyCommand\t"nc" %h', 2],
    ['"ProxyCommand" nc %h %p', 1],
    ['LocalCommand echo hi', 1],
    ['KnownHostsCommand /bin/cat %H', 1],
    ['PermitLocalCommand yes', 1],
    ['permitlocalcommand=TRUE', 1],
  ])('%s is refused at its keyword', (line, col) => {
    const [d, ...rest] = scan(lines(`Host *\n${line}\n`));
    expect(rest).toEqual([]);
    expect(d).toMatch(new RegExp(`^/repo/ssh_config:2:${String(col)} ssh-config/runs-command `));
  });

  it.each([
    'ProxyCommand none',
    'ProxyCommand=NONE',
    'PermitLocalCommand no',
    'ProxyJump bastion',
    '# ProxyCommand nc %h %p',
    '  #LocalCommand x',
    'HostName exec',
    'Host exec',
    'User proxycommand',
  ])('%s runs nothing', (line) => {
    expect(scan(lines(`${line}\n`))).toEqual([]);
  });

  it.each([
    ['Match exec "id"', 7],
    ['match EXEC=true', 7],
    ['Match host a,b user deploy !exec "test -f /x"', 28],
    ['Match Host="web*" Exec "touch /tmp/m"', 19],
    ['Match canonical final exec true', 23],
  ])('%s: Match exec in any place, negated or not', (line, col) => {
    expect(scan(lines(`${line}\n  User x\n`))).toEqual([
      `/repo/ssh_config:1:${String(col)} ssh-config/runs-command \`Match exec\` runs a command on this machine while ssh reads its configuration, and this file is part of the project, which a pull request can change`,
    ]);
  });

  it.each(['Match host exec-box', 'Match all', 'Match host=exec-box', 'Match user exec-user'])(
    '%s runs nothing',
    (line) => {
      expect(scan(lines(`${line}\n`))).toEqual([]);
    },
  );

  it('reports every offending line, with CRLF endings too', () => {
    expect(
      scan(lines('Host a\r\n  ProxyCommand x\r\nHost b\r\n  LocalCommand y\r\n')).map(
        (d) => d.split(' ')[0],
      ),
    ).toEqual(['/repo/ssh_config:2:3', '/repo/ssh_config:4:3']);
  });
});

describe('which files are scanned', () => {
  it('a file outside the project is the operator’s: not scanned', () => {
    expect(
      scan({ '/etc/kpfleet/ssh_config': 'ProxyCommand x\n' }, '/etc/kpfleet/ssh_config'),
    ).toEqual([]);
  });

  it('follows Include as ssh does: relative to ~/.ssh, globs in lexical order, no dot files', () => {
    const found = scan({
      '/repo/ssh_config': 'Include conf.d/*.conf\n',
      '/home/op/.ssh/conf.d/b.conf': 'ProxyCommand b\n',
      '/home/op/.ssh/conf.d/a.conf': 'Host a\n  LocalCommand a\n',
      '/home/op/.ssh/conf.d/.c.conf': 'ProxyCommand c\n',
      '/home/op/.ssh/conf.d/d.txt': 'ProxyCommand d\n',
    });
    expect(found).toEqual([
      '/home/op/.ssh/conf.d/a.conf:2:3 ssh-config/runs-command `LocalCommand` runs a command on this machine, and this file is included by /repo/ssh_config:1, part of the project',
      '/home/op/.ssh/conf.d/b.conf:1:1 ssh-config/runs-command `ProxyCommand` runs a command on this machine, and this file is included by /repo/ssh_config:1, part of the project',
    ]);
  });

  it('a file outside the project that includes a project file: the project file is scanned', () => {
    const found = scan(
      {
        '/home/op/.ssh/config': 'ProxyCommand mine\nInclude "/repo/ssh/*" ~/.ssh/extra\n',
        '/home/op/.ssh/extra': 'ProxyCommand also mine\n',
        '/repo/ssh/one': 'Match exec x\n',
      },
      '/home/op/.ssh/config',
    );
    expect(found).toEqual([
      '/repo/ssh/one:1:7 ssh-config/runs-command `Match exec` runs a command on this machine while ssh reads its configuration, and this file is part of the project, which a pull request can change',
    ]);
  });

  it('nested and circular includes end, and `~user` cannot be followed from a project file', () => {
    const found = scan({
      '/repo/ssh_config': 'Include /repo/a\n',
      '/repo/a': 'Include /repo/ssh_config ~/b\n',
      '/home/op/b': 'Include ~root/x\nKnownHostsCommand k\n',
    });
    expect(found).toEqual([
      '/home/op/b:1:9 ssh-config/include kpfleet cannot follow `Include ~root/x` to check what it runs, and this file is included by /repo/a:1, part of the project',
      '/home/op/b:2:1 ssh-config/runs-command `KnownHostsCommand` runs a command on this machine, and this file is included by /repo/a:1, part of the project',
    ]);
  });

  it('a system file includes relative to /etc/ssh', () => {
    const found = scanSshConfig(
      {
        roots: [{ path: '/etc/ssh/ssh_config', user: false }],
        home: HOME,
        inProject: (p) => p.startsWith('/etc/ssh/ssh_config.d/'),
        display: (p) => p,
      },
      memFs({
        '/etc/ssh/ssh_config': 'Include ssh_config.d/*.conf\n',
        '/etc/ssh/ssh_config.d/x.conf': 'ProxyCommand x\n',
      }),
    );
    expect(found.map((d) => d.file)).toEqual(['/etc/ssh/ssh_config.d/x.conf']);
  });
});

describe('globFiles', () => {
  it('matches per segment, sorted', () => {
    const fs = memFs({ '/a/x1/c': '', '/a/x2/c': '', '/a/y/c': '', '/b': '' });
    expect(globFiles('/a/x?/c', fs)).toEqual(['/a/x1/c', '/a/x2/c']);
    expect(globFiles('/a/[xy]*/c', fs)).toEqual(['/a/x1/c', '/a/x2/c', '/a/y/c']);
    expect(globFiles('/b', fs)).toEqual(['/b']);
    expect(globFiles('/none/*', fs)).toEqual([]);
  });
});

/** The corpus case's files under /repo, scanned; each diagnostic as `file:line:col code`. */
function scanCase(c: CorpusCase): string[] {
  const files: Record<string, string> = {
    '/repo/ssh_config': `${fill(c.config, '/repo', '/tmp/M')}\n`,
  };
  for (const [name, text] of Object.entries(c.files ?? {}))
    files[`/repo/${name}`] = fill(text, '/repo', '/tmp/M');
  return scanSshConfig(
    {
      roots: [{ path: '/repo/ssh_config', user: true }],
      home: HOME,
      inProject: (p) => p.startsWith(`${PROJECT}/`),
      display: (p) => p.replace(/^\/repo\//, ''),
    },
    memFs(files),
  ).map((d) => `${d.file}:${String(d.pos?.line)}:${String(d.pos?.col)} ${d.code}`);
}

describe('the corpus: lines as OpenSSH 9.2 reads them (test/ssh-config-corpus.ts)', () => {
  it.each(DANGEROUS.map((c) => [c.name, c] as const))('%s is refused', (_, c) => {
    expect(scanCase(c)).toEqual(c.expect);
  });

  it.each(HARMLESS.map((c) => [c.name, c] as const))('%s passes', (_, c) => {
    expect(scanCase(c)).toEqual([]);
  });

  it.each(REFUSED_BY_CAUTION.map((c) => [c.name, c] as const))(
    '%s is refused by caution',
    (_, c) => {
      expect(scanCase(c)).toEqual(c.expect);
    },
  );
});
