import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Random } from "./random.js";

type Value = string | number | boolean | undefined;
type Row = Record<string, Value>;

/** A generated task: its raw data folder and the answers the program never sees. */
export interface GeneratedTask {
  inputDir: string;
  idColumn: string;
  labelColumn: string;
  /** Hidden test labels by id. */
  answers: Map<string, Value>;
}

function csv(rows: Row[], columns: string[], delimiter = ","): string {
  const cell = (value: Value) => {
    if (value === undefined) return "";
    const text = String(value);
    return /[",\n\r\t;]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.join(delimiter), ...rows.map((row) => columns.map((column) => cell(row[column])).join(delimiter))].join("\n") + "\n";
}

function jsonl(rows: Row[]): string {
  return rows.map((row) => JSON.stringify(row)).join("\n") + "\n";
}

function split(rows: Row[], testShare: number, random: Random): [Row[], Row[]] {
  const train: Row[] = [];
  const test: Row[] = [];
  for (const row of rows) (random.next() < testShare ? test : train).push(row);
  return [train, test];
}

function withoutLabel(rows: Row[], label: string): Row[] {
  return rows.map(({ [label]: _hidden, ...rest }) => rest);
}

/**
 * Binary classification, customer churn: string categoricals, missing values,
 * a description that names ROC AUC, and a sample submission.
 */
export async function generateChurnTask(root: string, seed = 7, rows = 2000): Promise<GeneratedTask> {
  const random = new Random(seed);
  const plans = ["basic", "plus", "premium"] as const;
  const regions = ["north", "south", "east", "west", "central"] as const;
  const contracts = ["month-to-month", "one year", "two year"] as const;
  const data: Row[] = [];
  for (let index = 0; index < rows; index++) {
    const plan = random.pick(plans);
    const region = random.pick(regions);
    const contract = random.pick(contracts);
    const tenure = random.int(1, 72);
    const charges = 20 + plans.indexOf(plan) * 25 + random.normal() * 8;
    const calls = random.int(0, 9);
    const logit =
      -0.5 +
      (contract === "month-to-month" ? 1.6 : contract === "one year" ? 0 : -1.2) -
      tenure / 24 +
      calls * 0.35 +
      (charges - 45) / 30 +
      (region === "south" ? 0.5 : 0) +
      random.normal() * 0.5;
    data.push({
      customer_id: `C${String(100000 + index)}`,
      plan,
      region,
      contract: random.next() < 0.08 ? undefined : contract,
      tenure_months: tenure,
      monthly_charges: random.next() < 0.1 ? undefined : Number(charges.toFixed(2)),
      support_calls: calls,
      churn: logit > 0 ? "yes" : "no",
    });
  }
  const [train, test] = split(data, 0.25, random);
  const dir = path.join(root, "churn");
  await mkdir(dir, { recursive: true });
  const columns = ["customer_id", "plan", "region", "contract", "tenure_months", "monthly_charges", "support_calls", "churn"];
  await writeFile(path.join(dir, "train.csv"), csv(train, columns));
  await writeFile(
    path.join(dir, "test.csv"),
    csv(
      withoutLabel(test, "churn"),
      columns.filter((column) => column !== "churn"),
    ),
  );
  await writeFile(
    path.join(dir, "sample_submission.csv"),
    csv(
      test.map((row) => ({ customer_id: row.customer_id, churn: 0.5 })),
      ["customer_id", "churn"],
    ),
  );
  await writeFile(
    path.join(dir, "description.md"),
    "# Customer churn\n\nPredict whether a customer will churn (`churn`: yes/no) from their plan and usage.\n" +
      "Submissions are evaluated on the area under the ROC curve (AUC).\n",
  );
  return {
    inputDir: dir,
    idColumn: "customer_id",
    labelColumn: "churn",
    answers: new Map(test.map((row) => [String(row.customer_id), row.churn])),
  };
}

/**
 * Regression from JSON Lines, house prices; the output file and its columns
 * are given only in a text file.
 */
export async function generateHousePriceTask(root: string, seed = 11, rows = 1500): Promise<GeneratedTask> {
  const random = new Random(seed);
  const neighborhoods = ["riverside", "old town", "hillcrest", "harbor", "meadows"] as const;
  const premium = { riverside: 60_000, "old town": 20_000, hillcrest: 90_000, harbor: 40_000, meadows: 0 };
  const data: Row[] = [];
  for (let index = 0; index < rows; index++) {
    const area = Math.round(40 + random.next() * 160);
    const rooms = Math.max(1, Math.round(area / 35 + random.normal()));
    const age = random.int(0, 80);
    const neighborhood = random.pick(neighborhoods);
    const garage = random.next() < 0.4;
    const price =
      50_000 + area * 1_800 + rooms * 5_000 - age * 700 + premium[neighborhood] + (garage ? 15_000 : 0) + random.normal() * 15_000;
    data.push({ house_id: index + 1, area_m2: area, rooms, age_years: age, neighborhood, has_garage: garage, price: Math.round(price) });
  }
  const [train, test] = split(data, 0.25, random);
  const dir = path.join(root, "houses");
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "train.jsonl"), jsonl(train));
  await writeFile(path.join(dir, "test.jsonl"), jsonl(withoutLabel(test, "price")));
  await writeFile(
    path.join(dir, "task.txt"),
    "Estimate the sale price of each house in test.jsonl.\n" +
      "Write the predictions to results.csv with the columns house_id and price.\n" +
      "We score with the root mean squared error.\n",
  );
  return {
    inputDir: dir,
    idColumn: "house_id",
    labelColumn: "price",
    answers: new Map(test.map((row) => [String(row.house_id), row.price])),
  };
}

/**
 * Multiclass with no description and unusual file names: the labelled file
 * is the one with an extra column.
 */
export async function generateSpeciesTask(root: string, seed = 23, rows = 1800): Promise<GeneratedTask> {
  const random = new Random(seed);
  const species = ["alpha", "beta", "gamma", "delta"] as const;
  const habitats = ["forest", "lake", "desert"] as const;
  const data: Row[] = [];
  for (let index = 0; index < rows; index++) {
    const kind = random.int(0, 3);
    const habitat = kind === 3 ? (random.next() < 0.7 ? "desert" : random.pick(habitats)) : random.pick(habitats);
    data.push({
      sample: `s-${index}`,
      wing_mm: Number((30 + kind * 6 + random.normal() * 3).toFixed(1)),
      beak_mm: Number((10 + (kind % 2) * 5 + random.normal() * 1.5).toFixed(1)),
      mass_g: Number((100 + (kind === 2 ? 60 : 0) + random.normal() * 15).toFixed(1)),
      habitat,
      kind: species[kind],
    });
  }
  const [train, test] = split(data, 0.25, random);
  const dir = path.join(root, "birds");
  await mkdir(dir, { recursive: true });
  const columns = ["sample", "wing_mm", "beak_mm", "mass_g", "habitat", "kind"];
  await writeFile(path.join(dir, "field_observations_2024.csv"), csv(train, columns));
  await writeFile(
    path.join(dir, "unlabelled_batch.csv"),
    csv(
      withoutLabel(test, "kind"),
      columns.filter((column) => column !== "kind"),
    ),
  );
  return { inputDir: dir, idColumn: "sample", labelColumn: "kind", answers: new Map(test.map((row) => [String(row.sample), row.kind])) };
}
