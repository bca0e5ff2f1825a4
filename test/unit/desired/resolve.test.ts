import { describe, expect, it } from 'vitest';
import type { Config, GroupSpec, Patch } from '../../../src/config-model.ts';
import { DEFAULTS } from '../../../src/config-model.ts';
import { ansibleBoolean, resolveConnection } from '../../../src/desired/connection.ts';
import { resolveDesired } from '../../../src/desired/resolve.ts';
import type { Inventory } from '../../../src/inventory/types.ts';

/** An inventory from a compact description: group → direct hosts and children. */
type GroupSketch = { hosts?: string[]; children?: string[] };
function inventory(groups: Record<string, GroupSketch>): Inventory {
  const inv: Inventory = { file: 'inventory.ini', hosts: new Map(), groups: new Map() };
  const sketch: Record<string, GroupSketch> = { all: {}, ungrouped: {}, ...groups };
  for (const [name, g] of Object.entries(sketch)) {
    inv.groups.set(name, { name, hosts: g.hosts ?? [], children: g.children ?? [], vars: {} });
    for (const h of g.hosts ?? []) {
      const host = inv.hosts.get(h) ?? { name: h, vars: {}, groups: [] };
      host.groups.push(name);
      inv.hosts.set(h, host);
    }
  }
  // children are listed under their parents only
  const childNames = new Set(Object.values(groups).flatMap((g) => g.children ?? []));
  const allGroup = inv.groups.get('all');
  if (allGroup)
    allGroup.children = ['ungrouped', ...Object.keys(groups).filter((g) => !childNames.has(g))];
  return inv;
}

function patch(name: string, extra: Partial<Patch> = {}): Patch {
  return {
    name,
    module: name.replace(/-/g, '_'),
    kernels: ['5.14.0-*'],
    source: { kind: 'rpm', package: `kpatch-patch-${name}` },
    replaces: [],
    cves: [],
    ...extra,
  };
}

function config(patches: Patch[], groups: (Partial<GroupSpec> & { name: string })[]): Config {
  return {
    file: 'kpfleet.yml',
    inventory: '/x/inventory.ini',
    inventoryWritten: 'inventory.ini',
    connection: {
      become: 'sudo',
      knownHosts: ['/home/u/.ssh/known_hosts'],
      hostKeyChecking: 'strict',
      sshConfig: false,
      connectTimeoutMs: 10_000,
      commandTimeoutMs: 300_000,
      keepaliveIntervalMs: 10_000,
    },
    rollout: {
      forks: 50,
      waves: DEFAULTS.waves,
      maxFailures: DEFAULTS.maxFailures,
      healthCheckTimeoutMs: 120_000,
    },
    patches: new Map(patches.map((p) => [p.name, p])),
    groups: new Map(groups.map((g) => [g.name, { loaded: [], installed: [], absent: [], ...g }])),
  };
}

const inv = inventory({
  web: { hosts: ['web1', 'web2'] },
  db: { hosts: ['db1', 'web2'] },
  prod: { children: ['web', 'db'] },
});

describe('resolveDesired', () => {
  it('gives a host the union of its groups, in catalogue order', () => {
    const cfg = config(
      [patch('a'), patch('b'), patch('c')],
      [
        { name: 'db', installed: ['c'] },
        { name: 'web', loaded: ['a'] },
        { name: 'all', absent: ['b'] },
      ],
    );
    const { hosts, conflicts } = resolveDesired(cfg, inv, ['web2']);
    expect(conflicts).toEqual([]);
    expect(hosts[0]?.patches).toEqual([
      { patch: 'a', state: 'loaded', groups: ['web'] },
      { patch: 'b', state: 'absent', groups: ['all'] },
      { patch: 'c', state: 'installed', groups: ['db'] },
    ]);
  });

  it('loaded wins over installed: loaded implies installed', () => {
    const cfg = config(
      [patch('a')],
      [
        { name: 'db', installed: ['a'] },
        { name: 'web', loaded: ['a'] },
      ],
    );
    const { hosts, conflicts } = resolveDesired(cfg, inv, ['web2']);
    expect(conflicts).toEqual([]);
    expect(hosts[0]?.patches).toEqual([{ patch: 'a', state: 'loaded', groups: ['web'] }]);
  });

  it('a patch loaded in one group and absent in another is a conflict naming host and both groups', () => {
    const cfg = config(
      [patch('a')],
      [
        { name: 'web', loaded: ['a'] },
        { name: 'db', absent: ['a'] },
      ],
    );
    const { conflicts } = resolveDesired(cfg, inv);
    expect(conflicts).toEqual([
      {
        kind: 'state',
        subject: 'a',
        first: { group: 'web', value: 'loaded' },
        second: { group: 'db', value: 'absent' },
        hosts: ['web2'],
      },
    ]);
  });

  it('a cumulative patch and the one it replaces cannot both be loaded', () => {
    const cfg = config(
      [patch('v2'), patch('v3', { replaces: ['v2'] })],
      [
        { name: 'web', loaded: ['v3'] },
        { name: 'db', loaded: ['v2'] },
      ],
    );
    const { conflicts } = resolveDesired(cfg, inv);
    expect(conflicts).toEqual([
      expect.objectContaining({ kind: 'replaces', subject: 'v3', hosts: ['web2'] }),
    ]);
  });

  it('policies come from the deepest group; same-depth disagreement is a conflict', () => {
    const cfg = config(
      [],
      [
        { name: 'all', unmanaged: 'keep', uncoveredKernel: 'warn' },
        { name: 'prod', uncoveredKernel: 'fail' },
        { name: 'web', unmanaged: 'remove' },
        { name: 'db', unmanaged: 'keep' },
      ],
    );
    const { hosts, conflicts } = resolveDesired(cfg, inv);
    const byHost = new Map(hosts.map((h) => [h.host, h]));
    expect(byHost.get('web1')).toMatchObject({ unmanaged: 'remove', uncoveredKernel: 'fail' });
    expect(byHost.get('db1')).toMatchObject({ unmanaged: 'keep', uncoveredKernel: 'fail' });
    expect(conflicts).toEqual([
      expect.objectContaining({ kind: 'policy', subject: 'unmanaged', hosts: ['web2'] }),
    ]);
  });

  it('defaults apply where no group sets a policy', () => {
    const { hosts } = resolveDesired(config([], []), inv, ['web1']);
    expect(hosts[0]).toMatchObject({
      groups: [],
      patches: [],
      unmanaged: 'keep',
      uncoveredKernel: 'warn',
      manager: { choice: 'auto', source: 'default' },
    });
  });
});

describe('the manager setting', () => {
  /** `inv` with inventory variables laid on: host vars (inline) and group vars with sites. */
  const withVars = (
    hostVars: Record<string, Record<string, unknown>>,
    groupVars: Record<string, Record<string, unknown>> = {},
  ): Inventory => {
    const out = inventory({
      web: { hosts: ['web1', 'web2'] },
      db: { hosts: ['db1', 'web2'] },
      prod: { children: ['web', 'db'] },
    });
    for (const [h, vars] of Object.entries(hostVars)) {
      const host = out.hosts.get(h);
      if (!host) throw new Error(h);
      host.vars = vars;
      host.varSites = Object.fromEntries(
        Object.keys(vars).map((k) => [k, { file: `host_vars/${h}.yml`, line: 3, col: 1 }]),
      );
    }
    for (const [g, vars] of Object.entries(groupVars)) {
      const group = out.groups.get(g);
      if (!group) throw new Error(g);
      group.vars = vars;
      group.varSites = Object.fromEntries(
        Object.keys(vars).map((k) => [k, { file: 'inventory.ini', line: 9, col: 1 }]),
      );
    }
    return out;
  };
  const managers = (cfg: Config, i: Inventory) =>
    Object.fromEntries(resolveDesired(cfg, i).hosts.map((h) => [h.host, h.manager]));

  it('is auto by default, from nowhere', () => {
    expect(managers(config([], []), inv)).toEqual({
      web1: { choice: 'auto', source: 'default' },
      web2: { choice: 'auto', source: 'default' },
      db1: { choice: 'auto', source: 'default' },
    });
  });

  it('layers connection.manager < the deepest group < kpfleet_manager, each named as its source', () => {
    const cfg = {
      ...config(
        [],
        [
          { name: 'all', manager: 'klp' },
          { name: 'prod', manager: 'auto' },
          { name: 'web', manager: 'kpatch' },
        ],
      ),
      manager: 'klp' as const,
    };
    const i = withVars({ web2: { kpfleet_manager: 'klp' } });
    expect(managers(cfg, i)).toEqual({
      // web (depth 2) over prod (1) over all (0)
      web1: { choice: 'kpatch', source: 'group web' },
      // the inventory variable over every group
      web2: { choice: 'klp', source: 'kpfleet_manager at host_vars/web2.yml:3:1' },
      db1: { choice: 'auto', source: 'group prod' },
    });
    // no group sets it: connection.manager
    expect(managers({ ...config([], []), manager: 'klp' }, inv)).toMatchObject({
      web1: { choice: 'klp', source: 'connection.manager' },
    });
  });

  it("takes kpfleet_manager with Ansible's precedence: a host's own value over its groups'", () => {
    const i = withVars({ web1: { kpfleet_manager: 'auto' } }, { web: { kpfleet_manager: 'klp' } });
    const cfg = config([], [{ name: 'web', manager: 'kpatch' }]);
    expect(managers(cfg, i)).toMatchObject({
      web1: { choice: 'auto', source: 'kpfleet_manager at host_vars/web1.yml:3:1' },
      web2: { choice: 'klp', source: 'kpfleet_manager at inventory.ini:9:1' },
    });
  });

  it('leaves out a value that is not a choice (the rules refuse it), and an empty one', () => {
    const i = withVars({ web1: { kpfleet_manager: 'kpach' }, web2: { kpfleet_manager: '' } });
    const cfg = config([], [{ name: 'web', manager: 'klp' }]);
    expect(managers(cfg, i)).toMatchObject({
      web1: { choice: 'klp', source: 'group web' },
      web2: { choice: 'klp', source: 'group web' },
    });
  });

  it('two groups at the same depth that disagree are a policy conflict, as unmanaged is', () => {
    const cfg = config(
      [],
      [
        { name: 'web', manager: 'kpatch' },
        { name: 'db', manager: 'klp' },
      ],
    );
    const { hosts, conflicts } = resolveDesired(cfg, inv);
    expect(conflicts).toMatchObject([
      {
        kind: 'policy',
        subject: 'manager',
        first: { group: 'web', value: 'kpatch' },
        second: { group: 'db', value: 'klp' },
        hosts: ['web2'],
      },
    ]);
    expect(conflicts).toHaveLength(1);
    // (an error, so never planned) the first of that depth in Ansible's group order, by name
    expect(hosts.find((h) => h.host === 'web2')?.manager).toEqual({
      choice: 'klp',
      source: 'group db',
    });
  });
});

describe('resolveConnection', () => {
  const defaults = config([], []).connection;
  const resolvePath = { env: {}, resolveKeyPath: (p: string) => `/project/${p}` };
  const ctx = resolvePath;
  it('inventory variables override kpfleet.yml connection defaults', () => {
    const c = resolveConnection(
      'web1',
      { ...defaults, user: 'deploy', port: 2200 },
      {
        ansible_host: '10.0.0.5',
        ansible_user: 'admin',
        ansible_port: '2222',
        ansible_ssh_private_key_file: 'keys/id',
        ansible_become: 'no',
      },
      resolvePath,
    );
    expect(c).toMatchObject({
      host: 'web1',
      address: '10.0.0.5',
      user: 'admin',
      port: 2222,
      privateKeyFile: '/project/keys/id',
      become: 'none',
    });
  });
  it('falls back to the defaults, then to the inventory name', () => {
    const c = resolveConnection('web1', { ...defaults, user: 'deploy' }, {}, resolvePath);
    expect(c).toMatchObject({ address: 'web1', user: 'deploy', become: 'sudo' });
    expect(c.port).toBeUndefined();
  });
  it('uses the ansible_ssh_* name when both are set, as Ansible does (the last name wins)', () => {
    const c = resolveConnection(
      'h1',
      defaults,
      {
        ansible_host: '192.0.2.10',
        ansible_ssh_host: '192.0.2.99',
        ansible_user: 'u1',
        ansible_ssh_user: 'u2',
        ansible_port: 2201,
        ansible_ssh_port: '2202',
        ansible_private_key_file: 'a',
        ansible_ssh_private_key_file: 'b',
      },
      ctx,
    );
    expect(c).toMatchObject({ address: '192.0.2.99', user: 'u2', port: 2202 });
    expect(c.privateKeyFile).toBe('/project/b');
  });
  it('a legacy name set to nothing does not win', () => {
    const c = resolveConnection(
      'h1',
      defaults,
      { ansible_host: '10.0.0.1', ansible_ssh_host: '' },
      ctx,
    );
    expect(c.address).toBe('10.0.0.1');
  });
  it('renders templated connection variables', () => {
    const c = resolveConnection(
      'h1',
      defaults,
      {
        ip: '10.0.0.9',
        ansible_host: '{{ ip }}',
        ansible_user: "{{ lookup('env', 'KP_USER') }}",
        ansible_port: '{{ p | default(2222) }}',
        ansible_ssh_private_key_file: "{{ lookup('env', 'KP_HOME') }}/.ssh/id",
      },
      { env: { KP_USER: 'deploy', KP_HOME: '/home/d' }, resolveKeyPath: (p) => p },
    );
    expect(c).toMatchObject({
      address: '10.0.0.9',
      user: 'deploy',
      port: 2222,
      privateKeyFile: '/home/d/.ssh/id',
    });
    expect(c.unusable).toBeUndefined();
  });
  it('marks a host whose template is refused unusable, never using the template', () => {
    const c = resolveConnection('h1', defaults, { ansible_host: '{{ nope }}' }, ctx);
    expect(c.address).toBe('h1');
    expect(c.unusable).toContain("ansible_host: 'nope' is undefined");
  });
  it('passes the ssh arguments on, ansible_ssh_args before the user and port', () => {
    const c = resolveConnection(
      'h1',
      defaults,
      {
        ansible_ssh_args: '-o ControlMaster=auto -o Port=2',
        ansible_ssh_common_args: '-J bastion',
        ansible_ssh_extra_args: '-o User=bob',
      },
      ctx,
    );
    expect(c.sshArgs).toEqual({
      before: ['-o', 'Port=2'],
      after: ['-J', 'bastion', '-o', 'User=bob'],
    });
    expect(c.unusable).toBeUndefined();
    const bad = resolveConnection('h1', defaults, { ansible_ssh_extra_args: '-F x' }, ctx);
    expect(bad.unusable).toContain("-F: kpfleet does not apply ssh's -F");
  });
  it('reads Ansible booleans', () => {
    expect(['yes', 'True', 'on', '1', true].map(ansibleBoolean)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['no', 'False', 'off', '0', false].map(ansibleBoolean)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(ansibleBoolean('maybe')).toBeUndefined();
  });
});
