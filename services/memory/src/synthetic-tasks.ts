import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ProgramConfig } from "@mlzero/program";

/**
 * Small generated tabular, text and text-plus-tabular tasks with a known
 * signal, for running program templates end to end: the shapes real data
 * folders have (string categoricals, free text that needs CSV quoting,
 * missing values, integer and string labels, several file formats) at a size
 * that trains in seconds.
 */
export interface SyntheticTask {
  name: string;
  /** Files to write under the task's `input/` folder, by file name. */
  files: Record<string, string>;
  /** Config for a program running in a sibling folder of `input/`. */
  config: ProgramConfig;
  /** Ids of the test rows in file order, when the task has an id column. */
  testIds: string[] | undefined;
  testRows: number;
  /** The true label of each test row, as text, for scoring the predictions file. */
  testTruth: string[];
  /** Standard deviation of the training target (regression only), to set score floors. */
  targetStd: number;
}

/** Seeded uniform [0, 1) generator (mulberry32): the same seed gives the same data everywhere. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draw (Box-Muller). */
export function normal(uniform: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function pick<T>(uniform: () => number, values: readonly T[]): T {
  return values[Math.floor(uniform() * values.length)]!;
}

type Row = Record<string, string | number | boolean | null>;

function delimited(rows: Row[], separator: string): string {
  const columns = Object.keys(rows[0]!);
  // Quoted as CSV writers do: a cell holding the separator, a quote or a line break.
  const cell = (value: Row[string]): string => {
    if (value === null) return "";
    const text = String(value);
    return text.includes(separator) || /["\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns.join(separator), ...rows.map((row) => columns.map((column) => cell(row[column]!)).join(separator))].join("\n") + "\n";
}

function withoutColumn(rows: Row[], column: string): Row[] {
  return rows.map(({ [column]: _dropped, ...rest }) => rest);
}

/** Fields every config needs; the task fills in its files and the rest. */
export function baseConfig(): Omit<ProgramConfig, "train_path" | "test_path" | "train_format" | "test_format"> {
  return {
    label_column: "",
    id_column: null,
    ignore_columns: [],
    problem_type: "binary",
    metric: "",
    output_path: "outputs/submission.csv",
    output_columns: [],
    class_probabilities: false,
    positive_class: null,
    label_values: [],
    time_limit_seconds: 60,
    reduce_level: 0,
    seed: 7,
  };
}

/**
 * Binary task in CSV: string labels "yes"/"no", string categoricals and
 * numbers with ~10% missing, an id column, and a `leak` column equal to the
 * label that the config lists in ignore_columns (a program that used it
 * would score a perfect AUC).
 */
export function binaryTask(trainRows = 2000, testRows = 400): SyntheticTask {
  const uniform = random(11);
  const make = (count: number, offset: number): Row[] =>
    Array.from({ length: count }, (_, index) => {
      const x1 = normal(uniform);
      const x2 = normal(uniform);
      const color = pick(uniform, ["red", "green", "blue"] as const);
      const logit = 1.5 * x1 - x2 + (color === "red" ? 1.2 : color === "blue" ? -0.8 : 0) + 0.5 * normal(uniform);
      const label = logit > 0 ? "yes" : "no";
      return {
        id: `r${String(offset + index).padStart(5, "0")}`,
        x1: uniform() < 0.1 ? null : Number(x1.toFixed(4)),
        x2: Number(x2.toFixed(4)),
        color: uniform() < 0.1 ? null : color,
        shop: pick(uniform, ["a", "b", "c", "d", "e"]),
        leak: label === "yes" ? 1 : 0,
        y: label,
      };
    });
  const labelled = make(testRows, trainRows);
  const test = withoutColumn(labelled, "y");
  return {
    name: "binary",
    files: { "train.csv": delimited(make(trainRows, 0), ","), "test.csv": delimited(test, ",") },
    config: {
      ...baseConfig(),
      train_path: "../input/train.csv",
      test_path: "../input/test.csv",
      train_format: "csv",
      test_format: "csv",
      label_column: "y",
      id_column: "id",
      ignore_columns: ["leak"],
      problem_type: "binary",
      metric: "roc_auc",
      output_columns: ["id", "y"],
      label_values: ["no", "yes"],
    },
    testIds: test.map((row) => String(row.id)),
    testRows,
    testTruth: labelled.map((row) => String(row.y)),
    targetStd: 0,
  };
}

/**
 * Multiclass task: train as a JSON array of records, test as TSV, integer
 * labels 3/5/7, a string categorical with nulls, an integer id column, and
 * one probability column per class named after the label.
 */
export function multiclassTask(trainRows = 1500, testRows = 300): SyntheticTask {
  const uniform = random(23);
  const make = (count: number, offset: number): Row[] =>
    Array.from({ length: count }, (_, index) => {
      const a = normal(uniform);
      const b = normal(uniform);
      const size = pick(uniform, ["S", "M", "L"] as const);
      const scores = [a + (size === "S" ? 1 : 0), b + (size === "L" ? 0.5 : 0), -a - b].map((value) => value + 0.4 * normal(uniform));
      const label = [3, 5, 7][scores.indexOf(Math.max(...scores))]!;
      return { row_id: offset + index, a: Number(a.toFixed(4)), b: Number(b.toFixed(4)), size: uniform() < 0.05 ? null : size, label };
    });
  const labelled = make(testRows, 100_000);
  const test = withoutColumn(labelled, "label");
  return {
    name: "multiclass",
    files: { "train.json": JSON.stringify(make(trainRows, 0)), "test.tsv": delimited(test, "\t") },
    config: {
      ...baseConfig(),
      train_path: "../input/train.json",
      test_path: "../input/test.tsv",
      train_format: "json",
      test_format: "tsv",
      label_column: "label",
      id_column: "row_id",
      problem_type: "multiclass",
      metric: "log_loss",
      output_columns: ["row_id", "3", "5", "7"],
      class_probabilities: true,
      label_values: ["3", "5", "7"],
    },
    testIds: test.map((row) => String(row.row_id)),
    testRows,
    testTruth: labelled.map((row) => String(row.label)),
    targetStd: 0,
  };
}

/**
 * Regression task: train as JSONL, test as JSONL meant to be converted to
 * parquet (`test.parquet`) by the caller, no id column, a boolean and a
 * string feature, and a non-linear target.
 */
export function regressionTask(trainRows = 1500, testRows = 300): SyntheticTask {
  const uniform = random(37);
  const effects = { north: 2, south: -1, east: 0.5, west: 0 } as const;
  const make = (count: number): Row[] =>
    Array.from({ length: count }, () => {
      const u = normal(uniform);
      const v = normal(uniform);
      const region = pick(uniform, Object.keys(effects) as (keyof typeof effects)[]);
      const flag = uniform() < 0.3;
      const target = 3 * u + v * v + effects[region] + (flag ? 2 : 0) + 0.5 * normal(uniform);
      return {
        u: uniform() < 0.05 ? null : Number(u.toFixed(4)),
        v: Number(v.toFixed(4)),
        region,
        flag,
        target: Number(target.toFixed(4)),
      };
    });
  const train = make(trainRows);
  const targets = train.map((row) => Number(row.target));
  const mean = targets.reduce((sum, value) => sum + value, 0) / targets.length;
  const std = Math.sqrt(targets.reduce((sum, value) => sum + (value - mean) ** 2, 0) / targets.length);
  const labelled = make(testRows);
  const jsonl = (rows: Row[]): string => rows.map((row) => JSON.stringify(row)).join("\n") + "\n";
  return {
    name: "regression",
    files: { "train.jsonl": jsonl(train), "test.jsonl": jsonl(withoutColumn(labelled, "target")) },
    config: {
      ...baseConfig(),
      train_path: "../input/train.jsonl",
      test_path: "../input/test.parquet",
      train_format: "jsonl",
      test_format: "parquet",
      label_column: "target",
      problem_type: "regression",
      metric: "rmse",
      output_columns: ["target"],
    },
    testIds: undefined,
    testRows,
    testTruth: labelled.map((row) => String(row.target)),
    targetStd: std,
  };
}

/** Words with no label signal, shared by every generated text. */
const FILLER = [
  "the",
  "a",
  "it",
  "this",
  "and",
  "was",
  "with",
  "for",
  "my",
  "of",
  "on",
  "after",
  "i",
  "we",
  "order",
  "item",
  "box",
  "week",
  "day",
  "size",
  "colour",
  "price",
  "again",
  "really",
  "quite",
  "just",
  "also",
  "very",
  "so",
  "then",
] as const;

/** Review words by the sentiment they carry; a few share a stem, so character n-grams help too. */
const POSITIVE = [
  "great",
  "excellent",
  "love",
  "loved",
  "lovely",
  "wonderful",
  "perfect",
  "delighted",
  "superb",
  "reliable",
  "recommend",
  "happy",
];
const NEGATIVE = [
  "terrible",
  "awful",
  "broken",
  "refund",
  "refunded",
  "disappointed",
  "worst",
  "poor",
  "useless",
  "faulty",
  "waste",
  "unhappy",
];

/**
 * Free text: the signal words scattered among `length` filler words, with the
 * commas, quotes and ending marks real text has (so a CSV must quote it).
 */
function freeText(uniform: () => number, signal: readonly string[], length: number): string {
  const words: string[] = Array.from({ length }, () => pick(uniform, FILLER));
  for (const word of signal) words.splice(Math.floor(uniform() * (words.length + 1)), 0, uniform() < 0.15 ? `"${word}"` : word);
  const text = words.map((word, index) => (index < words.length - 1 && uniform() < 0.1 ? `${word},` : word)).join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1) + (uniform() < 0.3 ? "!" : ".");
}

/** `count` words of one sentiment, each flipped to the other with probability `1 - agreement`. */
function sentimentWords(uniform: () => number, positive: boolean, count: number, agreement: number): string[] {
  return Array.from({ length: count }, () => pick(uniform, uniform() < agreement === positive ? POSITIVE : NEGATIVE));
}

function standardDeviation(values: number[]): number {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  return Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length);
}

/**
 * Text binary task in CSV: product reviews labelled "positive"/"negative" by
 * their sentiment words, with a short free-text title, a review that is
 * missing for ~5% of rows, a short categorical and a numeric column without
 * signal, an id, and a `leak` column in ignore_columns. The label column of
 * the predictions holds P("positive").
 */
export function textBinaryTask(trainRows = 1500, testRows = 300): SyntheticTask {
  const uniform = random(41);
  const make = (count: number, offset: number): Row[] =>
    Array.from({ length: count }, (_, index) => {
      const positive = uniform() < 0.55;
      const review = freeText(
        uniform,
        sentimentWords(uniform, positive, 1 + Math.floor(uniform() * 4), 0.85),
        6 + Math.floor(uniform() * 14),
      );
      const title = freeText(uniform, uniform() < 0.5 ? sentimentWords(uniform, positive, 1, 0.75) : [], 2 + Math.floor(uniform() * 3));
      return {
        review_id: `t${String(offset + index).padStart(5, "0")}`,
        title,
        review: uniform() < 0.05 ? null : review,
        platform: uniform() < 0.08 ? null : pick(uniform, ["web", "app", "store"]),
        helpful_votes: Math.floor(uniform() * 20),
        leak: positive ? 1 : 0,
        sentiment: positive ? "positive" : "negative",
      };
    });
  const labelled = make(testRows, trainRows);
  const test = withoutColumn(labelled, "sentiment");
  return {
    name: "text-binary",
    files: { "train.csv": delimited(make(trainRows, 0), ","), "test.csv": delimited(test, ",") },
    config: {
      ...baseConfig(),
      train_path: "../input/train.csv",
      test_path: "../input/test.csv",
      train_format: "csv",
      test_format: "csv",
      label_column: "sentiment",
      id_column: "review_id",
      ignore_columns: ["leak"],
      problem_type: "binary",
      metric: "roc_auc",
      output_columns: ["review_id", "sentiment"],
      positive_class: "positive",
      label_values: ["negative", "positive"],
    },
    testIds: test.map((row) => String(row.review_id)),
    testRows,
    testTruth: labelled.map((row) => String(row.sentiment)),
    targetStd: 0,
  };
}

const TOPICS = {
  business: ["market", "shares", "profit", "bank", "investors", "merger", "revenue", "economy", "startup", "quarterly"],
  food: ["recipe", "chef", "kitchen", "flavour", "restaurant", "dessert", "spicy", "bakery", "menu", "vegetables"],
  sports: ["match", "goal", "league", "coach", "season", "tournament", "striker", "referee", "championship", "training"],
  tech: ["software", "chip", "startup", "smartphone", "cloud", "algorithm", "robot", "battery", "update", "network"],
} as const;
type Topic = keyof typeof TOPICS;

/**
 * Text multiclass task: news snippets in JSONL (train) and CSV (test), one
 * free-text column and an integer id; the topic shows in 2-4 topic words, one
 * in five borrowed from another topic ("startup" belongs to two). Predictions
 * are one probability column per topic, in an order other than the sorted one.
 */
export function textMulticlassTask(trainRows = 1200, testRows = 300): SyntheticTask {
  const uniform = random(43);
  const topics = Object.keys(TOPICS) as Topic[];
  const make = (count: number, offset: number): Row[] =>
    Array.from({ length: count }, (_, index) => {
      const topic = pick(uniform, topics);
      const signal = Array.from({ length: 2 + Math.floor(uniform() * 3) }, () =>
        pick(uniform, TOPICS[uniform() < 0.8 ? topic : pick(uniform, topics)]),
      );
      return { doc_id: offset + index, snippet: freeText(uniform, signal, 6 + Math.floor(uniform() * 10)), topic };
    });
  const labelled = make(testRows, 50_000);
  const test = withoutColumn(labelled, "topic");
  return {
    name: "text-multiclass",
    files: {
      "train.jsonl":
        make(trainRows, 0)
          .map((row) => JSON.stringify(row))
          .join("\n") + "\n",
      "test.csv": delimited(test, ","),
    },
    config: {
      ...baseConfig(),
      train_path: "../input/train.jsonl",
      test_path: "../input/test.csv",
      train_format: "jsonl",
      test_format: "csv",
      label_column: "topic",
      id_column: "doc_id",
      problem_type: "multiclass",
      metric: "log_loss",
      output_columns: ["doc_id", "tech", "sports", "food", "business"],
      class_probabilities: true,
      label_values: ["business", "food", "sports", "tech"],
    },
    testIds: test.map((row) => String(row.doc_id)),
    testRows,
    testTruth: labelled.map((row) => String(row.topic)),
    targetStd: 0,
  };
}

/** Listing words and what each adds to a price. */
const LISTING_WORDS = {
  pool: 3,
  garden: 2,
  renovated: 2.5,
  view: 1.5,
  garage: 1,
  balcony: 1,
  spacious: 1.2,
  central: 1.8,
  noisy: -2,
  small: -1.5,
  dated: -1,
  repairs: -2.5,
} as const;
type ListingWord = keyof typeof LISTING_WORDS;

/** A listing description holding each listing word with probability `rate`, and the sum of their effects. */
function listing(uniform: () => number, rate: number): { text: string; effect: number } {
  const words = (Object.keys(LISTING_WORDS) as ListingWord[]).filter(() => uniform() < rate);
  return {
    text: freeText(uniform, words, 5 + Math.floor(uniform() * 8)),
    effect: words.reduce((sum, word) => sum + LISTING_WORDS[word], 0),
  };
}

/**
 * Text regression task in TSV (train) and CSV (test), no id column: a
 * listing's price is the sum of what its description's words add, plus noise.
 */
export function textRegressionTask(trainRows = 1200, testRows = 300): SyntheticTask {
  const uniform = random(47);
  const make = (count: number): Row[] =>
    Array.from({ length: count }, () => {
      const { text, effect } = listing(uniform, 0.3);
      return { description: text, price: Number((20 + effect + normal(uniform)).toFixed(3)) };
    });
  const train = make(trainRows);
  const labelled = make(testRows);
  return {
    name: "text-regression",
    files: { "train.tsv": delimited(train, "\t"), "test.csv": delimited(withoutColumn(labelled, "price"), ",") },
    config: {
      ...baseConfig(),
      train_path: "../input/train.tsv",
      test_path: "../input/test.csv",
      train_format: "tsv",
      test_format: "csv",
      label_column: "price",
      problem_type: "regression",
      metric: "rmse",
      output_columns: ["price"],
    },
    testIds: undefined,
    testRows,
    testTruth: labelled.map((row) => String(row.price)),
    targetStd: standardDeviation(train.map((row) => Number(row.price))),
  };
}

/**
 * Text plus tabular binary task in CSV: whether an order is returned depends
 * on the review's sentiment, a price threshold (not linear in the price), the
 * category and late delivery, so neither the text nor the table alone
 * predicts it well. Missing values in review, category and price; the
 * predictions hold P("yes").
 */
export function multimodalBinaryTask(trainRows = 1500, testRows = 300): SyntheticTask {
  const uniform = random(53);
  const categoryEffect = { shoes: 0.8, electronics: 0.3, books: -1, toys: 0 } as const;
  const make = (count: number, offset: number): Row[] =>
    Array.from({ length: count }, (_, index) => {
      const happy = uniform() < 0.6;
      const category = pick(uniform, Object.keys(categoryEffect) as (keyof typeof categoryEffect)[]);
      const price = Math.exp(3.8 + 0.7 * normal(uniform));
      const late = uniform() < 0.25;
      const logit = (happy ? -1.3 : 1.3) + (price > 60 ? 1.6 : -0.8) + categoryEffect[category] + (late ? 1 : 0) + 0.4 * normal(uniform);
      const review = freeText(uniform, sentimentWords(uniform, happy, 1 + Math.floor(uniform() * 3), 0.85), 5 + Math.floor(uniform() * 12));
      return {
        order_id: `o${String(offset + index).padStart(5, "0")}`,
        review: uniform() < 0.05 ? null : review,
        category: uniform() < 0.05 ? null : category,
        price: uniform() < 0.05 ? null : Number(price.toFixed(2)),
        delivered_late: late,
        returned: logit > 0 ? "yes" : "no",
      };
    });
  const labelled = make(testRows, trainRows);
  const test = withoutColumn(labelled, "returned");
  return {
    name: "multimodal-binary",
    files: { "train.csv": delimited(make(trainRows, 0), ","), "test.csv": delimited(test, ",") },
    config: {
      ...baseConfig(),
      train_path: "../input/train.csv",
      test_path: "../input/test.csv",
      train_format: "csv",
      test_format: "csv",
      label_column: "returned",
      id_column: "order_id",
      problem_type: "binary",
      metric: "roc_auc",
      output_columns: ["order_id", "returned"],
      positive_class: "yes",
      label_values: ["no", "yes"],
    },
    testIds: test.map((row) => String(row.order_id)),
    testRows,
    testTruth: labelled.map((row) => String(row.returned)),
    targetStd: 0,
  };
}

const TEAM_WORDS = {
  billing: ["invoice", "charged", "refund", "payment", "card", "subscription"],
  shipping: ["parcel", "courier", "tracking", "delivery", "address", "package"],
  technical: ["error", "crash", "login", "password", "app", "install"],
} as const;
type Team = keyof typeof TEAM_WORDS;

/**
 * Text plus tabular multiclass task: support tickets (JSON array train, TSV
 * test) routed to one of three teams by the ticket's words together with the
 * plan, the account's age and the device; predicted as labels.
 */
export function multimodalMulticlassTask(trainRows = 1500, testRows = 300): SyntheticTask {
  const uniform = random(59);
  const teams = Object.keys(TEAM_WORDS) as Team[];
  const make = (count: number, offset: number): Row[] =>
    Array.from({ length: count }, (_, index) => {
      const plan = pick(uniform, ["free", "pro", "enterprise"] as const);
      const device = pick(uniform, ["desktop", "mobile", "tablet"] as const);
      const ageDays = Math.floor(Math.exp(1 + 5 * uniform()));
      const recentOrder = uniform() < 0.4;
      const scores = [
        (plan === "free" ? -1 : 0.8) + (ageDays < 30 ? 1.5 : 0),
        recentOrder ? 2 : -0.5,
        (device === "mobile" ? 1.5 : 0) + (plan === "enterprise" ? 0.8 : 0),
      ].map((value) => value + 0.5 * normal(uniform));
      const team = teams[scores.indexOf(Math.max(...scores))]!;
      const signal = Array.from({ length: 1 + Math.floor(uniform() * 2) }, () =>
        pick(uniform, TEAM_WORDS[uniform() < 0.6 ? team : pick(uniform, teams)]),
      );
      return {
        ticket: offset + index,
        message: freeText(uniform, signal, 4 + Math.floor(uniform() * 10)),
        plan,
        device: uniform() < 0.05 ? null : device,
        account_age_days: ageDays,
        recent_order: recentOrder ? 1 : 0,
        team,
      };
    });
  const labelled = make(testRows, 90_000);
  const test = withoutColumn(labelled, "team");
  return {
    name: "multimodal-multiclass",
    files: { "train.json": JSON.stringify(make(trainRows, 0)), "test.tsv": delimited(test, "\t") },
    config: {
      ...baseConfig(),
      train_path: "../input/train.json",
      test_path: "../input/test.tsv",
      train_format: "json",
      test_format: "tsv",
      label_column: "team",
      id_column: "ticket",
      problem_type: "multiclass",
      metric: "accuracy",
      output_columns: ["ticket", "team"],
      label_values: ["billing", "shipping", "technical"],
    },
    testIds: test.map((row) => String(row.ticket)),
    testRows,
    testTruth: labelled.map((row) => String(row.team)),
    targetStd: 0,
  };
}

/**
 * Text plus tabular regression task: house prices (CSV train, JSONL test, no
 * id) from the floor area (with a jump above 120 m²), the neighbourhood, a
 * build year that is sometimes missing, and the description's words.
 */
export function multimodalRegressionTask(trainRows = 1500, testRows = 300): SyntheticTask {
  const uniform = random(61);
  const neighbourhoods = { harbour: 4, old_town: 2, suburbs: 0, industrial: -2, hills: 1 } as const;
  const make = (count: number): Row[] =>
    Array.from({ length: count }, () => {
      const area = 40 + 160 * uniform();
      const neighbourhood = pick(uniform, Object.keys(neighbourhoods) as (keyof typeof neighbourhoods)[]);
      const year = Math.floor(1950 + 74 * uniform());
      const { text, effect } = listing(uniform, 0.25);
      const price =
        10 + 0.04 * area + (area > 120 ? 3 : 0) + neighbourhoods[neighbourhood] + (year > 2000 ? 1.5 : 0) + effect + 0.8 * normal(uniform);
      return {
        description: text,
        area_m2: Number(area.toFixed(1)),
        neighbourhood,
        year_built: uniform() < 0.1 ? null : year,
        price: Number(price.toFixed(3)),
      };
    });
  const train = make(trainRows);
  const labelled = make(testRows);
  return {
    name: "multimodal-regression",
    files: {
      "train.csv": delimited(train, ","),
      "test.jsonl":
        withoutColumn(labelled, "price")
          .map((row) => JSON.stringify(row))
          .join("\n") + "\n",
    },
    config: {
      ...baseConfig(),
      train_path: "../input/train.csv",
      test_path: "../input/test.jsonl",
      train_format: "csv",
      test_format: "jsonl",
      label_column: "price",
      problem_type: "regression",
      metric: "mae",
      output_columns: ["price"],
    },
    testIds: undefined,
    testRows,
    testTruth: labelled.map((row) => String(row.price)),
    targetStd: standardDeviation(train.map((row) => Number(row.price))),
  };
}

/** Writes a task's input files under `<taskDir>/input/` (tabular, text and forecasting tasks alike). */
export async function writeTaskInput(taskDir: string, task: Pick<SyntheticTask, "files">): Promise<void> {
  const input = path.join(taskDir, "input");
  await mkdir(input, { recursive: true });
  await Promise.all(Object.entries(task.files).map(([name, content]) => writeFile(path.join(input, name), content)));
}
