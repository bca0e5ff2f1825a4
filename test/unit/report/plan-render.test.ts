/** The plan renderers (issue 5): terminal text, pull-request markdown, JSON. */
import { describe, expect, it } from 'vitest';
import type { ModuleSignature } from '../../../src/config-model.ts';
import type { HostPlan, Plan } from '../../../src/plan/model.ts';
import { describeChange, planJson } from '../../../src/report/plan.ts';
import { GITHUB_COMMENT_LIMIT, renderPlanMarkdown } from '../../../src/report/plan-markdown.ts';
import { renderPlanText } from '../../../src/report/plan-text.ts';
import { colorStyle, plainStyle } from '../../../src/report/style.ts';
import { FINGERPRINT, KERNEL, convergedPlan, fleetPlan } from './plan-fixtures.ts';

const ESC = '\u001b';
const ANSI = new RegExp(`${ESC}\\[\\d+m`, 'g');

/** Markdown with its fenced code blocks taken out: what GitHub parses as markup. */
function outsideFences(md: string): string {
  return md.replace(/^(`{3,})diff\n[\s\S]*?\n\1$/gm, '');
}

describe('renderPlanText', () => {
  it('renders every action, finding severity and host status (plain)', () => {
    expect(renderPlanText(fleetPlan(), plainStyle)).toBe(
      [
        `web1  ${KERNEL}  facts sha256:0123456789ab`,
        '  manager kpatch (auto: kpatch 0.9.9 is installed)',
        '  + upload patches/kpatch-cve-2.ko → ~/.kpfleet/stage/00a1b2c3d4e5f607/kpatch-cve-2.ko  declared loaded by group web',
        `  + install kpatch_cve_2 (${KERNEL})   declared loaded by group web`,
        '  + enable kpatch.service                                kpatch.service is disabled',
        '  ~ replace kpatch_cve_1 → cve-2 (kpatch_cve_2)          declared loaded by group web',
        '  - unload kpatch_cve_1 (after kpatch_cve_2 is enabled)  replaced by cve-2',
        `  - uninstall kpatch-cve-1.ko (${KERNEL}) (after kpatch_cve_2 is enabled)  replaced by cve-2`,
        '  ! warning: cve-1 was released 45 days ago: reboot into the errata kernel',
        '',
        `db1  ${KERNEL}  facts sha256:fedcba987654`,
        '  manager kpatch (auto: kpatch 0.9.9 is installed)',
        '  ~ package kpatch-patch-5_14_0-362_8_1-1-2.el9_3 → kpatch-patch-5_14_0-362_8_1-1-3.el9_3  declared loaded by group db',
        '  + package kpatch-patch-extra-1-1.el9    declared installed by group db',
        '  + load cve-3 (kpatch_cve_3, re-enable)  declared loaded by group db; loaded but disabled',
        '  - unload kpatch_gone (leftover)         inert leftover of an atomic replace',
        '  - package kpatch-patch-old-1-1.el9      declared absent by group db',
        '  · info: kpatch.enable=0 on the kernel command line: nothing is loaded at boot',
        '',
        `web3  ${KERNEL}  facts sha256:0123456789ab  converged: as declared: 1 patch loaded and installed`,
        '  manager klp (auto: no kpatch utility)',
        '  ! warning: kpatch_local is loaded but not declared (kept)',
        '',
        `db2  ${KERNEL}  facts sha256:0123456789ab  blocked: a live-patch transition is in progress (kpatch_cve_1)`,
        '  manager kpatch (auto: kpatch 0.9.9 is installed)',
        '  ✖ error: kpatch_cve_1 is in transition (enabling): nothing new may start',
        '',
        'db3  error: facts could not be read',
        '  ✖ facts/parse: unreadable kpatch list output (step parse)',
        '',
        'lone  unreachable: not reached',
        '  ✖ host/unreachable: connect ECONNREFUSED 10.0.0.9:22',
        '  hint: is sshd running on lone?',
        '',
        '✓ 2 hosts converged: web2, web3',
        '',
        'Plan: 7 hosts — 2 to change, 2 converged, 1 blocked, 1 error, 1 unreachable',
        'Changes: 1 upload, 1 install, 2 package-install, 1 enable-service, 2 load, 2 unload, 1 uninstall, 1 package-remove',
        'Findings: reboot-due on 1 host, stalled on 1 host, unmanaged on 1 host',
        'Managers: kpatch on 4 hosts, klp on 1 host',
        'Closes: CVE-2023-4623, CVE-2024-1086, CVE-2024-26581',
      ].join('\n'),
    );
  });

  it('is deterministic, and does not change the plan', () => {
    const plan = fleetPlan();
    const before = JSON.stringify(plan);
    expect(renderPlanText(plan, colorStyle)).toBe(renderPlanText(fleetPlan(), colorStyle));
    expect(JSON.stringify(plan)).toBe(before);
  });

  it('lists converged hosts on one line: names up to 10, then only the count', () => {
    expect(renderPlanText(convergedPlan(10), plainStyle)).toBe(
      [
        '✓ 10 hosts converged: h01, h02, h03, h04, h05, h06, h07, h08, h09, h10',
        '',
        'Plan: 10 hosts — 0 to change, 10 converged, 0 blocked, 0 errors, 0 unreachable',
        'No changes.',
        'Managers: kpatch on 10 hosts',
      ].join('\n'),
    );
    expect(renderPlanText(convergedPlan(11), plainStyle).split('\n')[0]).toBe(
      '✓ 11 hosts converged',
    );
    expect(renderPlanText(convergedPlan(1), plainStyle).split('\n')[0]).toBe(
      '✓ 1 host converged: h01',
    );
  });

  it('colours additions green, removals red, replacements and warnings yellow', () => {
    const text = renderPlanText(fleetPlan(), colorStyle);
    const lines = text.split('\n');
    const line = (start: string) => {
      const found = lines.find((l) => l.replace(ANSI, '').startsWith(start));
      expect(found, start).toBeDefined();
      return found ?? '';
    };
    expect(line('web1')).toContain(`${ESC}[1mweb1${ESC}[22m`);
    expect(line('web1')).toContain(`${ESC}[2mfacts sha256:0123456789ab${ESC}[22m`);
    expect(line('web1')).not.toContain(FINGERPRINT);
    expect(line('  + upload')).toContain(`${ESC}[32m+ upload`);
    expect(line('  + enable')).toContain(`${ESC}[32m+ enable kpatch.service`);
    expect(line('  ~ replace')).toContain(
      `${ESC}[33m~ replace kpatch_cve_1 → cve-2 (kpatch_cve_2)`,
    );
    expect(line('  - unload kpatch_cve_1')).toContain(`${ESC}[31m- unload kpatch_cve_1`);
    expect(line('  - uninstall')).toContain(`${ESC}[31m- uninstall`);
    expect(line('  + load')).toContain(`${ESC}[32m+ load cve-3 (kpatch_cve_3, re-enable)`);
    // The reason is dimmed.
    expect(line('  + enable')).toContain(`${ESC}[2mkpatch.service is disabled${ESC}[22m`);
    expect(line('  ! warning')).toContain(`${ESC}[33m! warning: cve-1`);
    expect(line('  ✖ error')).toContain(`${ESC}[31m✖ error: kpatch_cve_1`);
    expect(line('  · info')).toContain(`${ESC}[2m· info: kpatch.enable=0`);
    expect(line('db2')).toContain(
      `${ESC}[31mblocked: a live-patch transition is in progress (kpatch_cve_1)${ESC}[39m`,
    );
    expect(line('lone')).toContain(`${ESC}[31munreachable: not reached${ESC}[39m`);
    expect(text.replace(ANSI, '')).toBe(renderPlanText(fleetPlan(), plainStyle));
  });
});

describe('renderPlanMarkdown', () => {
  it('has a title, a table row per group, the CVEs, and a details block per host', () => {
    const md = renderPlanMarkdown(fleetPlan());
    const lines = md.split('\n');
    expect(lines[0]).toBe(
      '## kpfleet plan: 7 hosts — 2 to change, 2 converged, 1 blocked, 1 error, 1 unreachable',
    );
    expect(md).toContain(
      [
        '| group | hosts | to change | converged | blocked/error | unreachable | uncovered (exposed) |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
        '| `db` | 3 | 1 | 0 | 2 | 0 | 0 |',
        '| `web` | 4 | 2 | 2 | 0 | 0 | 0 |',
        '| (ungrouped) | 1 | 0 | 0 | 0 | 1 | 0 |',
        '| **all hosts** | 7 | 2 | 2 | 2 | 1 | 0 |',
      ].join('\n'),
    );
    expect(md).toContain('**Closes:** `CVE-2023-4623`, `CVE-2024-1086`, `CVE-2024-26581`');
    expect(md).toContain('**Managers:** `kpatch` on 4 hosts, `klp` on 1 host');
    // each host block says its manager and why, as code: the reason may hold a host's words
    expect(md).toContain('· manager `klp` (`auto: no kpatch utility`)');
    expect(lines[2]).toBe(
      '<sub>kpfleet `0.1.0` · `kpfleet.yml` · --limit `all:!canary` · facts read `2024-05-01T12:00:00.000Z`</sub>',
    );
    expect(lines.filter((l) => l.startsWith('<details><summary>'))).toEqual([
      '<details><summary><code>web1</code> — 6 changes, 1 warning</summary>',
      '<details><summary><code>db1</code> — 5 changes</summary>',
      '<details><summary><code>web3</code> — converged, 1 warning</summary>',
      '<details><summary><code>db2</code> — blocked, 1 error</summary>',
      '<details><summary><code>db3</code> — error</summary>',
      '<details><summary><code>lone</code> — unreachable</summary>',
    ]);
    expect(lines.filter((l) => l === '</details>')).toHaveLength(6);
    expect(md).not.toContain('web2 —'); // converged with nothing to say
    expect(md).not.toContain('left out');
    expect(md.endsWith('</details>\n')).toBe(true);
  });

  it('puts the changes of a host in a diff block, its findings in a list', () => {
    const md = renderPlanMarkdown(fleetPlan());
    const web1 = md.slice(md.indexOf('<summary><code>web1'), md.indexOf('</details>'));
    expect(web1).toBe(
      [
        '<summary><code>web1</code> — 6 changes, 1 warning</summary>',
        '',
        `kernel \`${KERNEL}\` · facts \`sha256:0123456789ab\` · groups \`web\` · manager \`kpatch\` (\`auto: kpatch 0.9.9 is installed\`)`,
        '',
        '```diff',
        '+ upload patches/kpatch-cve-2.ko → ~/.kpfleet/stage/00a1b2c3d4e5f607/kpatch-cve-2.ko  # declared loaded by group web',
        `+ install kpatch_cve_2 (${KERNEL})   # declared loaded by group web`,
        '+ enable kpatch.service                                # kpatch.service is disabled',
        '~ replace kpatch_cve_1 → cve-2 (kpatch_cve_2)          # declared loaded by group web',
        '- unload kpatch_cve_1 (after kpatch_cve_2 is enabled)  # replaced by cve-2',
        `- uninstall kpatch-cve-1.ko (${KERNEL}) (after kpatch_cve_2 is enabled)  # replaced by cve-2`,
        '```',
        '',
        '- **warning** (reboot-due): `cve-1 was released 45 days ago: reboot into the errata kernel`',
        '',
        '',
      ].join('\n'),
    );
    const lone = md.slice(md.indexOf('<summary><code>lone'));
    expect(lone).toBe(
      [
        '<summary><code>lone</code> — unreachable</summary>',
        '',
        '**unreachable**: `not reached`',
        '',
        '`host/unreachable`: `connect ECONNREFUSED 10.0.0.9:22`',
        '',
        'hint: `is sshd running on lone?`',
        '',
        '</details>',
        '',
      ].join('\n'),
    );
    const db2 = md.slice(md.indexOf('<summary><code>db2'), md.indexOf('<summary><code>db3'));
    expect(db2).toContain('**blocked**: `a live-patch transition is in progress (kpatch_cve_1)`');
    expect(db2).toContain(
      '- **error** (stalled): `kpatch_cve_1 is in transition (enabling): nothing new may start`',
    );
  });

  it('escapes names so that a module, host or group cannot break the markup', () => {
    const evil = 'a|b<script>';
    const plan = fleetPlan();
    const host: HostPlan = {
      host: 'x`y|z',
      groups: ['g|h', '<b>'],
      status: 'changes',
      reason: '1 change to reach the declared state',
      kernel: KERNEL,
      changes: [
        {
          action: 'load',
          reason: 'declared </details> loaded',
          patch: 'evil',
          module: evil,
          replacesModules: ['```'],
          reenable: false,
          cves: [],
        },
      ],
      findings: [{ kind: 'unmanaged', severity: 'warning', message: `${evil} is loaded\n| x |` }],
      cves: [],
    };
    plan.hosts.push(host);
    const md = renderPlanMarkdown(plan);
    expect(md).toContain('| `g\\|h` | 1 | 1 | 0 | 0 | 0 | 0 |');
    expect(md).toContain('| `<b>` | 1 | 1 | 0 | 0 | 0 | 0 |');
    expect(md).toContain('<details><summary><code>x`y|z</code> — 1 change, 1 warning</summary>');
    expect(md).toContain('- **warning** (unmanaged): `a|b<script> is loaded ⏎ | x |`');
    // In the diff the name is verbatim, inside a fence longer than any backticks it holds.
    expect(md).toContain(
      ['````diff', '~ replace ``` → evil (a|b<script>)  # declared </details> loaded', '````'].join(
        '\n',
      ),
    );
    // outside code, nothing of the names is left
    const markup = outsideFences(md).replace(/(`+)[^`](?:.*?[^`])?\1(?!`)/g, '');
    expect(markup).not.toContain('<script>');
    expect(markup).not.toContain('<b>');
    expect(markup.match(/<\/details>/g)).toHaveLength(7);
    // Every table row still has its 7 cells.
    for (const row of md.split('\n').filter((l) => l.startsWith('| '))) {
      expect(row.split(/(?<!\\)\|/)).toHaveLength(9);
    }
  });

  it('stays under the GitHub comment limit, saying how many hosts were left out', () => {
    const many = fleetPlan();
    const template = many.hosts[0];
    if (template === undefined) throw new Error('no host');
    for (let i = 0; i < 400; i++) {
      many.hosts.push({ ...template, host: `bulk${String(i).padStart(3, '0')}` });
    }
    const md = renderPlanMarkdown(many);
    expect(md.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(md.length).toBeGreaterThan(GITHUB_COMMENT_LIMIT - 1500); // filled, not emptied
    const blocks = md.split('\n').filter((l) => l.startsWith('<details>')).length;
    const expected = many.hosts.length - 1; // web2 has nothing to say
    expect(blocks).toBeGreaterThan(10);
    expect(blocks).toBeLessThan(expected);
    expect(md.match(/<\/details>/g)).toHaveLength(blocks); // no block cut in half
    expect(
      md.endsWith(
        `_${String(expected - blocks)} more hosts left out to keep this comment under GitHub's ` +
          '65,536-character limit; the full plan is in the JSON artefact._\n',
      ),
    ).toBe(true);
    // The blocks kept are the first ones, in plan order.
    expect(md).toContain('<summary><code>web1</code> —');
    expect(md).not.toContain('<summary><code>bulk399</code> —');
  });

  it('cuts even the table when the head alone is over the limit', () => {
    const plan = convergedPlan(0);
    const template = fleetPlan().hosts[0];
    if (template === undefined) throw new Error('no host');
    for (let i = 0; i < 3000; i++) {
      const host = `host${String(i).padStart(4, '0')}`;
      plan.hosts.push({ ...template, host, groups: [`group-${host}`] });
    }
    const md = renderPlanMarkdown(plan);
    expect(md.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(md).not.toContain('<details>');
    expect(md.split('\n').at(-4)).toMatch(
      /^\| `group-host\d{4}` \| 1 \| 1 \| 0 \| 0 \| 0 \| 0 \|$/,
    );
    expect(
      md.endsWith(
        "_3000 more hosts left out to keep this comment under GitHub's 65,536-character limit; the full plan is in the JSON artefact._\n",
      ),
    ).toBe(true);
  });

  it('leaves nothing out when it fits', () => {
    const md = renderPlanMarkdown(convergedPlan(3));
    expect(md).toContain('**No changes.**');
    expect(md).not.toContain('<details>');
    expect(md).not.toContain('Closes');
    expect(md).not.toContain('left out');
  });
});

describe('planJson', () => {
  it('is 2-space JSON with a final newline, and reads back to the same plan', () => {
    const plan: Plan = fleetPlan();
    const json = planJson(plan);
    expect(json.endsWith('}\n')).toBe(true);
    expect(json.split('\n')[1]).toBe('  "format": "kpfleet-plan",');
    expect(JSON.parse(json)).toEqual(plan);
  });
});

describe("an upload's signature", () => {
  /** fleetPlan with web1's upload carrying `signature`. */
  function withSignature(signature: ModuleSignature): Plan {
    // a copy: fleetPlan's changes are shared between its calls
    const plan = structuredClone(fleetPlan());
    const upload = plan.hosts[0]?.changes[0];
    if (upload?.action !== 'upload') throw new Error('fleetPlan: web1 starts with an upload');
    upload.signature = signature;
    return plan;
  }
  const uploadLine = (text: string) => text.split('\n').find((l) => l.includes('+ upload ')) ?? '';

  it.each<[ModuleSignature, string]>([
    [{ signed: false }, '(unsigned)'],
    [
      { signed: true, idType: 'PKCS#7', signer: 'Example key', keyId: '1A:2B', hashAlgo: 'sha256' },
      '(signed by Example key)',
    ],
    [{ signed: true, idType: 'PKCS#7', keyId: 'A1:B2' }, '(signed, signer unknown)'],
    [{ signed: true, idType: 'PGP' }, '(signed as PGP, not PKCS#7)'],
    [{ signed: true, idType: 'PKCS#7', malformed: 'has no SignerInfo' }, '(malformed signature)'],
  ])('is shown after the upload in text and markdown: %j', (signature, words) => {
    const plan = withSignature(signature);
    expect(uploadLine(renderPlanText(plan, plainStyle))).toContain(
      `kpatch-cve-2.ko ${words}  declared loaded by group web`,
    );
    expect(uploadLine(renderPlanMarkdown(plan))).toContain(`kpatch-cve-2.ko ${words}  #`);
    // in the JSON as the model has it
    const json = JSON.parse(planJson(plan)) as { hosts: { changes: { signature?: unknown }[] }[] };
    expect(json.hosts[0]?.changes[0]?.signature).toEqual(signature);
  });

  it("is not part of apply's step label; a plan without it shows nothing", () => {
    const plan = withSignature({ signed: false });
    const upload = plan.hosts[0]?.changes[0];
    expect(upload && describeChange(upload).label).not.toContain('unsigned');
    expect(uploadLine(renderPlanText(fleetPlan(), plainStyle))).not.toMatch(/signed/);
  });

  it('a hostile signer is shown escaped', () => {
    const plan = withSignature({ signed: true, idType: 'PKCS#7', signer: 'evil\u001b[2Jkey' });
    const text = renderPlanText(plan, plainStyle);
    expect(text).not.toContain('\u001b');
    expect(uploadLine(text)).toContain('(signed by evil\\x1b[2Jkey)');
  });
});
