/**
 * The status page's script (report/status-html.ts inlines it, allowed by its hash in the page's
 * Content-Security-Policy). Plain browser JavaScript, kept as text: it runs in the reader's
 * browser, not in Node. It reads the report from the page's JSON element and draws it with DOM
 * calls and textContent only, never innerHTML (the page also requires Trusted Types, so an
 * innerHTML with a string would throw). Host lists are drawn lazily, 100 rows at a time with a
 * "show more" button, and a matrix cell's hosts only when the cell is opened, so a report of
 * 10,000 hosts opens with a few thousand elements. Filters (group, CVE, state) redraw in place
 * and are kept in the URL's hash.
 */
export const STATUS_HTML_SCRIPT = `(() => {
'use strict';
const R = JSON.parse(document.getElementById('kpfleet-status').textContent);
const PAGE = 100;
const STATES = ['protected', 'exposed', 'uncovered', 'none', 'unreachable', 'error'];
const SYMBOL = { protected: '\\u2713', exposed: '\\u2717', uncovered: '\\u26a0', none: '\\u2013',
  unreachable: '?', error: '!' };
const CELLS = [['live', '\\u2713', 'live'], ['notLive', '\\u2717', 'not live'],
  ['unfit', '\\u26a0', 'unfit'], ['unknown', '?', 'unknown']];
const CVE_STATES = [['mitigated', '\\u2713'], ['exposed', '\\u2717'], ['unknown', '?']];
const WHY = { 'not-converged': 'a fitting patch is not live yet (apply loads it)',
  uncovered: 'no declared patch fits the running kernel', blocked: 'blocked',
  unreachable: 'host not reached', error: 'facts could not be read' };
const F = { group: '', cve: '', state: '' };
const $ = (id) => document.getElementById(id);
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function badge(state) {
  const known = has(SYMBOL, state);
  return el('span', 'badge ' + (known ? 's-' + state : 's-none'),
    (known ? SYMBOL[state] : '\\u2022') + ' ' + state);
}
function day(d) { return typeof d === 'string' && d ? d : 'none known'; }
const hosts = (n) => n + (n === 1 ? ' host' : ' hosts');
function when(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? String(iso) : new Date(t).toISOString().replace('T', ' ').replace(/\\.\\d+Z$/, ' UTC');
}
/** Days from the day the facts were read to d, in words. */
function fromRead(d) {
  const n = Math.round((Date.parse(d) - Date.parse(String(R.createdAt).slice(0, 10))) / 864e5);
  if (Number.isNaN(n)) return '';
  if (n === 0) return ' (the day the facts were read)';
  return n > 0 ? ' (' + n + ' days after the facts were read)' : ' (past: ' + -n + ' days before the facts were read)';
}

function header() {
  document.title = 'kpfleet status: ' + R.config;
  const parts = ['Facts read ' + when(R.createdAt), 'project ' + R.config, 'kpfleet ' + R.kpfleetVersion];
  if (R.limit) parts.push('--limit ' + R.limit);
  $('meta').textContent = parts.join(' \\u00b7 ');
  const t = $('totals');
  const total = (cls, n, label) => { const li = el('li', cls); li.append(el('strong', '', n), label); t.append(li); };
  total('', R.summary.hosts, 'hosts');
  for (const s of STATES) total('s-' + s, R.summary.states[s] || 0, SYMBOL[s] + ' ' + s);
  total('due', R.summary.rebootDue, '\\u21bb reboot due');
  total('', day(R.summary.coveredUntil), 'earliest covered until' + (R.summary.coveredUntil ? fromRead(R.summary.coveredUntil) : ''));
  const c = R.summary.cves || {};
  for (const [s, sym] of CVE_STATES) total('v-' + s, c[s] || 0, sym + ' CVE \\u00d7 host ' + s);
}

function passes(h, ignoreGroup) {
  return (ignoreGroup || !F.group || h.groups.includes(F.group)) &&
    (!F.state || h.state === F.state) &&
    (!F.cve || h.cves.some((c) => c.cve === F.cve));
}

/** Draws items into ul, PAGE at a time; the button shows the next page. */
function lazy(ul, more, items, make) {
  ul.replaceChildren();
  let shown = 0;
  const next = () => {
    const end = Math.min(items.length, shown + PAGE);
    const frag = document.createDocumentFragment();
    for (; shown < end; shown++) frag.append(make(items[shown]));
    ul.append(frag);
    const left = items.length - shown;
    more.hidden = left <= 0;
    more.textContent = 'Show ' + Math.min(PAGE, left) + ' more (' + left + ' not shown)';
  };
  more.onclick = next;
  next();
  if (items.length === 0) ul.append(el('li', 'note', 'No hosts.'));
}
function hostItem(h, detail) {
  const li = el('li', 'host');
  li.append(badge(h.state), el('span', 'name', h.host));
  if (h.rebootDue) li.append(' ', el('span', 'badge due', '\\u21bb reboot due'));
  const d = detail(h);
  if (d) li.append(el('span', 'detail', d));
  return li;
}
function exposedCves(h) {
  return h.cves.filter((c) => c.state === 'exposed' && (!F.cve || c.cve === F.cve));
}
const LISTS = [
  ['l-due', (h) => h.rebootDue, (h) => 'covered until ' + day(h.coveredUntil) +
    ': a live patch is past its support window; reboot into a fixed kernel' +
    (h.kernel ? ' (running ' + h.kernel + ')' : '')],
  ['l-uncovered', (h) => h.state === 'uncovered', (h) => 'kernel ' + day(h.kernel) + ': ' + h.reason],
  // a host exposed only by a declared patch without CVEs that is not live is listed too
  ['l-exposed', (h) => exposedCves(h).length > 0 || (!F.cve && h.state === 'exposed'), (h) =>
    exposedCves(h).length === 0 ? h.reason : exposedCves(h).map((c) =>
    c.cve + ': ' + (c.reason === 'blocked' ? 'blocked: ' + h.reason : WHY[c.reason] || c.reason || 'exposed')).join('; ')],
  ['l-unreachable', (h) => h.state === 'unreachable' || h.state === 'error', (h) =>
    h.error ? h.error.code + ': ' + h.error.message : h.reason],
  ['l-hosts', () => true, (h) => ['groups ' + h.groups.join(', '), 'kernel ' + day(h.kernel),
    'manager ' + (h.manager ? h.manager + ' (' + h.managerReason + ')' : '?'),
    'covered until ' + day(h.coveredUntil), h.reason].join(' \\u00b7 ')],
];
function lists() {
  for (const [id, pick, detail] of LISTS) {
    const sec = $(id);
    const all = R.hosts.filter(pick);
    const shown = all.filter((h) => passes(h, false));
    sec.querySelector('.count').textContent = shown.length === all.length
      ? '(' + all.length + ')' : '(' + shown.length + ' of ' + all.length + ', filtered)';
    lazy(sec.querySelector('ul'), sec.querySelector('button.more'), shown, (h) => hostItem(h, detail));
  }
}

function cvePatches(cve) {
  const c = R.cves.find((x) => x.cve === cve);
  return c ? c.patches : [];
}
function cellOf(h, patch) {
  const p = h.patches.find((x) => x.patch === patch);
  if (!p) return '';
  if (h.state === 'unreachable' || h.state === 'error') return 'unknown';
  return p.live ? 'live' : p.fits ? 'notLive' : 'unfit';
}
let openCell = '';
function matrix() {
  const table = $('matrix');
  table.replaceChildren();
  const cols = [];
  for (const g of R.groups) for (const p of g.patches) if (!cols.includes(p.patch)) cols.push(p.patch);
  const shownCols = F.cve ? cols.filter((p) => cvePatches(F.cve).includes(p)) : cols;
  const rows = R.groups.filter((g) => !F.group || g.group === F.group);
  const head = el('tr');
  head.append(el('th', '', 'Group'));
  for (const p of shownCols) head.append(el('th', 'name', p));
  table.appendChild(el('thead')).append(head);
  const body = table.appendChild(el('tbody'));
  let reopen = null;
  for (const g of rows) {
    const tr = body.appendChild(el('tr'));
    const th = tr.appendChild(el('th'));
    th.append(el('span', 'name', g.group), ' (' + hosts(g.hosts) + ')');
    for (const col of shownCols) {
      const td = tr.appendChild(el('td'));
      td.setAttribute('data-label', col);
      const p = g.patches.find((x) => x.patch === col);
      if (!p) { td.className = 'nd'; td.textContent = 'not declared'; continue; }
      const b = td.appendChild(el('button', 'cell'));
      b.type = 'button';
      b.setAttribute('aria-expanded', 'false');
      b.setAttribute('aria-controls', 'cell-panel');
      for (const [k, sym, word] of CELLS) if (p[k]) b.append(el('span', 'badge c-' + k, sym + ' ' + p[k] + ' ' + word));
      if (!CELLS.some(([k]) => p[k])) b.append('0 hosts');
      b.append(el('span', 'note', '(' + p.declared + ')'));
      const key = JSON.stringify([g.group, col]);
      b.onclick = () => {
        showCell(openCell === key ? null : [g, p, b, key]);
        if (openCell) $('cell-panel').scrollIntoView({ block: 'nearest' });
      };
      if (openCell === key) reopen = [g, p, b, key];
    }
  }
  if (rows.length === 0) body.appendChild(el('tr')).append(el('td', 'note', 'No group matches the filters.'));
  showCell(reopen);
}
function showCell(cell) {
  const panel = $('cell-panel');
  for (const b of $('matrix').querySelectorAll('button.cell')) b.setAttribute('aria-expanded', 'false');
  panel.replaceChildren();
  panel.hidden = !cell;
  openCell = cell ? cell[3] : '';
  if (!cell) return;
  const [g, p, b] = cell;
  b.setAttribute('aria-expanded', 'true');
  const h3 = panel.appendChild(el('h3'));
  h3.append(el('span', 'name', g.group), ' \\u00d7 ', el('span', 'name', p.patch));
  const close = panel.appendChild(el('button', '', 'Close'));
  close.type = 'button';
  close.onclick = () => showCell(null);
  const inGroup = R.hosts.filter((h) => h.groups.includes(g.group));
  for (const [k, sym, word] of CELLS) {
    const all = inGroup.filter((h) => cellOf(h, p.patch) === k);
    if (all.length === 0) continue;
    const shown = all.filter((h) => passes(h, true));
    panel.append(el('h3', 'c-' + k, sym + ' ' + word + ' (' +
      (shown.length === all.length ? all.length : shown.length + ' of ' + all.length + ', filtered') + ')'));
    const ul = panel.appendChild(el('ul', 'hosts'));
    const more = panel.appendChild(el('button', 'more'));
    more.type = 'button';
    lazy(ul, more, shown, (h) => hostItem(h, (x) => 'kernel ' + day(x.kernel)));
  }
}

function cveTable() {
  const table = $('cves');
  table.replaceChildren();
  let rows = R.cves;
  const scoped = Boolean(F.group || F.state);
  if (scoped) {
    const by = new Map(rows.map((c) => [c.cve, { cve: c.cve, patches: c.patches, mitigated: 0, exposed: 0, unknown: 0 }]));
    for (const h of R.hosts) {
      if (!passes(h, false)) continue;
      for (const c of h.cves) {
        const row = by.get(c.cve);
        if (!row || !CVE_STATES.some(([s]) => s === c.state)) continue;
        row[c.state]++;
        if (c.state === 'mitigated' && c.coveredUntil && (!row.coveredUntil || c.coveredUntil < row.coveredUntil)) row.coveredUntil = c.coveredUntil;
      }
    }
    rows = [...by.values()];
  }
  if (F.cve) rows = rows.filter((c) => c.cve === F.cve);
  $('cve-scope').textContent = scoped ? 'Counts for the hosts that match the group and state filters.' : 'Counts across the fleet.';
  const titles = ['CVE', 'Fixed by', '\\u2713 mitigated', '\\u2717 exposed', '? unknown', 'Covered until'];
  const head = el('tr');
  for (const t of titles) head.append(el('th', '', t));
  table.appendChild(el('thead')).append(head);
  const body = table.appendChild(el('tbody'));
  for (const c of rows) {
    const tr = body.appendChild(el('tr'));
    const cells = [el('th', 'name', c.cve), el('td', 'name', c.patches.join(', '))];
    for (const [s, sym] of CVE_STATES) cells.push(el('td', 'num' + (c[s] ? ' v-' + s : ''), c[s] ? sym + ' ' + c[s] : '0'));
    cells.push(el('td', '', day(c.coveredUntil)));
    cells.forEach((td, i) => { if (i > 0) td.setAttribute('data-label', titles[i]); tr.append(td); });
  }
  if (rows.length === 0) body.appendChild(el('tr')).append(el('td', 'note', 'No CVE matches the filters.'));
}

function options(id, values) {
  const s = $(id);
  for (const v of values) { const o = el('option', '', v); o.value = v; s.append(o); }
  s.onchange = () => { F[id.slice(2)] = s.value; saveHash(); draw(); };
}
function readHash() {
  const q = new URLSearchParams(location.hash.slice(1));
  for (const k of ['group', 'cve', 'state']) {
    const s = $('f-' + k);
    const v = q.get(k) || '';
    F[k] = [...s.options].some((o) => o.value === v) ? v : '';
    s.value = F[k];
  }
}
function saveHash() {
  const q = new URLSearchParams();
  for (const k of ['group', 'cve', 'state']) if (F[k]) q.set(k, F[k]);
  const h = q.toString();
  history.replaceState(null, '', h ? '#' + h : location.pathname + location.search);
}
function draw() {
  const on = ['group', 'cve', 'state'].filter((k) => F[k]);
  $('filter-note').textContent = on.length ? 'Filtered by ' + on.map((k) => k + ' ' + F[k]).join(', ') + '.' : '';
  matrix();
  cveTable();
  lists();
}

header();
const groups = new Set(R.groups.map((g) => g.group));
for (const h of R.hosts) for (const g of h.groups) groups.add(g);
options('f-group', groups);
options('f-cve', R.cves.map((c) => c.cve));
options('f-state', STATES);
readHash();
window.addEventListener('hashchange', () => { readHash(); draw(); });
draw();
document.documentElement.setAttribute('data-ready', 'true');
})();
`;
