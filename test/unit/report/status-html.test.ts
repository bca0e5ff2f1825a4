/**
 * The status page's text (report/status-html.ts), without a browser: the embedded JSON cannot
 * close its script element and reads back as the report made visible-safe; the policy's hashes
 * are those of the inline script and style; nothing outside the JSON carries report data; the page
 * names no URL. test/integration/report/status-html.test.ts opens it in Chromium.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { safeData, PROSE_KEYS } from '../../../src/report/safe-text.ts';
import { jsonForScript, renderStatusHtml } from '../../../src/report/status-html.ts';
import { STATUS_HTML_STYLE } from '../../../src/report/status-html-style.ts';
import { statusFixture } from './status-fixture.ts';

/** WCAG 2 contrast ratio of two #rrggbb colours. */
function contrast(a: string, b: string): number {
  const lum = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (bl ?? 0);
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return ((hi ?? 0) + 0.05) / ((lo ?? 0) + 0.05);
}

const sha = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
const between = (html: string, open: string, close: string) => {
  const start = html.indexOf(open) + open.length;
  return html.slice(start, html.indexOf(close, start));
};

describe('renderStatusHtml', () => {
  const report = statusFixture();
  const [first, ...rest] = report.hosts;
  if (first === undefined) throw new Error('the fixture has hosts');
  report.hosts = [{ ...first, host: '</script><!--<script>\u2028\u2029&x\u202e' }, ...rest];
  const html = renderStatusHtml(report);
  const json = between(html, '<script type="application/json" id="kpfleet-status">', '</script>');

  it('embeds the report as JSON no host string can break out of', () => {
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(json)).toEqual(safeData(report, PROSE_KEYS));
    expect(html.match(/<script/g)).toHaveLength(2);
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    expect(jsonForScript({ a: '</script>&\u2028' })).toBe(
      '{"a":"\\u003c/script\\u003e\\u0026\\u2028"}',
    );
  });

  it('allows only its own inline script and style, by hash, and fetches nothing', () => {
    const policy = between(html, 'http-equiv="Content-Security-Policy" content="', '"');
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain(`script-src ${sha(between(html, '<script>', '</script>'))}`);
    expect(policy).toContain(`style-src ${sha(between(html, '<style>', '</style>'))}`);
    expect(policy).toContain("require-trusted-types-for 'script'");
    expect(policy).not.toMatch(/unsafe|\*/);
    const outside = html.replace(json, '');
    expect(outside).not.toMatch(/https?:|\bsrc=|\bhref=|@import|url\(/);
    expect(outside).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    for (const h of report.hosts.slice(1)) expect(outside).not.toContain(h.host);
  });

  it('colours each state with dark text on a light tint, contrast at least 7:1', () => {
    const pairs = [
      ...STATUS_HTML_STYLE.matchAll(/\{ color: (#[0-9a-f]{6}); background: (#[0-9a-f]{6}); \}/g),
    ];
    expect(pairs.length).toBeGreaterThanOrEqual(7);
    for (const [rule, fg, bg] of pairs)
      expect(contrast(fg ?? '', bg ?? ''), rule).toBeGreaterThanOrEqual(7);
  });

  it('is the same page for the same report', () => {
    expect(renderStatusHtml(statusFixture())).toBe(renderStatusHtml(statusFixture()));
  });
});
