/**
 * The status page (report/status-html.ts) in Debian's headless Chromium, opened from a file:
 * every host shows with its state word, the matrix counts, a hostile host name stays text, the
 * filters and the URL hash work, nothing but the file is requested, no console or page error,
 * nothing overflows a phone's width; at 10,000 hosts the first paint stays small and a matrix
 * cell's hosts are drawn on demand. Writes the screenshots in docs/images/ (docs/status-html.md).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatusHtml } from '../../../src/report/status-html.ts';
import type { StatusReport } from '../../../src/status/model.ts';
import { launchChromium, type Chromium, type OpenedPage } from '../../consumers/chromium.ts';
import { lacks } from '../../consumers/machine.ts';
import { statusFixture } from '../../unit/report/status-fixture.ts';
import { scaleStatusReport } from '../../unit/report/status-scale.ts';

const IMAGES = new URL('../../../docs/images/', import.meta.url).pathname;
const READY = 'html[data-ready]';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const ODD = 'odd-<b>"x",=1';

let chromium: Chromium | undefined;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kpfleet-status-html-'));
  if (!lacks.chromium) chromium = await launchChromium();
});
afterAll(async () => {
  await chromium?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Opens a page in the browser beforeAll launched (it fails every test when it could not). */
function open(file: string, viewport: typeof DESKTOP): Promise<OpenedPage> {
  if (chromium === undefined) throw new Error('chromium was not launched');
  return chromium.open(file, viewport, READY);
}

/** Opens the file, runs the checks, then what no page may do; closes the page whatever happens. */
async function withPage(
  file: string,
  viewport: typeof DESKTOP,
  check: (p: OpenedPage) => Promise<void>,
): Promise<void> {
  const p = await open(file, viewport);
  try {
    await check(p);
    expectClean(p);
  } finally {
    await p.close();
  }
}

function writePage(name: string, report: StatusReport): string {
  const file = join(dir, name);
  writeFileSync(file, renderStatusHtml(report));
  return file;
}

/** What a page must never do, whatever it shows. */
function expectClean(p: OpenedPage): void {
  expect(p.consoleErrors).toEqual([]);
  expect(p.pageErrors).toEqual([]);
  expect(p.otherRequests).toEqual([]);
}

/** [host name, state badge text] of each row in a host list section. */
const rows = (p: OpenedPage, section: string) =>
  p.eval<[string, string][]>(
    `[...document.querySelectorAll('#${section} li.host')].map((li) =>
      [li.querySelector('.name').textContent, li.querySelector('.badge').textContent])`,
  );
const names = async (p: OpenedPage, section: string) => (await rows(p, section)).map(([n]) => n);

/** The text of the matrix cell for a group's row and a patch's column. */
const cellText = (p: OpenedPage, group: string, patch: string) =>
  p.eval<string | null>(`(() => {
    const cols = [...document.querySelectorAll('#matrix thead th')].map((th) => th.textContent);
    const row = [...document.querySelectorAll('#matrix tbody tr')]
      .find((tr) => tr.querySelector('th .name')?.textContent === ${JSON.stringify(group)});
    const cell = row?.children[cols.indexOf(${JSON.stringify(patch)})];
    return cell ? cell.textContent : null;
  })()`);

const overflow = (p: OpenedPage) =>
  p.eval<[number, number]>('[document.scrollingElement.scrollWidth, window.innerWidth]');

describe.skipIf(lacks.chromium)('the status page from the fixture', () => {
  it('shows every host with its state word, the matrix, and a hostile name as text', async () => {
    const report = statusFixture();
    await withPage(writePage('fixture.html', report), DESKTOP, async (p) => {
      const all = await rows(p, 'l-hosts');
      expect(all).toHaveLength(report.hosts.length);
      for (const h of report.hosts) {
        const row = all.find(([n]) => n === h.host);
        expect(row?.[1], h.host).toContain(h.state);
      }
      // each host's manager and why, where its plan named one
      const details = await p.eval<[string, string][]>(
        `[...document.querySelectorAll('#l-hosts li.host')].map((li) =>
          [li.querySelector('.name').textContent, li.querySelector('.detail').textContent])`,
      );
      const detail = (host: string) => details.find(([n]) => n === host)?.[1];
      expect(detail('web01')).toContain('manager kpatch (auto: kpatch 0.9.9 is installed)');
      expect(detail(ODD)).toContain('manager ?');
      expect(await cellText(p, 'web', 'el9-cumulative-3')).toContain('2 live');
      expect(await cellText(p, 'web', 'el9-cumulative-3')).toContain('1 not live');
      expect(await cellText(p, 'db', 'cve-2024-1086')).toContain('1 not live');
      expect(await names(p, 'l-unreachable')).toEqual([ODD]);
      expect(await p.eval<number>(`document.querySelectorAll('b').length`)).toBe(0);
      expect(await names(p, 'l-due')).toEqual(['web03']);
      expect(await names(p, 'l-uncovered')).toEqual(['batch04']);
      expect(await names(p, 'l-exposed')).toEqual(['web02', 'batch04']);
      const header = await p.eval<string>(`document.querySelector('header').textContent`);
      expect(header).toContain('2026-12-04 12:00:00 UTC');
      expect(header).toContain('2026-11-01');
      expect(header).toMatch(/1\s*↻ reboot due/);

      await p.page.screenshot({ path: join(IMAGES, 'status-html.png'), fullPage: true });
      expect(statSync(join(IMAGES, 'status-html.png')).size).toBeLessThan(300_000);

      // A matrix cell opens on demand: its hosts by what the patch is on them.
      expect(await p.eval<boolean>(`document.getElementById('cell-panel').hidden`)).toBe(true);
      await p.page.evaluate(`(() => {
        const row = [...document.querySelectorAll('#matrix tbody tr')]
          .find((tr) => tr.querySelector('th .name').textContent === 'web');
        row.querySelector('button.cell').click();
      })()`);
      const panel = await p.eval<string>(`document.getElementById('cell-panel').innerText`);
      expect(panel).toMatch(/✓ live \(2\)\s*✓ protected\s*web01[\s\S]*web03/);
      expect(panel).toContain(ODD);
    });
  });

  it('lists a host exposed only by a declared patch without CVEs that is not live', async () => {
    const report = statusFixture();
    const web02 = report.hosts.find((h) => h.host === 'web02');
    if (web02 === undefined) throw new Error('fixture');
    report.hosts.push({
      ...web02,
      host: 'web09',
      cves: [],
      reason: '1 change to reach the declared state',
    });
    await withPage(writePage('exposed-no-cve.html', report), DESKTOP, async (p) => {
      expect(await names(p, 'l-exposed')).toEqual(['web02', 'batch04', 'web09']);
      expect(await p.eval<string>(`document.getElementById('l-exposed').innerText`)).toContain(
        '1 change to reach the declared state',
      );
    });
  });

  it('filters by state, group and CVE without reloading, kept in the URL hash', async () => {
    await withPage(writePage('filters.html', statusFixture()), DESKTOP, async (p) => {
      await p.page.evaluate(`window.sameDocument = true`);
      await p.page.select('#f-state', 'exposed');
      expect(await names(p, 'l-hosts')).toEqual(['web02']);
      expect(await p.eval<string>('document.body.innerText')).not.toContain('web01');
      expect(await p.eval<string>('location.hash')).toBe('#state=exposed');

      await p.page.select('#f-state', '');
      await p.page.select('#f-group', 'db');
      expect(await names(p, 'l-hosts')).toEqual(['db01']);
      expect(await p.eval<number>(`document.querySelectorAll('#matrix tbody tr').length`)).toBe(1);
      expect(await names(p, 'l-exposed')).toEqual([]);

      // The hash drives the filters too (a link to a filtered view).
      await p.page.evaluate(`location.hash = 'cve=CVE-2023-4623&state=uncovered'`);
      await p.page.waitForFunction(`document.getElementById('f-state').value === 'uncovered'`);
      expect(await names(p, 'l-hosts')).toEqual(['batch04']);
      expect(await p.eval<string>(`document.getElementById('f-group').value`)).toBe('');
      expect(await p.eval<number>(`document.querySelectorAll('#cves tbody tr').length`)).toBe(1);
      expect(await p.eval<boolean>('window.sameDocument')).toBe(true);
    });
  });

  it('fits a phone: nothing overflows 390px, with a cell open too', async () => {
    await withPage(writePage('phone.html', statusFixture()), PHONE, async (p) => {
      const [scroll, inner] = await overflow(p);
      expect(scroll).toBeLessThanOrEqual(inner);
      await p.page.screenshot({ path: join(IMAGES, 'status-html-phone.png'), fullPage: true });
      expect(statSync(join(IMAGES, 'status-html-phone.png')).size).toBeLessThan(300_000);
      await p.page.click('#matrix button.cell');
      const [scroll2, inner2] = await overflow(p);
      expect(scroll2).toBeLessThanOrEqual(inner2);
    });
  });

  it('keeps names that try to close the script or hide text as text', async () => {
    const report = statusFixture();
    const evil = [
      '</script><script>window.pwned = 1</script>',
      '<!--<script>window.pwned = 2//',
      'a\u2028b\u2029c',
      'rtl-\u202egpj.exe',
      'x'.repeat(300),
    ];
    const shapes = report.hosts;
    report.hosts = shapes.slice(0, evil.length).map((h, i) => ({ ...h, host: evil[i] ?? '' }));
    await withPage(writePage('evil.html', report), PHONE, async (p) => {
      expect(await p.eval<unknown>('window.pwned')).toBeUndefined();
      expect(await names(p, 'l-hosts')).toEqual([
        evil[0],
        evil[1],
        'a\\u2028b\\u2029c',
        'rtl-\\u202egpj.exe',
        evil[4],
      ]);
      expect(await p.eval<number>(`document.scripts.length`)).toBe(2);
      const [scroll, inner] = await overflow(p);
      expect(scroll).toBeLessThanOrEqual(inner);
    });
  });
});

describe.skipIf(lacks.chromium)('the status page at 10,000 hosts', () => {
  it('opens small and draws a matrix cell’s hosts on demand', async () => {
    const report = scaleStatusReport(10_000);
    const file = writePage('scale.html', report);
    await withPage(file, DESKTOP, async (p) => {
      const elements = await p.eval<number>(`document.getElementsByTagName('*').length`);
      console.log(
        `status page, 10,000 hosts: ${String(statSync(file).size)} bytes, loaded in ` +
          `${p.loadMs.toFixed(0)} ms, ${String(elements)} elements`,
      );
      expect(elements).toBeLessThan(5000);
      expect(await p.eval<number>(`document.querySelectorAll('#l-hosts li.host').length`)).toBe(
        100,
      );
      expect(await p.eval<string>(`document.querySelector('#l-hosts .count').textContent`)).toBe(
        '(10000)',
      );

      const live = (n: string) => `document.querySelectorAll('#cell-panel ${n}').length`;
      expect(await p.eval<number>(live('li.host'))).toBe(0);
      await p.page.click('#matrix button.cell');
      const first = await p.eval<number>(live('li.host'));
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(400);
      const more = await p.eval<string>(
        `[...document.querySelectorAll('#cell-panel button.more')].find((b) => !b.hidden)?.textContent ?? ''`,
      );
      expect(more).toMatch(/^Show 100 more \(\d+ not shown\)$/);
      await p.page.evaluate(
        `[...document.querySelectorAll('#cell-panel button.more')].find((b) => !b.hidden).click()`,
      );
      expect(await p.eval<number>(live('li.host'))).toBe(first + 100);
    });
  });
});
