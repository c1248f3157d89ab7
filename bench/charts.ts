/**
 * charts: renders SVG charts from the committed bench JSON (no new measurement): share bars baseline vs
 * policy (fairness, weighted), overhead vs quantum (quantum), and the high-priority latency CDF (priority).
 * Each chart is drawn only if its JSON exists.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const results = fileURLToPath(new URL('./results/', import.meta.url));
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
function bars(title: string, labels: string[], series: Array<{ name: string; values: number[] }>, max: number, unit: string): string {
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
function lines(title: string, series: Array<{ name: string; points: Array<[number, number]> }>, xLabel: string, yLabel: string, logX = false): string {
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
  if (y0 < 0) body += `<line x1="${left}" y1="${py(0)}" x2="${left + plotWidth}" y2="${py(0)}" stroke="#999" stroke-dasharray="4"/>`;
  for (let tick = 0; tick <= 4; tick++) {
    const y = y0 + ((y1 - y0) * tick) / 4;
    body += `<text x="${left - 6}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(1)}</text>`;
  }
  const xs = [...new Set(all.map((p) => p[0]))];
  const ticks = xs.length <= 12 ? xs : [0, 1, 2, 3, 4].map((k) => Number((Math.min(...xs) + ((Math.max(...xs) - Math.min(...xs)) * k) / 4).toFixed(1)));
  for (const x of ticks) body += `<text x="${px(x)}" y="${bottom + 16}" text-anchor="middle">${x}</text>`;
  body += `<text x="${left + plotWidth / 2}" y="${bottom + 34}" text-anchor="middle">${esc(xLabel)}</text><text x="16" y="${bottom - plotHeight / 2}" transform="rotate(-90 16 ${bottom - plotHeight / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
  series.forEach((s, k) => {
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    body += `<path d="${d}" fill="none" stroke="${colors[k % colors.length]}" stroke-width="2"/>`;
    body += `<rect x="${left + k * 200}" y="${height - 20}" width="12" height="12" fill="${colors[k % colors.length]}"/><text x="${left + 16 + k * 200}" y="${height - 10}">${esc(s.name)}</text>`;
  });
  return frame(width, height, title, body);
}

function load<T>(name: string): T | null {
  const path = join(results, `${name}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

function save(name: string, svg: string): void {
  writeFileSync(join(results, name), svg);
  console.log(`wrote bench/results/${name}`);
}

interface ShareJson {
  sessions: Array<{ name: string; target: number; shareBaseline: number; share: number }>;
}

export async function run(_options: { quick: boolean }) {
  for (const scenario of ['fairness', 'weighted']) {
    const json = load<ShareJson>(scenario);
    if (!json) continue;
    const labels = json.sessions.map((s) => s.name);
    save(
      `${scenario}-shares.svg`,
      bars(`${scenario}: device share per model (thread CPU time)`, labels, [
        { name: 'target', values: json.sessions.map((s) => s.target * 100) },
        { name: 'no arbiter', values: json.sessions.map((s) => s.shareBaseline * 100) },
        { name: scenario === 'fairness' ? 'fair' : 'weighted', values: json.sessions.map((s) => s.share * 100) },
      ], Math.max(40, ...json.sessions.map((s) => Math.max(s.share, s.shareBaseline, s.target) * 100 + 5)), '%'),
    );
  }
  for (const [scenario, label] of [['quantum', 'zoo models'], ['synthetic', 'synthetic kernels']] as const) {
    const json = load<{ rows?: Array<{ quantumMs: number; overheadPct: number }>; quanta?: Array<{ quantumMs: number; overheadPct: number }> }>(scenario);
    const rows = json?.rows ?? json?.quanta;
    if (!rows) continue;
    save(`${scenario}-overhead.svg`, lines(`${scenario}: overhead vs quantum (${label})`, [{ name: 'overheadPct (median)', points: rows.map((r) => [r.quantumMs, r.overheadPct]) }], 'quantum (ms)', 'overhead (%)', true));
  }
  const priority = load<{ cdf?: Record<string, Array<[number, number]>> }>('priority');
  if (priority?.cdf) {
    save('priority-cdf.svg', lines('priority: high-priority latency CDF', Object.entries(priority.cdf).map(([name, points]) => ({ name, points })), 'latency (ms)', 'fraction of requests'));
  }
}
