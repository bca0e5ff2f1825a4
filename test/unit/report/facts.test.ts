/** `kpfleet facts` shows probe v4's facts: lockdown, sig_enforce, Secure Boot and stack_order. */
import { describe, expect, it } from 'vitest';
import type { ManagerSetting } from '../../../src/config-model.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import { factsJson, renderFacts } from '../../../src/report/facts.ts';
import { colorStyle, plainStyle } from '../../../src/report/style.ts';
import { facts, KERNEL, klpFacts, klpInst, live } from '../plan/builders.ts';

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

describe('renderFacts: the klp manager (docs/klp-behaviour.md)', () => {
  it('lists the klp store and the state of kpfleet-klp.service on a host without kpatch', () => {
    const text = renderFacts(
      one(
        klpFacts([klpInst('livepatch-a.ko', { sha256: 'ab'.repeat(32) })], {
          cmdline: 'ro kpfleet.enable=0',
        }),
      ),
      plainStyle,
    );
    expect(text).toContain(
      `  installed  livepatch_a  ${KERNEL}/livepatch-a.ko sha256 abababababab… (klp store)\n`,
    );
    expect(text).toContain(
      '  kpfleet-klp.service: enabled  (kpfleet.enable=0 on the kernel command line)\n',
    );
    const stale = renderFacts(one(klpFacts([], {}, { current: false })), plainStyle);
    expect(stale).toContain(
      "  kpfleet-klp.service: enabled, but its files are not this kpfleet's\n",
    );
    const none = renderFacts(
      one(klpFacts([], {}, { systemctl: false, enabled: false, current: false, state: '' })),
      plainStyle,
    );
    expect(none).toContain('  kpfleet-klp.service: no systemctl\n');
  });

  it('says nothing of it on a kpatch host that has none of it', () => {
    const f = facts({
      klp: {
        store: [],
        boot: { systemctl: true, enabled: false, state: 'not-found', current: false },
      },
    });
    expect(renderFacts(one(f), plainStyle)).not.toContain('kpfleet-klp');
  });
});

describe('renderFacts: functions several patches change', () => {
  it('names the patches and the one that runs where stack_order says', () => {
    const f = { object: 'vmlinux', name: 'cmdline_proc_show', sympos: 1 };
    const text = renderFacts(
      one(
        facts({
          patches: [
            live('livepatch_a', { stackOrder: 1, functions: [f] }),
            live('livepatch_b', { stackOrder: 2, functions: [f] }),
          ],
        }),
      ),
      plainStyle,
    );
    expect(text).toContain(
      '  function   vmlinux:cmdline_proc_show,1  livepatch_a, livepatch_b  → livepatch_b runs (stack_order)\n',
    );
  });
});
