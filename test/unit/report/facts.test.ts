/**
 * `kpfleet facts` shows probe v4's facts: lockdown, sig_enforce, Secure Boot and stack_order; and
 * the klp manager's store and boot unit.
 */
import { describe, expect, it } from 'vitest';
import type { ManagerSetting } from '../../../src/config-model.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import { factsJson, renderFacts } from '../../../src/report/facts.ts';
import { colorStyle, plainStyle } from '../../../src/report/style.ts';
import { facts, inst, klpFacts, klpInst, live } from '../plan/builders.ts';

const one = (f: HostFacts) => [{ host: 'h1', ok: true as const, facts: f, durationMs: 0 }];
const securityLine = (f: HostFacts): string =>
  renderFacts(one(f), plainStyle)
    .split('\n')
    .find((l) => l.startsWith('  security: ')) ?? '';

describe('renderFacts: security', () => {
  it('says what is known, and whether unsigned modules are refused', () => {
    expect(
      securityLine(
        facts({ security: { lockdown: 'integrity', sigEnforce: false, secureBoot: true } }),
      ),
    ).toBe(
      '  security: lockdown integrity, sig_enforce off, Secure Boot on  (unsigned modules are refused)',
    );
    expect(securityLine(facts({ security: { lockdown: 'none', sigEnforce: true } }))).toBe(
      '  security: lockdown none, sig_enforce on, Secure Boot ?  (unsigned modules are refused)',
    );
    expect(securityLine(facts({ security: { lockdown: 'none', sigEnforce: false } }))).toBe(
      '  security: lockdown none, sig_enforce off, Secure Boot ?',
    );
    expect(securityLine(facts({ security: {} }))).toBe(
      '  security: lockdown ?, sig_enforce ?, Secure Boot ?  (whether unsigned modules load is unknown)',
    );
  });

  it('marks a refusing host in yellow', () => {
    const text = renderFacts(one(facts({ security: { sigEnforce: true } })), colorStyle);
    expect(text).toContain('\u001b[33m  (unsigned modules are refused)\u001b[39m');
  });
});

describe('renderFacts: stack_order', () => {
  it('follows a loaded patch where the kernel has it, and only there', () => {
    const text = renderFacts(
      one(facts({ patches: [live('livepatch_a', { stackOrder: 1 }), live('livepatch_b')] })),
      plainStyle,
    );
    expect(text).toContain('  loaded     livepatch_a  enabled  stack_order 1\n');
    expect(text).toContain('  loaded     livepatch_b  enabled\n');
  });
});

describe('factsJson', () => {
  it('carries security and stackOrder as the facts hold them', () => {
    const f = facts({
      security: { lockdown: 'confidentiality', sigEnforce: false },
      patches: [live('livepatch_a', { stackOrder: 2 })],
    });
    const json = JSON.parse(JSON.stringify(factsJson(one(f)))) as {
      hosts: { facts: HostFacts }[];
    };
    expect(json.hosts[0]?.facts.security).toEqual({
      lockdown: 'confidentiality',
      sigEnforce: false,
    });
    expect(json.hosts[0]?.facts.patches[0]?.stackOrder).toBe(2);
  });
});

describe('renderFacts and factsJson: the manager', () => {
  const line = (f: HostFacts, settings?: Map<string, ManagerSetting>): string =>
    renderFacts(one(f), plainStyle, undefined, settings)
      .split('\n')
      .find((l) => l.startsWith('  manager ')) ?? '';

  it('says what auto chooses on the host, and why', () => {
    expect(line(facts())).toBe('  manager kpatch (auto: kpatch 0.9.7 is installed)');
    expect(line(facts({ kpatch: { installed: false } }))).toBe(
      '  manager klp (auto: no kpatch utility)',
    );
  });

  it("a host's own setting first, then what auto would choose where it differs", () => {
    const klp = new Map([['h1', { choice: 'klp' as const, source: 'group web' }]]);
    expect(line(facts(), klp)).toBe(
      '  manager klp (group web); auto would choose kpatch (auto: kpatch 0.9.7 is installed)',
    );
    const kpatch = new Map([['h1', { choice: 'kpatch' as const, source: 'connection.manager' }]]);
    expect(line(facts(), kpatch)).toBe('  manager kpatch (connection.manager)');
  });

  it('the JSON names the manager of each host read', () => {
    const json: unknown = JSON.parse(
      JSON.stringify(factsJson(one(facts({ kpatch: { installed: false } })))),
    );
    expect(json).toMatchObject({
      hosts: [{ host: 'h1', manager: { manager: 'klp', reason: 'auto: no kpatch utility' } }],
    });
  });
});

describe('renderFacts: the klp manager', () => {
  const K = '5.14.0-362.8.1.el9_3.x86_64';
  const lines = (f: HostFacts): string[] =>
    renderFacts(one(f), plainStyle)
      .split('\n')
      .filter((l) => /^ {2}(installed|kpfleet-klp|kpatch\.service)/.test(l));

  it('a klp host: the modules of its klp store, and kpfleet-klp.service', () => {
    const f = klpFacts([klpInst('livepatch-a.ko', { sha256: 'ab'.repeat(32) })]);
    expect(lines(f)).toEqual([
      `  installed  livepatch_a  ${K}/livepatch-a.ko sha256 abababababab… (klp store)`,
      '  kpatch.service: absent',
      '  kpfleet-klp.service: enabled',
    ]);
  });

  it("the unit as the plan judges it: disabled, not this kpfleet's, or no systemctl", () => {
    const unit = (boot: Parameters<typeof klpFacts>[2]): string | undefined =>
      lines(klpFacts([klpInst('livepatch-a.ko')], {}, boot)).find((l) =>
        l.startsWith('  kpfleet-klp'),
      );
    expect(unit({ enabled: false, state: 'disabled' })).toBe('  kpfleet-klp.service: disabled');
    expect(unit({ current: false })).toBe(
      "  kpfleet-klp.service: enabled, but its unit or boot script is not this kpfleet's",
    );
    expect(unit({ systemctl: false, enabled: false, state: '' })).toBe(
      '  kpfleet-klp.service: no systemctl (nothing loads the klp store at boot)',
    );
  });

  it('a host moving from kpatch shows both stores; a kpatch host without klp state, no unit line', () => {
    const moving = facts({
      installed: [inst('livepatch-a.ko', { sha256: 'cd'.repeat(32) })],
      klp: {
        store: [klpInst('livepatch-a.ko', { sha256: 'cd'.repeat(32) })],
        boot: { systemctl: true, enabled: true, state: 'enabled', current: true },
      },
    });
    expect(lines(moving)).toEqual([
      `  installed  livepatch_a  ${K}/livepatch-a.ko sha256 cdcdcdcdcdcd…`,
      `  installed  livepatch_a  ${K}/livepatch-a.ko sha256 cdcdcdcdcdcd… (klp store)`,
      '  kpatch.service: enabled',
      '  kpfleet-klp.service: enabled',
    ]);
    const plain = facts({
      klp: {
        store: [],
        boot: { systemctl: true, enabled: false, state: 'not-found', current: false },
      },
    });
    expect(lines(plain)).toEqual(['  kpatch.service: enabled']);
  });
});
