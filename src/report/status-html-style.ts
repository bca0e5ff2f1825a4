/**
 * The status page's style sheet (report/status-html.ts inlines it, allowed by its hash in the
 * page's Content-Security-Policy). No fonts, images or anything else fetched. Every state has a
 * word and a symbol beside its colour; the colours are dark text on a light tint (contrast above
 * 7:1, test/unit/report/status-html.test.ts). Below ~600px the layout is one column and the matrix turns into cards, so nothing
 * overflows a phone's width; tap targets are at least 44px high.
 */
export const STATUS_HTML_STYLE = `
:root { color-scheme: light; --fg: #1a1a1a; --muted: #4a4a4a; --line: #c8c8c8; --bg: #fff;
  --panel: #f5f5f5; --focus: #0b4f9c; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; padding: 0 16px 32px; font: 15px/1.45 system-ui, "DejaVu Sans", sans-serif;
  color: var(--fg); background: var(--bg); overflow-wrap: anywhere; }
main { max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: 16px 0 4px; }
h2 { font-size: 1.15rem; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 1rem; margin: 12px 0 4px; }
p.meta, .note { color: var(--muted); margin: 4px 0; }
.name { font-family: "DejaVu Sans Mono", ui-monospace, monospace; unicode-bidi: isolate; }
.totals { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; padding: 0; list-style: none; }
.totals li { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; background: var(--panel); }
.totals strong { font-size: 1.1rem; margin-right: 4px; }
.badge { display: inline-block; border: 1px solid currentColor; border-radius: 4px;
  padding: 0 6px; margin-right: 6px; white-space: nowrap; font-size: 0.9rem; }
.s-protected, .c-live, .v-mitigated { color: #0b5a23; background: #e3f3e7; }
.s-exposed, .c-notLive, .v-exposed { color: #8f1010; background: #fde8e8; }
.s-uncovered, .c-unfit { color: #7a3f00; background: #fdf0dc; }
.s-none { color: #3d3d3d; background: #ececec; }
.s-unreachable, .c-unknown, .v-unknown { color: #4b2a86; background: #efe9fb; }
.s-error { color: #7a0a4b; background: #fbe6f1; }
.due { color: #7a3f00; background: #fdf0dc; }
.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; padding: 12px;
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  position: sticky; top: 0; z-index: 1; }
.filters label { display: flex; flex-direction: column; font-size: 0.9rem; min-width: 0; flex: 1 1 160px; }
select, button { font: inherit; min-height: 44px; border: 1px solid #767676; border-radius: 4px;
  background: #fff; color: var(--fg); padding: 4px 8px; max-width: 100%; }
button { cursor: pointer; }
button:focus-visible, select:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.wrap { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--panel); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.cell { width: 100%; text-align: left; display: flex; flex-wrap: wrap; gap: 4px; }
.cell[aria-expanded="true"] { outline: 2px solid var(--focus); }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 12px 0; background: var(--panel); }
ul.hosts { list-style: none; padding: 0; margin: 4px 0; }
ul.hosts li { padding: 6px 0; border-bottom: 1px solid #e2e2e2; }
ul.hosts .detail { display: block; white-space: pre-line; color: var(--muted); font-size: 0.9rem; }
.more { margin: 8px 0; }
@media (max-width: 600px) {
  body { padding: 0 10px 24px; font-size: 15px; }
  .filters { position: static; }
  table.cards, table.cards tbody, table.cards tr, table.cards td, table.cards th { display: block; width: 100%; }
  table.cards thead { display: none; }
  table.cards tr { margin-bottom: 12px; border: 1px solid var(--line); border-radius: 6px; }
  table.cards td, table.cards th { border: 0; border-top: 1px solid var(--line); }
  table.cards tr > :first-child { border-top: 0; }
  table.cards td::before { content: attr(data-label); display: block; font-weight: bold; }
  table.cards td.num { text-align: left; }
  table.cards td.nd { display: none; }
  table.cves td::before { display: inline-block; min-width: 9em; }
}
`;
