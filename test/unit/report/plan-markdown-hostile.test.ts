/**
 * Issue 14 §3: the markdown plan is a pull-request comment on GitHub. Names from hosts and files
 * must stay text there: no link, autolink, image, HTML, emphasis, heading, mention, reference, new
 * table cell, nor an end to the `<details>` or code around them. Checked by parsing the comment
 * with a real CommonMark + GFM parser (micromark) and comparing its HTML with that of the same
 * plan under harmless names: outside code, the two are identical.
 */
import { micromark } from 'micromark';
import { gfm, gfmHtml } from 'micromark-extension-gfm';
import { describe, expect, it } from 'vitest';
import type { Change, HostPlan, Plan } from '../../../src/plan/model.ts';
import { GITHUB_COMMENT_LIMIT, renderPlanMarkdown } from '../../../src/report/plan-markdown.ts';
import { oneLine, safeText } from '../../../src/report/safe-text.ts';
import { fleetPlan } from './plan-fixtures.ts';
import { TERMINAL_CORPUS } from './hostile-corpus.ts';

const EVIL = 'https://evil.example';

/** What a host or a file may name things, to break a comment. */
const MARKDOWN_CORPUS: readonly string[] = [
  `[x](${EVIL}/)`,
  `![t](${EVIL}/p.png)`,
  `[x]`,
  `[x]: ${EVIL}`,
  `${EVIL}/a`,
  'www.evil.example',
  'mail@evil.example',
  `<${EVIL}>`,
  '<img src=x onerror=alert(1)>',
  `<a href="${EVIL}">x</a>`,
  '<script>alert(1)</script>',
  '@org/team',
  '@octocat',
  '#123',
  'org/repo#1',
  '**bold**',
  '__bold__',
  '_x_',
  '*x*',
  '~~strike~~',
  '`code`',
  '``',
  '` x `',
  '```',
  '~~~',
  'a|b',
  'a\\|b',
  'a\\\\|b',
  '|',
  '\\',
  '</details>',
  '</summary>',
  '</code>',
  '<!--',
  '-->',
  '# heading',
  '> quote',
  '- item',
  '1. item',
  '---',
  '===',
  ':smile:',
  '$x^2$',
  '$$',
  '&amp;',
  '&lt;b&gt;',
  '&#64;org',
  ' leading and trailing ',
  '   ',
  'line\n# heading',
  'cell\n| x | y |',
  '\n\n</details>\n\n',
  '[^1]',
  ...TERMINAL_CORPUS.map((h) => h.raw),
];

function html(md: string): string {
  return micromark(md, {
    allowDangerousHtml: true,
    extensions: [gfm()],
    htmlExtensions: [gfmHtml()],
  });
}

/** The HTML with the insides of code and pre taken out: the markup GitHub builds on. */
function skeleton(h: string): string {
  return h
    .replace(/<pre>[\s\S]*?<\/pre>/g, '<pre></pre>')
    .replace(/<code>[\s\S]*?<\/code>/g, '<code></code>');
}

const decode = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

/** The texts of every code element (and pre block), decoded. */
function codeTexts(h: string): string[] {
  return [...h.matchAll(/<code[^>]*>([\s\S]*?)<\/code>/g)].map((m) => decode(m[1] ?? ''));
}

function changes(n: string): Change[] {
  return [
    {
      action: 'upload',
      reason: n,
      patch: n,
      module: n,
      source: `patches/${n}.ko`,
      sha256: 'ab'.repeat(32),
      destination: `~/.kpfleet/stage/00/${n}.ko`,
    },
    {
      action: 'load',
      reason: n,
      patch: n,
      module: n,
      replacesModules: [],
      reenable: false,
      cves: [n],
    },
    { action: 'package-remove', reason: n, package: n, after: n },
  ];
}

/** A plan whose every string from a host or a file is one of `names`. */
function planNamed(names: readonly string[]): Plan {
  const plan = fleetPlan();
  plan.config = names[0] ?? '';
  plan.limit = names[1] ?? '';
  plan.hosts = names.map((n, i): HostPlan => {
    const host: HostPlan = {
      host: n,
      groups: [n],
      status: 'changes',
      reason: n,
      kernel: n,
      factsFingerprint: n,
      changes: changes(n),
      findings: [{ kind: 'unmanaged', severity: 'warning', message: `module ${n} is loaded` }],
      cves: [n],
    };
    if (i % 3 === 1) return { ...host, status: 'blocked', changes: [] };
    if (i % 3 === 2) {
      return {
        ...host,
        status: 'error',
        changes: [],
        error: { code: n, message: `stderr: ${n}`, step: n, hint: n },
      };
    }
    return host;
  });
  plan.summary = { ...plan.summary, hosts: names.length, cves: [...names] };
  return plan;
}

/** Harmless names that sort as the corpus does once shown (the group table is sorted by name). */
const harmless = ((): string[] => {
  const order = MARKDOWN_CORPUS.map((n, i) => [safeText(n), i] as const).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const names: string[] = [];
  for (const [rank, [, i]] of order.entries()) names[i] = `name${String(rank).padStart(3, '0')}`;
  return names;
})();

describe('renderPlanMarkdown with hostile names, parsed by micromark (CommonMark + GFM)', () => {
  const hostileMd = renderPlanMarkdown(planNamed(MARKDOWN_CORPUS));
  const hostileHtml = html(hostileMd);

  it('builds exactly the markup it builds for harmless names: names are only ever code', () => {
    expect(hostileMd.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(hostileMd).not.toContain('left out');
    const benign = html(renderPlanMarkdown(planNamed(harmless)));
    expect(skeleton(hostileHtml)).toBe(skeleton(benign));
  });

  it('makes no link, image, raw tag, emphasis or heading of a name', () => {
    const outside = skeleton(hostileHtml);
    expect(outside).not.toMatch(/<a\b|<img\b|<script\b|<em>|<del>|<blockquote>|<hr|<ol>/);
    expect(outside.match(/<h[1-6]>/g)).toEqual(['<h2>']); // the title only
    expect(outside).not.toMatch(/evil|@org|@octocat|#123|#1\b|:smile:|\$x/);
    // every host has its block, closed
    expect(outside.match(/<details>/g)).toHaveLength(MARKDOWN_CORPUS.length);
    expect(outside.match(/<\/details>/g)).toHaveLength(MARKDOWN_CORPUS.length);
  });

  it('still shows every name, as code', () => {
    const codes = codeTexts(hostileHtml);
    for (const n of MARKDOWN_CORPUS) {
      // the host name in its summary, and a finding's message that quotes the name
      expect(codes, JSON.stringify(n)).toContain(safeText(n));
      expect(codes, JSON.stringify(n)).toContain(oneLine(`module ${n} is loaded`));
    }
  });

  it('keeps every table row to its seven cells, pipes and backslashes in names included', () => {
    const rows = [...hostileHtml.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => m[1] ?? '');
    expect(rows).toHaveLength(MARKDOWN_CORPUS.length + 2); // head, a row per group, all hosts
    for (const r of rows) expect(r.match(/<t[hd]\b/g)).toHaveLength(7);
    const groups = rows.flatMap((r) => codeTexts(r));
    expect(groups).toContain('a|b');
    expect(groups).toContain('a\\x5c|b'); // a backslash before a pipe is shown escaped
  });
});

describe('renderPlanMarkdown with very long names', () => {
  it('stays under the GitHub limit, leaving out the host whose block cannot fit', () => {
    const long = `${'x'.repeat(70_000)}[x](${EVIL})`;
    const plan = planNamed(['a', long, 'b']);
    const md = renderPlanMarkdown(plan);
    expect(md.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    const h = html(md);
    expect(skeleton(h)).not.toMatch(/<a\b|evil/);
    expect(md).toContain('left out');
  });
});
