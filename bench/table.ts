// The printed table: every figure with its runs, its target and a pass/miss mark.
import type { Figure, ScenarioReport } from "./scenario.ts";

function formatNumber(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "n/a";
  const digits = unit === "x" || unit === "frames" ? 2 : unit === "MiB" ? 1 : unit === "ms" && Math.abs(value) < 100 ? 1 : 0;
  return value.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const withUnit = (value: number, unit: string): string => `${formatNumber(value, unit)} ${unit}`;

function mark(figure: Figure): string {
  if (!figure.target) return "";
  return figure.pass ? "✓ pass" : "✗ MISS";
}

export function formatTable(reports: Record<string, ScenarioReport | { error: string }>): string {
  const rows: string[][] = [["scenario", "figure", "value", "runs", "target", ""]];
  for (const [name, report] of Object.entries(reports)) {
    if ("error" in report) {
      rows.push([name, "ERROR", report.error.split("\n")[0]!.slice(0, 100), "", "", "✗ error"]);
      continue;
    }
    report.figures.forEach((figure, index) => {
      rows.push([
        index === 0 ? name : "",
        figure.label,
        `${withUnit(figure.value, figure.unit)}${figure.summary === "worst" && figure.runs.length > 1 ? " (worst)" : ""}`,
        figure.runs.map((value) => formatNumber(value, figure.unit)).join(" / "),
        figure.target ? `${figure.target.op} ${withUnit(figure.target.value, figure.unit)}` : "",
        mark(figure),
      ]);
    });
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => [...row[column]!].length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [line(rows[0]!), widths.map((width) => "-".repeat(width)).join("  "), ...rows.slice(1).map(line)].join("\n");
}
