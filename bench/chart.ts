// The fanout latency chart, as hand-written SVG: latency (y, log scale) against percentile (x, on a log
// scale of 1 / (1 - p) so the tail gets as much room as the median), one line per subscriber count.
import type { LatencySeries } from "./scenarios/fanout.ts";

const WIDTH = 800;
const HEIGHT = 460;
const MARGIN = { left: 76, right: 24, top: 56, bottom: 118 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const X_MAX = 4; // 99.99th percentile

const escapeXml = (text: string): string => text.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!);

const tailPosition = (p: number): number => Math.min(X_MAX, Math.log10(1 / Math.max(1 - p / 100, 10 ** -X_MAX)));

/** Latency in the unit that reads best. */
function formatMs(ms: number): string {
  if (ms >= 1000) return `${Number((ms / 1000).toPrecision(3))} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${Number(ms.toPrecision(2))} ms`;
}

export function fanoutLatencyChart(series: LatencySeries[], options: { targetMs: number; title: string; subtitle: string }): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  // Latency on a log scale, whole decades: one chart reads for 2 ms and for 10 s alike.
  const values = series.flatMap((s) => s.points.map((point) => point.ms)).filter((ms) => ms > 0);
  const lowDecade = Math.floor(Math.log10(Math.min(options.targetMs, ...values)));
  const highDecade = Math.max(lowDecade + 1, Math.ceil(Math.log10(Math.max(options.targetMs * 1.5, ...values))));
  const x = (p: number) => MARGIN.left + (tailPosition(p) / X_MAX) * plotWidth;
  const y = (ms: number) => {
    const decade = Math.min(highDecade, Math.max(lowDecade, Math.log10(Math.max(ms, 10 ** lowDecade))));
    return MARGIN.top + plotHeight - ((decade - lowDecade) / (highDecade - lowDecade)) * plotHeight;
  };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, sans-serif" font-size="12">`);
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  parts.push(`<text x="${MARGIN.left}" y="24" font-size="15" font-weight="600">${escapeXml(options.title)}</text>`);
  parts.push(`<text x="${MARGIN.left}" y="42" fill="#555">${escapeXml(options.subtitle)}</text>`);

  // Grid and axes.
  for (let decade = lowDecade; decade <= highDecade; decade++) {
    for (const step of [1, 2, 5]) {
      const value = step * 10 ** decade;
      if (value > 10 ** highDecade) break;
      parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y(value)}" y2="${y(value)}" stroke="${step === 1 ? "#dcdcdc" : "#f0f0f0"}"/>`);
      if (step === 1) parts.push(`<text x="${MARGIN.left - 8}" y="${y(value) + 4}" text-anchor="end" fill="#333">${formatMs(value)}</text>`);
    }
  }
  for (const [p, label] of [[0, "0%"], [50, "50%"], [90, "90%"], [99, "99%"], [99.9, "99.9%"], [99.99, "99.99%"]] as const) {
    parts.push(`<line x1="${x(p)}" x2="${x(p)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${x(p)}" y="${MARGIN.top + plotHeight + 18}" text-anchor="middle" fill="#333">${label}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${MARGIN.top + plotHeight + 38}" text-anchor="middle" fill="#333">percentile of deliveries (every transaction at every subscriber)</text>`);
  parts.push(`<text transform="translate(16 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle" fill="#333">delivery latency (log scale)</text>`);

  // Target.
  {
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y(options.targetMs)}" y2="${y(options.targetMs)}" stroke="#444" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${x(0) + 6}" y="${y(options.targetMs) - 6}" fill="#444">target: p99 ≤ ${options.targetMs} ms with 50 subscribers</text>`);
  }
  parts.push(`<line x1="${x(99)}" x2="${x(99)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#bbb" stroke-dasharray="2 3"/>`);

  // Lines and legend.
  series.forEach((s, index) => {
    const color = COLORS[index % COLORS.length]!;
    const points = s.points.map((point) => `${x(point.p).toFixed(1)},${y(point.ms).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const point of s.points) parts.push(`<circle cx="${x(point.p).toFixed(1)}" cy="${y(point.ms).toFixed(1)}" r="2.2" fill="${color}"/>`);
    const legendY = MARGIN.top + plotHeight + 62 + index * 18;
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + 24}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${color}" stroke-width="2"/>`);
    const text = `${s.label}: p50 ${formatMs(s.p50)}, p99 ${formatMs(s.p99)}, max ${formatMs(s.max)} (${s.runs} run${s.runs === 1 ? "" : "s"} pooled, ${s.samples.toLocaleString("en")} deliveries)`;
    parts.push(`<text x="${MARGIN.left + 32}" y="${legendY}" fill="#222">${escapeXml(text)}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
