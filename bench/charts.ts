/**
 * charts: renders SVG charts from the committed bench JSON (no new measurement): share bars baseline vs
 * policy (fairness, weighted), overhead vs quantum (quantum), the high-priority latency CDF (priority) and
 * the token timeline (timeline). Each chart is drawn only if its JSON exists; `--quick` and `--backend` pick
 * the results directory the same way the scenarios write it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultsDir, type BenchOptions } from './lib/report.js';
const colors = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function frame(width: number, height: number, title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>
${body}
</svg>
`;
}

/** Grouped bars: for each label, one bar per series (values 0..max). */
function bars(
  title: string,
  labels: string[],
  series: Array<{ name: string; values: number[] }>,
  max: number,
  unit: string,
): string {
  const width = 720;
  const height = 360;
  const left = 60;
  const bottom = 300;
  const plotHeight = 250;
  const group = (width - left - 20) / labels.length;
  const barWidth = (group - 16) / series.length;
  let body = `<line x1="${left}" y1="${bottom}" x2="${width - 20}" y2="${bottom}" stroke="black"/>`;
  for (let tick = 0; tick <= 4; tick++) {
    const y = bottom - (plotHeight * tick) / 4;
    body += `<line x1="${left}" y1="${y}" x2="${width - 20}" y2="${y}" stroke="#ddd"/><text x="${left - 6}" y="${y + 4}" text-anchor="end">${((max * tick) / 4).toFixed(unit === '%' ? 0 : 2)}${unit}</text>`;
  }
  labels.forEach((label, i) => {
    series.forEach((s, k) => {
      const h = (Math.max(0, s.values[i]) / max) * plotHeight;
      const x = left + i * group + 8 + k * barWidth;
      body += `<rect x="${x}" y="${bottom - h}" width="${barWidth - 2}" height="${h}" fill="${colors[k % colors.length]}"><title>${esc(`${s.name} ${label}: ${s.values[i].toFixed(3)}`)}</title></rect>`;
    });
    body += `<text x="${left + i * group + group / 2}" y="${bottom + 16}" text-anchor="middle">${esc(label)}</text>`;
  });
  series.forEach((s, k) => {
    body += `<rect x="${left + k * 170}" y="${height - 28}" width="12" height="12" fill="${colors[k % colors.length]}"/><text x="${left + 16 + k * 170}" y="${height - 18}">${esc(s.name)}</text>`;
  });
  return frame(width, height, title, body);
}

/** A line chart of (x, y) series with a log x axis when asked. */
function lines(
  title: string,
  series: Array<{ name: string; points: Array<[number, number]> }>,
  xLabel: string,
  yLabel: string,
  logX = false,
): string {
  const width = 720;
  const height = 360;
  const left = 70;
  const bottom = 300;
  const plotWidth = width - left - 30;
  const plotHeight = 250;
  const all = series.flatMap((s) => s.points);
  const fx = (x: number) => (logX ? Math.log10(x) : x);
  const [x0, x1] = [Math.min(...all.map((p) => fx(p[0]))), Math.max(...all.map((p) => fx(p[0])))];
  const [y0, y1] = [Math.min(0, ...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  const px = (x: number) => left + ((fx(x) - x0) / (x1 - x0 || 1)) * plotWidth;
  const py = (y: number) => bottom - ((y - y0) / (y1 - y0 || 1)) * plotHeight;
  let body = `<line x1="${left}" y1="${bottom}" x2="${left + plotWidth}" y2="${bottom}" stroke="black"/><line x1="${left}" y1="${bottom}" x2="${left}" y2="${bottom - plotHeight}" stroke="black"/>`;
  if (y0 < 0)
    body += `<line x1="${left}" y1="${py(0)}" x2="${left + plotWidth}" y2="${py(0)}" stroke="#999" stroke-dasharray="4"/>`;
  for (let tick = 0; tick <= 4; tick++) {
    const y = y0 + ((y1 - y0) * tick) / 4;
    body += `<text x="${left - 6}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(1)}</text>`;
  }
  const xs = [...new Set(all.map((p) => p[0]))];
  const ticks =
    xs.length <= 12
      ? xs
      : [0, 1, 2, 3, 4].map((k) =>
          Number((Math.min(...xs) + ((Math.max(...xs) - Math.min(...xs)) * k) / 4).toFixed(1)),
        );
  for (const x of ticks) body += `<text x="${px(x)}" y="${bottom + 16}" text-anchor="middle">${x}</text>`;
  body += `<text x="${left + plotWidth / 2}" y="${bottom + 34}" text-anchor="middle">${esc(xLabel)}</text><text x="16" y="${bottom - plotHeight / 2}" transform="rotate(-90 16 ${bottom - plotHeight / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
  series.forEach((s, k) => {
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    body += `<path d="${d}" fill="none" stroke="${colors[k % colors.length]}" stroke-width="2"/>`;
    body += `<rect x="${left + k * 200}" y="${height - 20}" width="12" height="12" fill="${colors[k % colors.length]}"/><text x="${left + 16 + k * 200}" y="${height - 10}">${esc(s.name)}</text>`;
  });
  return frame(width, height, title, body);
}

function load<T>(dir: string, name: string): T | null {
  const path = join(dir, `${name}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

function save(dir: string, name: string, svg: string): void {
  writeFileSync(join(dir, name), svg);
  console.log(`wrote ${join(dir, name)}`);
}

interface TimelineJson {
  quantumMs: number;
  sessions: Array<{ name: string }>;
  chart: { spanMs: number; holds: Array<{ session: string; startMs: number; endMs: number }> };
}

/** One row per session, a bar wherever it held the token, over `chart.spanMs`. */
function timeline(title: string, json: TimelineJson): string {
  const width = 760;
  const left = 110;
  const right = 20;
  const rowHeight = 26;
  const top = 40;
  const names = json.sessions.map((s) => s.name);
  const height = top + names.length * rowHeight + 50;
  const plotWidth = width - left - right;
  const px = (ms: number) => left + (Math.min(Math.max(ms, 0), json.chart.spanMs) / json.chart.spanMs) * plotWidth;
  let body = '';
  names.forEach((name, row) => {
    const y = top + row * rowHeight;
    body += `<text x="${left - 8}" y="${y + rowHeight / 2 + 4}" text-anchor="end">${esc(name)}</text><line x1="${left}" y1="${y + rowHeight - 2}" x2="${width - right}" y2="${y + rowHeight - 2}" stroke="#eee"/>`;
    for (const hold of json.chart.holds.filter((h) => h.session === name)) {
      const x = px(hold.startMs);
      const w = Math.max(0.5, px(hold.endMs) - x);
      body += `<rect x="${x.toFixed(2)}" y="${y + 3}" width="${w.toFixed(2)}" height="${rowHeight - 8}" fill="${colors[row % colors.length]}"><title>${esc(`${name}: ${hold.startMs.toFixed(3)}–${hold.endMs.toFixed(3)} ms`)}</title></rect>`;
    }
  });
  const axisY = top + names.length * rowHeight + 4;
  body += `<line x1="${left}" y1="${axisY}" x2="${width - right}" y2="${axisY}" stroke="black"/>`;
  for (let ms = 0; ms <= json.chart.spanMs; ms += 10)
    body += `<text x="${px(ms)}" y="${axisY + 16}" text-anchor="middle">${ms}</text>`;
  body += `<text x="${left + plotWidth / 2}" y="${axisY + 34}" text-anchor="middle">time (ms)</text>`;
  return frame(width, height, title, body);
}

/** The timeline chart of the timeline scenario's JSON, beside it. */
export function renderTimeline(options: Pick<BenchOptions, 'quick' | 'backend'>): void {
  const dir = resultsDir(options);
  const json = load<TimelineJson>(dir, 'timeline');
  if (json)
    save(
      dir,
      'timeline.svg',
      timeline(`timeline: who held the device (fair, quantum ${json.quantumMs} ms, ${options.backend})`, json),
    );
}

interface ShareJson {
  sessions: Array<{ name: string; target: number; shareBaseline: number; share: number }>;
}

interface SloJson {
  cells: Array<{ load: number; policy: string; goodputPerS: number }>;
}

/** Goodput (answers within SLO per second) against offered load, one line per policy, beside slo.json. */
export function renderSlo(options: Pick<BenchOptions, 'quick' | 'backend'>): void {
  const dir = resultsDir(options);
  const json = load<SloJson>(dir, 'slo');
  if (!json) return;
  const names = [...new Set(json.cells.map((c) => c.policy))];
  const series = names.map((name) => ({
    name,
    points: json.cells.filter((c) => c.policy === name).map((c): [number, number] => [c.load, c.goodputPerS]),
  }));
  save(
    dir,
    'slo-goodput.svg',
    lines('slo: goodput vs offered load', series, 'offered load (× capacity)', 'answers within SLO / s'),
  );
}

export async function run(options: BenchOptions) {
  const dir = resultsDir(options);
  const measure = options.backend === 'wasm' ? 'thread CPU time' : 'GPU time';
  for (const scenario of ['fairness', 'weighted']) {
    const json = load<ShareJson>(dir, scenario);
    if (!json) continue;
    const labels = json.sessions.map((s) => s.name);
    save(
      dir,
      `${scenario}-shares.svg`,
      bars(
        `${scenario}: device share per model (${measure})`,
        labels,
        [
          { name: 'target', values: json.sessions.map((s) => s.target * 100) },
          { name: 'no arbiter', values: json.sessions.map((s) => s.shareBaseline * 100) },
          { name: scenario === 'fairness' ? 'fair' : 'weighted', values: json.sessions.map((s) => s.share * 100) },
        ],
        Math.max(40, ...json.sessions.map((s) => Math.max(s.share, s.shareBaseline, s.target) * 100 + 5)),
        '%',
      ),
    );
  }
  for (const [scenario, label] of [
    ['quantum', 'zoo models'],
    ['synthetic', 'synthetic kernels'],
  ] as const) {
    type Row = { quantumMs: number; overheadPct: number; gateMode?: string };
    const json = load<{ rows?: Row[]; quanta?: Row[] }>(dir, scenario);
    const rows = json?.rows ?? json?.quanta;
    if (!rows) continue;
    // The webgpu synthetic bench has a row per quantum and gate mode: one line per mode.
    const modes = [...new Set(rows.map((r) => r.gateMode ?? ''))];
    const series = modes.map((mode) => ({
      name: mode ? `${mode}: overheadPct (median)` : 'overheadPct (median)',
      points: rows
        .filter((r) => (r.gateMode ?? '') === mode)
        .map((r): [number, number] => [r.quantumMs, r.overheadPct]),
    }));
    save(
      dir,
      `${scenario}-overhead.svg`,
      lines(`${scenario}: overhead vs quantum (${label})`, series, 'quantum (ms)', 'overhead (%)', true),
    );
  }
  const priority = load<{ cdf?: Record<string, Array<[number, number]>> }>(dir, 'priority');
  if (priority?.cdf) {
    save(
      dir,
      'priority-cdf.svg',
      lines(
        'priority: high-priority latency CDF',
        Object.entries(priority.cdf).map(([name, points]) => ({ name, points })),
        'latency (ms)',
        'fraction of requests',
      ),
    );
  }
  renderTimeline(options);
  renderSlo(options);
}
