// What a scenario reports: figures (each measured once per run, summarised by median or worst run)
// with an optional target, plus free-form details that go into latest.json as they are.
import type { Bench } from "./bench.ts";
import { median } from "./stats.ts";

export type Target = { op: "<=" | ">="; value: number };

export type Figure = {
  key: string;
  label: string;
  unit: string;
  /** One value per run, in run order. */
  runs: number[];
  /** How the runs are summarised: the median, or the worst run where every run must meet the target. */
  summary: "median" | "worst";
  value: number;
  target?: Target;
  pass?: boolean;
};

export type ScenarioReport = { figures: Figure[]; details: Record<string, unknown> };

export type Scenario = {
  name: string;
  /** The scenario is abandoned (and its processes stopped) after this long. */
  budgetMs: number;
  run(bench: Bench): Promise<ScenarioReport>;
};

export function figure(
  key: string,
  label: string,
  unit: string,
  runs: number[],
  options: { target?: Target; summary?: "median" | "worst" } = {},
): Figure {
  const summary = options.summary ?? "median";
  const finite = runs.filter((value) => Number.isFinite(value));
  let value = median(runs);
  if (summary === "worst") {
    const worse = options.target?.op === ">=" ? Math.min : Math.max;
    value = finite.length === runs.length && finite.length > 0 ? worse(...finite) : Number.NaN;
  }
  const result: Figure = { key, label, unit, runs, summary, value };
  if (options.target) {
    result.target = options.target;
    result.pass = Number.isFinite(value) && (options.target.op === "<=" ? value <= options.target.value : value >= options.target.value);
  }
  return result;
}

/** SQLite work of a measurement as figures: statements, rows read and rows written, each `per` something. */
export function sqlFigures(
  key: string,
  label: string,
  costs: { statements: number; rowsRead: number; rowsWritten: number }[],
  options: { per?: number; written?: Target; read?: Target } = {},
): Figure[] {
  const per = options.per ?? 1;
  const scaled = (pick: (cost: (typeof costs)[number]) => number) => costs.map((cost) => pick(cost) / per);
  return [
    figure(`${key}_rows_written`, `${label}: SQLite rows written`, "rows", scaled((c) => c.rowsWritten), options.written ? { target: options.written } : {}),
    figure(`${key}_rows_read`, `${label}: SQLite rows read`, "rows", scaled((c) => c.rowsRead), options.read ? { target: options.read } : {}),
    figure(`${key}_statements`, `${label}: SQL statements`, "", scaled((c) => c.statements)),
  ];
}
