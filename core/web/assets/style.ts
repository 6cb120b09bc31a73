/**
 * The web page's stylesheet: system fonts (nothing to download), light and dark colours from the
 * user's preference, tabular figures for numbers, one column below 720 px. Every box that is on
 * screen before the data arrives has its final size (stat cards, the flame graph box, status
 * lines of one line), and scrollbars have their room reserved, so loading moves nothing.
 *
 * @module
 */

/** The stylesheet, served as `autopgo.css`. */
export const STYLE = String.raw`
:root {
  --bg: #f5f6f8; --card: #ffffff; --line: #e2e5ea; --text: #1b1f24; --muted: #5d6672; --faint: #8a929c;
  --accent: #2563c9; --accent-bg: #e8f0fd; --good: #1d7a46; --good-bg: #e3f4ea; --bad: #b3261e; --bad-bg: #fbe9e7;
  --match: #9b4dd6; --skeleton: #eceef2; --shadow: 0 1px 2px rgba(16, 24, 40, .05);
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "DejaVu Sans", sans-serif;
  --mono: ui-monospace, "SF Mono", SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #111418; --card: #181c21; --line: #2a3038; --text: #e6e9ed; --muted: #a3acb7; --faint: #76808b;
    --accent: #7aa7ff; --accent-bg: #1d2a40; --good: #6fd39b; --good-bg: #16301f; --bad: #ff8a80; --bad-bg: #3a1d1b;
    --match: #c38bff; --skeleton: #232830; --shadow: none;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; scrollbar-gutter: stable; }
body { margin: 0; background: var(--bg); color: var(--text); font: 15px/1.5 var(--sans); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code { font: 0.9em var(--mono); }
h1, h2 { margin: 0; font-weight: 650; letter-spacing: -0.01em; }
h1 { font-size: 26px; line-height: 34px; }
h2 { font-size: 16px; line-height: 24px; }
button, input { font: inherit; color: inherit; }
button {
  height: 32px; padding: 0 12px; border-radius: 7px; border: 1px solid var(--line); background: var(--card);
  cursor: pointer; white-space: nowrap;
}
button:hover:not(:disabled) { border-color: var(--faint); }
button:disabled { opacity: 0.45; cursor: default; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.ghost { background: transparent; }
[hidden] { display: none !important; }

.bar {
  display: flex; align-items: center; gap: 14px; height: 52px; padding: 0 24px;
  background: var(--card); border-bottom: 1px solid var(--line);
}
.brand { display: flex; align-items: center; gap: 8px; font-weight: 700; font-size: 17px; color: var(--text); }
.brand:hover { text-decoration: none; }
.tagline { color: var(--muted); font-size: 13px; flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.wrap { max-width: 1240px; margin: 0 auto; padding: 22px 24px 48px; }
.crumbs { display: flex; gap: 8px; color: var(--muted); font-size: 13px; height: 20px; }
.crumbs span:last-child { color: var(--text); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.heading { margin: 6px 0 18px; }
.app-name { overflow-wrap: anywhere; }
.status { margin: 2px 0 0; height: 22px; color: var(--muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.status.error { color: var(--bad); }
.muted { color: var(--muted); }

.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 12px; box-shadow: var(--shadow);
  padding: 16px 18px; margin-bottom: 18px;
}
.card-head { display: flex; align-items: baseline; gap: 12px; margin-bottom: 10px; }
.card-head .muted { font-size: 13px; flex: 1 1 0; min-width: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.card p.lead { margin: 0 0 12px; color: var(--muted); font-size: 14px; }

.stats { display: grid; grid-template-columns: repeat(7, minmax(0, 1fr)); gap: 12px; margin-bottom: 18px; }
.stat {
  background: var(--card); border: 1px solid var(--line); border-radius: 12px; box-shadow: var(--shadow);
  padding: 10px 14px; height: 68px; display: flex; flex-direction: column; justify-content: center; min-width: 0;
}
.stat .label { color: var(--muted); font-size: 12px; line-height: 18px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.stat .value {
  font-size: 18px; line-height: 26px; font-weight: 600; font-variant-numeric: tabular-nums;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.stat .value.good { color: var(--good); }
.stat .value.bad { color: var(--bad); }

table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th {
  text-align: left; font-size: 11.5px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.04em;
  color: var(--muted); padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap;
}
td { padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: baseline; }
tr:last-child td { border-bottom: none; }
.num { text-align: right; white-space: nowrap; }
td.fn { font: 12.5px/1.45 var(--mono); overflow-wrap: break-word; min-width: 14ch; }
td.off { font: 12.5px/1.45 var(--mono); color: var(--muted); white-space: nowrap; }
td.more { text-align: center; }
td.more button { height: 28px; font-size: 13px; color: var(--muted); }
.table-wrap { overflow-x: auto; margin: 0 -10px; }
.apps { table-layout: fixed; }
.apps th:first-child { width: 40%; }
.apps td { overflow: hidden; text-overflow: ellipsis; }
.apps td:first-child { font-weight: 600; }
.apps tbody tr { height: 45px; }
.apps .muted-cell { color: var(--faint); }
.empty { color: var(--muted); padding: 18px 10px 8px; }
.empty code { display: block; margin-top: 8px; padding: 10px 12px; background: var(--bg); border-radius: 8px; overflow-x: auto; white-space: pre; }

.toolbar { display: flex; align-items: center; gap: 10px; margin-bottom: 10px; }
.toolbar input {
  flex: 0 1 340px; min-width: 0; height: 32px; padding: 0 10px; border-radius: 7px; border: 1px solid var(--line);
  background: var(--bg);
}
.toolbar input:focus { outline: 2px solid var(--accent-bg); border-color: var(--accent); }
.matches { flex: 1; color: var(--muted); font-size: 13px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.flame {
  position: relative; height: clamp(240px, 44vh, 500px); overflow: auto; border: 1px solid var(--line);
  border-radius: 8px; background: var(--bg); overscroll-behavior: contain; scrollbar-gutter: stable;
}
.flame svg { display: block; font: 11.5px var(--mono); }
.flame .fr { cursor: pointer; }
.flame .fr rect { stroke: var(--card); stroke-width: 0.5; }
.flame .fr text { fill: #1b1f24; pointer-events: none; }
.flame .fr.dim rect { opacity: 0.28; }
.flame .fr.dim text { opacity: 0.45; }
.flame .fr.match rect { fill: var(--match); }
.flame .fr.match text { fill: #fff; }
.flame .fr.above rect { opacity: 0.55; }
.flame .fr:hover rect { stroke: var(--text); stroke-width: 1; }
.flame .placeholder, .flame .note {
  position: absolute; left: 0; right: 0; padding: 0 18px; text-align: center; color: var(--muted); font-size: 13.5px;
}
.flame .placeholder { top: 45%; }
.flame .note { bottom: 14px; }
.details {
  margin-top: 10px; height: 42px; font-size: 13px; line-height: 21px; color: var(--muted); overflow: hidden;
}
.details .name { display: block; font-family: var(--mono); color: var(--text); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }

.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 18px; }
.grid2 > .card { margin-bottom: 0; }
.section { margin-bottom: 18px; }
.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 4px 18px; margin: 0 0 16px; font-size: 14px; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12.5px; font-weight: 600; }
.badge.good { background: var(--good-bg); color: var(--good); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.tables { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 18px; }
.tables h3 { margin: 0 0 6px; font-size: 13.5px; font-weight: 600; }

dialog {
  border: 1px solid var(--line); border-radius: 12px; background: var(--card); color: var(--text);
  padding: 20px 22px; width: min(440px, calc(100vw - 32px));
}
dialog::backdrop { background: rgba(15, 20, 30, 0.45); }
dialog p { color: var(--muted); font-size: 14px; margin: 8px 0 14px; }
dialog code { white-space: nowrap; }
dialog label { display: block; font-size: 13px; font-weight: 600; margin-bottom: 4px; }
dialog input { width: 100%; height: 36px; padding: 0 10px; border: 1px solid var(--line); border-radius: 7px; background: var(--bg); }
dialog .error { color: var(--bad); min-height: 21px; margin: 6px 0 8px; }
dialog .actions { display: flex; justify-content: flex-end; gap: 8px; }

@media (max-width: 1100px) {
  .stats { grid-template-columns: repeat(4, minmax(0, 1fr)); }
}
@media (max-width: 720px) {
  body { font-size: 14.5px; }
  .bar { padding: 0 14px; gap: 10px; }
  .tagline { display: none; }
  #token-button { margin-left: auto; }
  .wrap { padding: 14px 14px 36px; }
  h1 { font-size: 22px; line-height: 30px; }
  .card { padding: 14px 12px; border-radius: 10px; }
  .stats { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 10px; }
  .stat { height: 62px; padding: 8px 12px; }
  .stat:last-child { grid-column: span 2; }
  .stat .value { font-size: 16.5px; }
  .grid2, .tables { grid-template-columns: minmax(0, 1fr); }
  .grid2 > .card { margin-bottom: 0; }
  .opt { display: none; }
  .toolbar input { flex: 1 1 auto; }
  .matches { display: none; }
  th, td { padding-left: 6px; padding-right: 6px; }
  .table-wrap { margin: 0 -6px; }
  .apps thead { display: none; }
  .edges thead { display: none; }
  .edges tbody tr {
    display: grid; grid-template-columns: repeat(3, max-content) 1fr; column-gap: 12px; padding: 8px 0;
    border-bottom: 1px solid var(--line);
  }
  .edges tbody tr:last-child { border-bottom: none; }
  .edges td { border: none; padding: 0 6px; text-align: left; }
  .edges td.num::before { content: attr(data-label) " "; color: var(--faint); font-size: 12px; }
  .edges td.fn, .edges td.more { grid-column: 1 / -1; }
  .edges td.off { display: none; }
  .edges td.callee::before { content: "\2192  "; color: var(--faint); }
  .apps tbody tr { display: grid; grid-template-columns: 1fr auto; height: auto; border-bottom: 1px solid var(--line); padding: 8px 0; }
  .apps tbody tr:last-child { border-bottom: none; }
  .apps td { border: none; padding: 0 6px; }
  .apps td:nth-child(2) { text-align: right; }
  .apps td:nth-child(3), .apps td:nth-child(4) { color: var(--muted); font-size: 13px; text-align: left; }
  .apps td:nth-child(4) { text-align: right; }
}
`;
