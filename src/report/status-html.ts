/**
 * `kpfleet status --format html`: the status report as one self-contained HTML page, to open
 * from disk or attach to a CI run. Nothing is fetched (no server, fonts, images or scripts from
 * elsewhere): the style and script are inline, allowed by their SHA-256 hashes in a strict
 * Content-Security-Policy (`default-src 'none'`, Trusted Types required), and the report is
 * embedded as JSON that the script draws with DOM calls and textContent only.
 *
 * Host text is hostile: every string is first made visible-safe (safeData: controls, bidi
 * overrides and invisible characters shown as escapes), then the JSON has `<`, `>`, `&`, U+2028
 * and U+2029 written as \u escapes, so no host name can close the script element or become
 * markup. The page's markup itself holds no report data.
 */
import { sha256Base64 } from '../util/hash.ts';
import type { StatusReport } from '../status/model.ts';
import { PROSE_KEYS, safeData } from './safe-text.ts';
import { STATUS_HTML_SCRIPT } from './status-html-script.ts';
import { STATUS_HTML_STYLE } from './status-html-style.ts';

const SCRIPT_ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** JSON safe inside a `<script>` element: no `</script>`, `<!--` or line separator survives. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => SCRIPT_ESCAPES[c] ?? c);
}

/** The CSP source for an inline element's exact text. */
function hashSource(text: string): string {
  return `'sha256-${sha256Base64(text)}'`;
}

/** The page's policy: nothing but this script and this style, no fetches, no forms, no base. */
export function statusHtmlPolicy(): string {
  return [
    "default-src 'none'",
    `script-src ${hashSource(STATUS_HTML_SCRIPT)}`,
    `style-src ${hashSource(STATUS_HTML_STYLE)}`,
    "base-uri 'none'",
    "form-action 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

const LEGEND = `<details><summary>What the words mean</summary><ul>
<li>✓ protected: every CVE the host's groups declare is mitigated by a live patch.</li>
<li>✗ exposed: at least one declared CVE is not mitigated (a patch not live yet, or blocked).</li>
<li>⚠ uncovered: patches are declared, but none fits the running kernel.</li>
<li>– none: nothing is declared loaded for the host.</li>
<li>? unreachable, ! error: the host was not reached, or its facts could not be read; its coverage is unknown.</li>
<li>Matrix cells: ✓ live, ✗ not live (fits the kernel, not loaded), ⚠ unfit (not built for the running kernel), ? unknown.</li>
<li>↻ reboot due: a live patch is past its support window.</li>
</ul></details>`;

function filter(name: string, label: string, all: string): string {
  return `<label for="f-${name}">${label}<select id="f-${name}"><option value="">${all}</option></select></label>`;
}

function list(id: string, title: string, note: string): string {
  return `<section id="${id}" aria-labelledby="${id}-h"><h2 id="${id}-h">${title} <span class="count"></span></h2>
<p class="note">${note}</p><ul class="hosts"></ul><button class="more" type="button" hidden></button></section>`;
}

/** The page: static markup with empty containers, the report as JSON, and the script. */
export function renderStatusHtml(report: StatusReport): string {
  const data = jsonForScript(safeData(report, PROSE_KEYS));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${statusHtmlPolicy()}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kpfleet status</title>
<style>${STATUS_HTML_STYLE}</style>
</head>
<body>
<main>
<header><h1>kpfleet status</h1><p class="meta" id="meta"></p><ul class="totals" id="totals" aria-label="Totals"></ul>${LEGEND}</header>
<noscript><p>This page draws the report with JavaScript. The report itself is the JSON in this file's element with id "kpfleet-status".</p></noscript>
<div class="filters" id="filters" role="search" aria-label="Filters">
${filter('group', 'Group', 'All groups')}
${filter('cve', 'CVE', 'All CVEs')}
${filter('state', 'State', 'All states')}
</div>
<p class="note" id="filter-note" aria-live="polite"></p>
<section aria-labelledby="matrix-h"><h2 id="matrix-h">Fleet coverage: groups × declared patches</h2>
<p class="note">Hosts of each group by what the patch is on them; open a cell for its hosts.</p>
<div class="wrap"><table class="matrix cards" id="matrix"></table></div>
<div class="panel" id="cell-panel" hidden></div></section>
<section aria-labelledby="cves-h"><h2 id="cves-h">CVE coverage</h2><p class="note" id="cve-scope"></p>
<div class="wrap"><table class="cves cards" id="cves"></table></div></section>
${list('l-due', 'Reboot due', 'A live patch is past its support window: reboot into a fixed kernel.')}
${list('l-uncovered', 'Uncovered hosts', 'No declared patch fits the running kernel.')}
${list('l-exposed', 'Exposed hosts', 'Declared CVEs not mitigated on the host, and why.')}
${list('l-unreachable', 'Unreachable hosts', 'Not reached, or facts not read: coverage unknown.')}
${list('l-hosts', 'All hosts', 'Every host in the report.')}
</main>
<script type="application/json" id="kpfleet-status">${data}</script>
<script>${STATUS_HTML_SCRIPT}</script>
</body>
</html>
`;
}
