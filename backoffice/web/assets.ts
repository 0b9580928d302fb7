/**
 * What the pages load besides themselves: htmx from node_modules (no CDN, no build step) and
 * one small style sheet. Both are read once and served from memory.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

let htmx: string | undefined;

export function htmxScript(): string {
  return (htmx ??= readFileSync(require.resolve('htmx.org/dist/htmx.min.js'), 'utf8'));
}

export const APP_CSS = `
:root { --ink: #1d2433; --muted: #5b6478; --line: #d9dde6; --accent: #0b5fa5; --bad: #b42318; --ok: #067647; --warn: #b54708; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f7fa; }
header { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.2rem; background: #13294b; color: #fff; }
header a, header button.link { color: #fff; }
header .brand { font-weight: 700; letter-spacing: .02em; }
header .who { margin-left: auto; display: flex; gap: .8rem; align-items: center; font-size: .9rem; }
nav.menu ul { list-style: none; margin: 0; padding: 0; }
nav.menu > ul { display: flex; gap: 1.2rem; }
nav.menu li { position: relative; }
nav.menu li > span { cursor: default; font-weight: 600; }
nav.menu li ul { display: none; position: absolute; top: 100%; left: 0; min-width: 16rem; padding: .4rem 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; box-shadow: 0 6px 18px rgba(0,0,0,.12); z-index: 10; }
nav.menu li ul ul { position: static; display: block; border: 0; box-shadow: none; padding: 0 0 0 .8rem; }
nav.menu li:hover > ul, nav.menu li:focus-within > ul { display: block; }
nav.menu li ul a, nav.menu li ul span { display: block; padding: .3rem .8rem; color: var(--ink); text-decoration: none; }
nav.menu li ul a:hover { background: #eef3fb; }
main { max-width: 1100px; margin: 1.2rem auto; padding: 0 1.2rem; }
h1 { font-size: 1.5rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.4rem 0 .6rem; }
.crumbs { color: var(--muted); font-size: .9rem; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.2rem; margin-bottom: 1rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); gap: 1rem; }
form.stack { display: grid; gap: .8rem; max-width: 34rem; }
form.inline { display: flex; gap: .5rem; align-items: flex-end; flex-wrap: wrap; margin: .4rem 0; }
label { display: grid; gap: .2rem; font-weight: 600; font-size: .9rem; }
label.check { display: flex; gap: .5rem; align-items: center; }
input, select, button { font: inherit; padding: .4rem .55rem; border: 1px solid #b8bfcc; border-radius: 5px; background: #fff; }
input[readonly] { background: #f0f2f6; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; font-weight: 600; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
button.link { background: none; border: 0; padding: 0; text-decoration: underline; font-weight: 400; }
.field-error { color: var(--bad); font-size: .85rem; font-weight: 600; margin: 0; }
.flash { padding: .6rem .9rem; border-radius: 6px; margin-bottom: 1rem; }
.flash.ok { background: #ecfdf3; color: var(--ok); border: 1px solid #abefc6; }
.flash.bad { background: #fef3f2; color: var(--bad); border: 1px solid #fecdca; }
.secret { font: 700 1.3rem ui-monospace, monospace; letter-spacing: .08em; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 700; }
.badge.virtual { background: #e0eaff; color: #1d3a8a; }
.badge.virtualized { background: #fffaeb; color: var(--warn); border: 1px solid #fedf89; }
.badge.bad { background: #fef3f2; color: var(--bad); }
.badge.ok { background: #ecfdf3; color: var(--ok); }
table { width: 100%; border-collapse: collapse; background: #fff; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.pager { display: flex; gap: 1rem; margin: .6rem 0; }
.kpi { font-size: 2rem; font-weight: 700; }
svg.chart { width: 100%; height: auto; }
svg.chart rect.bar { fill: var(--accent); }
svg.chart text { font-size: 10px; fill: var(--muted); }
.muted { color: var(--muted); }
.signin { max-width: 24rem; margin: 4rem auto; }
`;
