/**
 * The HTML report (--html FILE): one self-contained page, no scripts, charts drawn here as
 * inline SVG: latency by percentile (HdrHistogram style, log scale towards the tail),
 * throughput over time, latency over time; then the figures of the JSON report.
 */
import { responseName } from '../../protocol/index.js';
import type { LoadReport } from './report.js';

interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
}

interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  xTicks?: readonly { x: number; label: string }[];
}

const W = 760;
const H = 320;
const M = { left: 64, right: 150, top: 34, bottom: 46 };

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round numbers for an axis from 0 to at least `max`. */
function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 0.999; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  return ticks;
}

function fmt(n: number): string {
  return Math.abs(n) >= 100 ? String(Math.round(n)) : String(Math.round(n * 100) / 100);
}

export function lineChart(c: Chart): string {
  const pts = c.series.flatMap((s) => s.points);
  const xs = pts.map((p) => p[0]);
  const xMin = c.xTicks ? Math.min(...c.xTicks.map((t) => t.x), ...xs) : Math.min(0, ...xs);
  const xMax = Math.max(xMin + 1e-9, ...xs, ...(c.xTicks?.map((t) => t.x) ?? []));
  const yTicks = niceTicks(Math.max(0, ...pts.map((p) => p[1])));
  const yMax = yTicks[yTicks.length - 1];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const X = (x: number): number => M.left + ((x - xMin) / (xMax - xMin || 1)) * pw;
  const Y = (y: number): number => M.top + ph - (y / (yMax || 1)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12" fill="#1f2328" role="img" aria-label="${escapeHtml(c.title)}">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${M.left}" y="20" font-size="14" font-weight="600">${escapeHtml(c.title)}</text>`);
  for (const y of yTicks) {
    out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#eaeef2"/>`);
    out.push(`<text x="${M.left - 6}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end">${fmt(y)}</text>`);
  }
  const xTicks = c.xTicks ?? niceTicks(xMax).map((x) => ({ x, label: fmt(x) }));
  for (const t of xTicks) {
    if (t.x < xMin || t.x > xMax + 1e-9) continue;
    out.push(`<line x1="${X(t.x).toFixed(1)}" x2="${X(t.x).toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" stroke="#eaeef2"/>`);
    out.push(`<text x="${X(t.x).toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle">${escapeHtml(t.label)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#8c959f"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(c.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(c.yLabel)}</text>`);
  c.series.forEach((s, i) => {
    if (s.points.length > 0) {
      const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    }
    const ly = M.top + 8 + i * 18;
    out.push(`<line x1="${W - M.right + 12}" x2="${W - M.right + 32}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${W - M.right + 38}" y="${ly + 4}">${escapeHtml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** x of a percentile on a "number of nines" axis: 0% -> 0, 90% -> 1, 99% -> 2, 99.9% -> 3. */
function nines(p: number): number {
  return p >= 100 ? NaN : Math.log10(100 / (100 - p));
}

export function percentileChart(r: LoadReport): string {
  const finite = r.percentiles.filter((p) => p.percentile < 100);
  const last = finite.length ? nines(finite[finite.length - 1].percentile) : 0;
  const maxX = Math.ceil(last + 0.25);
  const points = r.percentiles.map((p) => [p.percentile >= 100 ? maxX : nines(p.percentile), p.ms] as const);
  const ticks = [0, 1, 2, 3, 4, 5]
    .filter((x) => x < maxX)
    .map((x) => ({ x, label: x === 0 ? '0%' : `${(100 - 100 / 10 ** x).toFixed(Math.max(0, x - 2))}%` }))
    .concat([{ x: maxX, label: 'max' }]);
  return lineChart({ title: 'Latency by percentile (from the intended send time)', xLabel: 'percentile', yLabel: 'latency (ms)', series: [{ name: 'latency', color: '#1f6feb', points }], xTicks: ticks });
}

export function throughputChart(r: LoadReport): string {
  const s = r.series;
  return lineChart({
    title: 'Throughput over time',
    xLabel: 'time (s)',
    yLabel: 'messages per second',
    series: [
      { name: 'target (tx/s)', color: '#888888', points: s.map((p) => [p.t, p.targetRate] as const), dashed: true },
      { name: 'sent', color: '#1f6feb', points: s.map((p) => [p.t, p.sent] as const) },
      { name: 'answered', color: '#2da44e', points: s.map((p) => [p.t, p.answered] as const) },
      { name: 'approved', color: '#8250df', points: s.map((p) => [p.t, p.approved] as const) },
      { name: 'errors', color: '#cf222e', points: s.map((p) => [p.t, p.errors] as const) },
    ],
  });
}

export function latencyChart(r: LoadReport): string {
  const s = r.series;
  return lineChart({
    title: 'Latency over time',
    xLabel: 'time (s)',
    yLabel: 'latency (ms)',
    series: [
      { name: 'p50', color: '#2da44e', points: s.map((p) => [p.t, p.p50Ms] as const) },
      { name: 'p99', color: '#bf8700', points: s.map((p) => [p.t, p.p99Ms] as const) },
      { name: 'max', color: '#cf222e', points: s.map((p) => [p.t, p.maxMs] as const) },
    ],
  });
}

function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(String(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

export function htmlReport(r: LoadReport): string {
  const t = r.target;
  const l = r.latencyMs;
  const rate = t.rate.from === t.rate.to ? `${t.rate.from}/s` : `ramp ${t.rate.from}/s to ${t.rate.to}/s`;
  const types = Object.entries(r.byType)
    .filter(([, c]) => c.sent > 0)
    .map(([name, c]) => [name, c.sent, c.answered, c.approved, c.answered - c.approved, c.timeouts, c.lost]);
  types.push(['total', r.sent, r.answered, r.approved, r.declined, r.timeouts, r.lost]);
  const codes = Object.entries(r.byCode)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([c, n]) => [c, responseName(c) ?? 'unknown', n]);
  const slo = r.slo
    ? `<h2>SLO: ${r.slo.ok ? '<span class="ok">met</span>' : '<span class="bad">missed</span>'}</h2>\n${table(['rule', 'actual', ''], r.slo.checks.map((c) => [c.rule, c.actual, c.ok ? 'ok' : 'MISSED']))}`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>terminal-sim load report ${escapeHtml(r.startedAt)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.chart { display: block; margin: 12px 0; }
.ok { color: #1a7f37; } .bad { color: #cf222e; } .note { color: #57606a; }
</style>
</head>
<body>
<h1>terminal-sim load report</h1>
<p>${escapeHtml(`${t.host}:${t.port} ${t.framing}/${t.spec} — ${t.terminals} terminals on ${t.connections} connections — ${rate} for ${t.durationSeconds} s — started ${r.startedAt}, ${r.elapsedSeconds} s`)}</p>
<p><b>${r.throughput.answeredPerSecond}</b> answered/s (${r.achievedPercent}% of the target), <b>${r.throughput.approvedPerSecond}</b> approved/s —
latency ms p50 <b>${l.p50Ms}</b>, p90 ${l.p90Ms}, p99 <b>${l.p99Ms}</b>, p99.9 ${l.p99_9Ms}, max ${l.maxMs} — errors <b>${r.errors}</b></p>
${slo}
${percentileChart(r)}
${throughputChart(r)}
${latencyChart(r)}
<h2>Messages</h2>
${table(['type', 'sent', 'answered', 'approved', 'declined', 'timeouts', 'lost'], types)}
<h2>Answers by response code</h2>
${table(['code', 'meaning', 'count'], codes)}
<h2>Latency percentiles (ms)</h2>
${table(['percentile', 'ms'], r.percentiles.map((p) => [p.percentile, p.ms]))}
<p class="note">${escapeHtml(r.errorDefinition)}. Latency is measured from each message's intended send time (open loop); a timed-out message is recorded at the timeout.</p>
</body>
</html>
`;
}
