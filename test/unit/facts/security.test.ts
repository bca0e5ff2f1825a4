/**
 * Probe v4's new facts (issue 21 step 1): the `security` section (lockdown, sig_enforce, Secure
 * Boot: docs/kpatch-behaviour.md §5.5) and `stack_order` as a fifth livepatch field (§5.1). A file
 * the kernel lacks is unknown, never an error; a value no kernel prints is that host's facts
 * error, never a guess; both are in the facts fingerprint.
 */
import { describe, expect, it } from 'vitest';
import { factsFingerprint } from '../../../src/facts/fingerprint.ts';
import type { SecurityFacts } from '../../../src/facts/model.ts';
import { parseFacts } from '../../../src/facts/parse/facts.ts';
import { FieldError } from '../../../src/facts/parse/fields.ts';
import { readLivepatch, readSecurity } from '../../../src/facts/parse/host-sections.ts';
import { PROBE_VERSION, probeScript, SECTION_MARK } from '../../../src/facts/probe.ts';
import { refusesUnsigned } from '../../../src/facts/security.ts';
import { facts } from '../plan/builders.ts';

const K = '5.14.0-362.8.1.el9_3.x86_64';

function probeOutput(sections: Record<string, string>): string {
  return Object.entries(sections)
    .map(([name, body]) => `\n${SECTION_MARK} ${name}\n${body}`)
    .join('\n');
}

const base: Record<string, string> = {
  probe: '4',
  uname: `${K}\nx86_64`,
  'kpatch-version': '0.9.7\nrc=0',
  'kpatch-list': `Loaded patch modules:\n\nInstalled patch modules:\nrc=0`,
  livepatch: 'present',
  security: 'lockdown none [integrity] confidentiality\nsig_enforce N\nsecureboot 1',
  service: 'enabled\nrc=0',
  end: '',
};

const parsed = (changes: Record<string, string>) => {
  const r = parseFacts(probeOutput({ ...base, ...changes }));
  if (!r.ok) throw new Error(r.error);
  return r.facts;
};
const refused = (changes: Record<string, string>) => {
  const r = parseFacts(probeOutput({ ...base, ...changes }));
  if (r.ok) throw new Error('accepted');
  return r;
};
const fieldError = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof FieldError) return e.message;
    throw e;
  }
  throw new Error('accepted');
};

describe('the security section (§5.5)', () => {
  it('reads the bracketed lockdown level, sig_enforce and Secure Boot', () => {
    expect(parsed({}).security).toEqual({
      lockdown: 'integrity',
      sigEnforce: false,
      secureBoot: true,
    });
    expect(
      readSecurity('lockdown [none] integrity confidentiality\nsig_enforce Y\nsecureboot 0'),
    ).toEqual({ lockdown: 'none', sigEnforce: true, secureBoot: false });
    expect(readSecurity('lockdown none integrity [confidentiality]').lockdown).toBe(
      'confidentiality',
    );
  });

  it('a file the kernel lacks (or the login user cannot read) is unknown: the key left out', () => {
    expect(parsed({ security: 'lockdown -\nsig_enforce -\nsecureboot -' }).security).toEqual({});
    expect(readSecurity('lockdown -\nsig_enforce Y\nsecureboot -')).toEqual({ sigEnforce: true });
    // a probe without the section (before v4) tells nothing either
    const old = Object.fromEntries(Object.entries(base).filter(([k]) => k !== 'security'));
    const r = parseFacts(probeOutput(old));
    expect(r.ok && r.facts.security).toEqual({});
  });

  it('a value no kernel prints is a field error that names it, never a guess', () => {
    for (const [line, message] of [
      [
        'lockdown none integrity confidentiality',
        /lockdown reads "none integrity confidentiality"/,
      ],
      ['lockdown [none] [integrity]', /lockdown reads/],
      ['lockdown none [paranoid] confidentiality', /lockdown reads/],
      ['lockdown ', /lockdown reads ""/],
      ['sig_enforce 1', /sig_enforce reads "1", not Y or N/],
      ['sig_enforce y', /sig_enforce reads "y"/],
      ['secureboot 2', /SecureBoot EFI variable holds "2", not 0 or 1/],
      ['secureboot', /SecureBoot EFI variable holds ""/],
      ['selinux enforcing', /security line "selinux enforcing" is not/],
      ['lockdown -\nlockdown -', /once each/],
    ] as const) {
      const r = refused({ security: line });
      expect(r.kind, line).toBe('field');
      expect(r.error, line).toMatch(message);
    }
  });

  it('hostile values: control characters, escapes, floods are refused and shown escaped', () => {
    const esc = refused({ security: 'lockdown none [\u001b[31mintegrity]' });
    expect(esc.kind).toBe('field');
    expect(esc.error).toContain('\\u001b');
    expect(esc.error).not.toContain('\u001b');
    const c1 = fieldError(() => readSecurity('sig_enforce Y\u009b'));
    expect(c1).toContain('\\u009b');
    // a lockdown file of many lines: more lines than the section has keys
    expect(refused({ security: 'lockdown [none]\nintegrity\nx\ny' }).error).toMatch(
      /4 security lines, more than 3/,
    );
    // a megabyte-long lockdown line is refused quickly, and the message is cut
    const long = `lockdown ${'a '.repeat(500_000)}[none]`;
    const r = refused({ security: long });
    expect(r.error.length).toBeLessThan(400);
  });
});

describe('stack_order in the livepatch section (§5.1)', () => {
  it('4 fields (no stack_order file, and every probe before v4) and 5 fields both read', () => {
    expect(readLivepatch('present\na 1 0 -\nb 1 0 1').patches).toEqual([
      { name: 'a', enabled: true, transition: false, replace: undefined },
      { name: 'b', enabled: true, transition: false, replace: true },
    ]);
    const five = readLivepatch('present\na 1 0 0 1\nb 1 1 1 2').patches;
    expect(five).toEqual([
      { name: 'a', enabled: true, transition: false, replace: false, stackOrder: 1 },
      { name: 'b', enabled: true, transition: true, replace: true, stackOrder: 2 },
    ]);
    // absent, not undefined: a host without the file has no such key at all
    expect('stackOrder' in (readLivepatch('present\na 1 0 -').patches[0] ?? {})).toBe(false);
    expect(parsed({ livepatch: 'present\na 1 0 - 3' }).patches[0]?.stackOrder).toBe(3);
  });

  it('a stack_order no kernel prints, or a sixth field, is a field error', () => {
    for (const line of [
      'a 1 0 - 0',
      'a 1 0 - -1',
      'a 1 0 - 01',
      'a 1 0 - x',
      'a 1 0 - ',
      'a 1 0 - 4097',
    ]) {
      expect(
        fieldError(() => readLivepatch(`present\n${line}`)),
        line,
      ).toMatch(/a\/stack_order is ".*", not a position from 1 to 4096/);
    }
    expect(fieldError(() => readLivepatch('present\na 1 0 - 1 1'))).toMatch(
      /is not "<name> <enabled> <transition> <replace> \[<stack_order>\]"/,
    );
    expect(refused({ livepatch: 'present\na 1 0 - 1\u0007' }).error).toContain('\\u0007');
  });
});

describe('refusesUnsigned', () => {
  const cases: [SecurityFacts, boolean | undefined][] = [
    [{ sigEnforce: true }, true],
    [{ sigEnforce: true, lockdown: 'none' }, true],
    [{ lockdown: 'integrity' }, true],
    [{ lockdown: 'confidentiality' }, true],
    [{ lockdown: 'integrity', sigEnforce: false }, true],
    [{ sigEnforce: false, lockdown: 'none' }, false],
    // Secure Boot alone decides nothing (its effect shows in lockdown)
    [{ sigEnforce: false, lockdown: 'none', secureBoot: true }, false],
    [{ sigEnforce: false }, undefined],
    [{ lockdown: 'none' }, undefined],
    [{ secureBoot: true }, undefined],
    [{}, undefined],
  ];
  it.each(cases)('%j → %s', (security, want) => {
    expect(refusesUnsigned({ security })).toBe(want);
  });
});

describe('the facts fingerprint', () => {
  it('changes with lockdown, sig_enforce and stack_order; not with Secure Boot', () => {
    const f = facts({ security: { lockdown: 'none', sigEnforce: false } });
    const fp = factsFingerprint(f);
    expect(
      factsFingerprint({ ...f, security: { lockdown: 'integrity', sigEnforce: false } }),
    ).not.toBe(fp);
    expect(factsFingerprint({ ...f, security: { lockdown: 'none', sigEnforce: true } })).not.toBe(
      fp,
    );
    expect(factsFingerprint({ ...f, security: { ...f.security, secureBoot: true } })).toBe(fp);
    const live = (stackOrder?: number) =>
      facts({
        patches: [
          {
            name: 'a',
            enabled: true,
            transition: false,
            replace: undefined,
            ...(stackOrder === undefined ? {} : { stackOrder }),
          },
        ],
      });
    expect(factsFingerprint(live(1))).not.toBe(factsFingerprint(live(2)));
    expect(factsFingerprint(live(1))).not.toBe(factsFingerprint(live()));
  });

  it('Secure Boot alone, like nothing known, adds nothing to it', () => {
    const f = facts({
      patches: [{ name: 'a', enabled: true, transition: false, replace: undefined }],
      security: { secureBoot: false },
    });
    expect(factsFingerprint(f)).toBe(factsFingerprint({ ...f, security: {} }));
    expect(factsFingerprint(f)).not.toBe(
      factsFingerprint({ ...f, security: { sigEnforce: false } }),
    );
  });
});

describe('the probe script (v4)', () => {
  it('has the security section and reads stack_order beside replace', () => {
    expect(PROBE_VERSION).toBe(4);
    const s = probeScript();
    expect(s).toContain(`${SECTION_MARK} %s\\n' security`);
    expect(s).toContain('/sys/kernel/security/lockdown');
    expect(s).toContain('/sys/module/module/parameters/sig_enforce');
    expect(s).toContain(
      'od -An -tu1 -j4 -N1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d0-aa0d-00e098032b8c',
    );
    expect(s).toContain('$d/stack_order');
  });
});
