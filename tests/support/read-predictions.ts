import { readFile } from "node:fs/promises";
import path from "node:path";
import { readTable } from "@mlzero/tables";

/** The parts of report.json the tests read. */
export interface Report {
  status: string;
  predictions: string | null;
  program: string | null;
  tool: string;
  iterations: number;
  metric: string;
  validation_score: number | null;
  history: { iteration: number; tool: string; verdict: string; failure: string; analysis: string }[];
  timings_seconds: Record<string, number>;
}

export async function readReport(outDir: string): Promise<Report> {
  return JSON.parse(await readFile(path.join(outDir, "report.json"), "utf8")) as Report;
}

/** Predictions by id from the task's predictions file. */
export async function readPredictions(file: string, idColumn: string, labelColumn: string): Promise<Map<string, string>> {
  const table = await readTable(file);
  const id = table.columns.indexOf(idColumn);
  const label = table.columns.indexOf(labelColumn);
  if (id < 0 || label < 0) throw new Error(`${file} lacks ${idColumn} or ${labelColumn}: has ${table.columns.join(", ")}`);
  return new Map(table.rows.map((row) => [String(row[id]), String(row[label])]));
}
