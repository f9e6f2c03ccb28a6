import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { Random } from "./random.js";
import { REPO_ROOT } from "./run-cli.js";

/**
 * Small generated tasks, one per modality perception tells apart (images in
 * class folders, free text, text with table columns, a forecast in long
 * format, Excel workbooks, a main table with a side table), each with a
 * signal a fitting tool finds in seconds and hidden answers to score the
 * predictions against. Seeded: the same call writes the same files.
 */

type Value = string | number | boolean | undefined;
type Row = Record<string, Value>;

const PYTHON = path.join(REPO_ROOT, ".venv", "bin", "python");

/** A generated task: its data folder and the answers by id (image path, row id) the program never sees. */
export interface ModalityTask {
  inputDir: string;
  idColumn: string;
  labelColumn: string;
  answers: Map<string, string | number>;
}

/** A forecast: answers by (item, date), and the mean of each item's history as the trivial forecast. */
export interface ForecastTask extends ModalityTask {
  itemColumn: string;
  timestampColumn: string;
  /** Answers keyed `${item}|${date}`. */
  truth: Map<string, number>;
  itemMeans: Map<string, number>;
}

function csv(rows: Row[], columns: string[]): string {
  const cell = (value: Value) => {
    if (value === undefined) return "";
    const text = String(value);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.join(","), ...rows.map((row) => columns.map((column) => cell(row[column])).join(","))].join("\n") + "\n";
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
}

/** Runs a Python script from the project's runtime with `input` as JSON on stdin. */
async function python(script: string, args: string[], input: unknown): Promise<void> {
  const child = promisify(execFile)(PYTHON, ["-c", script, ...args], { maxBuffer: 4 * 1024 * 1024 });
  child.child.stdin!.end(JSON.stringify(input));
  await child;
}

const SHAPES = ["circle", "square", "triangle"] as const;

/** Draws each spec (a dark shape on a light, noisy background) with Pillow. */
const SHAPE_PAINTER = `
import json, os, sys
import numpy as np
from PIL import Image, ImageDraw

root = sys.argv[1]
for spec in json.load(sys.stdin):
    size = spec["size"]
    image = Image.new("RGB", (size, size), tuple(spec["background"]))
    draw = ImageDraw.Draw(image)
    cx, cy, r = spec["cx"] * size, spec["cy"] * size, spec["radius"] * size
    fill = tuple(spec["foreground"])
    if spec["shape"] == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif spec["shape"] == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill)
    noise = np.random.default_rng(spec["seed"]).normal(0, 8, (size, size, 3))
    pixels = np.clip(np.asarray(image, dtype="float64") + noise, 0, 255).astype("uint8")
    image = Image.fromarray(pixels, "RGB")
    if spec["gray"]:
        image = image.convert("L")
    path = os.path.join(root, spec["file"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path, quality=92) if path.endswith(".jpg") else image.save(path)
`;

/**
 * Images of three shapes in class folders (`train/<shape>/`, PNG and some
 * JPEG, colour and grayscale, two sizes) and unlabelled images in `test/`;
 * predictions name each test image by its path in `test/`.
 */
export async function generateShapeImagesTask(root: string, seed = 31, perClass = 40, testImages = 60): Promise<ModalityTask> {
  const random = new Random(seed);
  const spec = (file: string, shape: string, index: number) => {
    const light = 200 + random.int(0, 50);
    return {
      file,
      shape,
      size: index % 3 === 0 ? 40 : 32,
      gray: index % 5 === 0,
      background: [light, light - random.int(0, 30), light - random.int(0, 30)],
      foreground: [random.int(0, 90), random.int(0, 90), random.int(0, 90)],
      cx: 0.45 + random.next() * 0.1,
      cy: 0.45 + random.next() * 0.1,
      radius: 0.3 + random.next() * 0.08,
      seed: random.int(1, 1_000_000),
    };
  };
  const specs = [];
  for (const shape of SHAPES) {
    for (let index = 0; index < perClass; index++) {
      specs.push(spec(`train/${shape}/${shape}_${String(index).padStart(3, "0")}.${index % 4 === 0 ? "jpg" : "png"}`, shape, index));
    }
  }
  const answers = new Map<string, string>();
  for (let index = 0; index < testImages; index++) {
    const shape = random.pick(SHAPES);
    const name = `img_${String(index).padStart(3, "0")}.png`;
    specs.push(spec(`test/${name}`, shape, index));
    answers.set(name, shape);
  }
  const dir = path.join(root, "shapes");
  await writeFiles(dir, { "README.md": "# Shapes\n\nTell which shape each image in test/ shows.\n" });
  await python(SHAPE_PAINTER, [dir], specs);
  return { inputDir: dir, idColumn: "image", labelColumn: "label", answers };
}

const POSITIVE = [
  "great",
  "excellent",
  "love",
  "wonderful",
  "perfect",
  "amazing",
  "happy",
  "recommend",
  "fantastic",
  "best",
  "sturdy",
  "comfortable",
];
const NEGATIVE = [
  "terrible",
  "awful",
  "hate",
  "broken",
  "poor",
  "worst",
  "disappointed",
  "refund",
  "useless",
  "flimsy",
  "returned",
  "cheap",
];
const FILLER = [
  "the",
  "product",
  "arrived",
  "on",
  "time",
  "box",
  "colour",
  "size",
  "price",
  "it",
  "was",
  "and",
  "my",
  "this",
  "order",
  "delivery",
  "quality",
  "after",
  "week",
  "use",
  "really",
  "very",
  "quite",
  "for",
  "kitchen",
];

/** A sentence of filler words with `signal` words of one side mixed in. */
function review(random: Random, words: readonly string[], signal: number, noise: readonly string[]): string {
  const out: string[] = [];
  const length = random.int(10, 22);
  for (let index = 0; index < length; index++) out.push(random.pick(FILLER));
  for (let index = 0; index < signal; index++) out.splice(random.int(0, out.length), 0, random.pick(words));
  if (random.next() < 0.15) out.splice(random.int(0, out.length), 0, random.pick(noise));
  const text = out.join(" ");
  return `${text[0]!.toUpperCase()}${text.slice(1)}.`;
}

/** Product reviews with their sentiment: one free-text column and an id; scored on AUC by default. */
export async function generateReviewsTask(root: string, seed = 41, rows = 900): Promise<ModalityTask> {
  const random = new Random(seed);
  const data: Row[] = [];
  for (let index = 0; index < rows; index++) {
    const positive = random.next() < 0.5;
    const [words, noise] = positive ? [POSITIVE, NEGATIVE] : [NEGATIVE, POSITIVE];
    data.push({
      review_id: `R${10000 + index}`,
      review: review(random, words, random.int(1, 3), noise),
      sentiment: positive ? "positive" : "negative",
    });
  }
  const train = data.slice(0, Math.floor(rows * 0.7));
  const test = data.slice(train.length);
  const dir = path.join(root, "reviews");
  await writeFiles(dir, {
    "train.csv": csv(train, ["review_id", "review", "sentiment"]),
    "test.csv": csv(test, ["review_id", "review"]),
  });
  return {
    inputDir: dir,
    idColumn: "review_id",
    labelColumn: "sentiment",
    answers: new Map(test.map((row) => [String(row.review_id), String(row.sentiment)])),
  };
}

const SELLING = ["vintage", "rare", "mint", "boxed", "signed", "original"];
const STALLING = ["scratched", "faulty", "stained", "cracked", "missing", "worn"];

/**
 * Marketplace listings: whether each sells within a week depends on words of
 * its free-text description, on its price and on its category; scored on
 * accuracy, as the description file says.
 */
export async function generateListingsTask(root: string, seed = 53, rows = 1000): Promise<ModalityTask> {
  const random = new Random(seed);
  const categories = ["books", "toys", "audio", "tools", "garden"] as const;
  const boost = { books: 0.4, toys: 0.8, audio: -0.2, tools: 0, garden: -0.8 };
  const data: Row[] = [];
  for (let index = 0; index < rows; index++) {
    const category = random.pick(categories);
    const good = random.int(0, 2);
    const bad = random.int(0, 2);
    const words = [
      ...Array.from({ length: good }, () => random.pick(SELLING)),
      ...Array.from({ length: bad }, () => random.pick(STALLING)),
    ];
    const description = review(random, words, 0, []).replace(/\.$/, "") + (words.length > 0 ? ` ${words.join(" ")}.` : ".");
    const price = Number((5 + random.next() * 95).toFixed(2));
    const logit = 1.4 * good - 1.4 * bad + boost[category] - (price - 50) / 25 + random.normal() * 0.5;
    data.push({ listing_id: 5000 + index, description, category, price, photos: random.int(0, 8), fast_sale: logit > 0 ? "yes" : "no" });
  }
  const train = data.slice(0, Math.floor(rows * 0.7));
  const test = data.slice(train.length);
  const dir = path.join(root, "listings");
  const columns = ["listing_id", "description", "category", "price", "photos"];
  await writeFiles(dir, {
    "train.csv": csv(train, [...columns, "fast_sale"]),
    "test.csv": csv(test, columns),
    "description.txt": "Predict whether each listing sells within a week (fast_sale: yes or no). Submissions are scored on accuracy.\n",
  });
  return {
    inputDir: dir,
    idColumn: "listing_id",
    labelColumn: "fast_sale",
    answers: new Map(test.map((row) => [String(row.listing_id), String(row.fast_sale)])),
  };
}

const DAY_MS = 86_400_000;

function isoDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

/**
 * Daily sales of five stores in long format (store, date, promo, sales):
 * each store's own level, a strong weekly pattern and a promotion lift. The
 * test file lists the next 14 days per store with the promotion plan and a
 * row id; `stores.csv` holds a static size per store.
 */
export async function generateStoreSalesTask(root: string, seed = 61, days = 140, horizon = 14): Promise<ForecastTask> {
  const random = new Random(seed);
  const stores = ["S01", "S02", "S03", "S04", "S05"];
  const start = Date.UTC(2024, 0, 1);
  const weekly = [0.8, 0.85, 0.9, 1.0, 1.2, 1.6, 1.3];
  const train: Row[] = [];
  const test: Row[] = [];
  const staticRows: Row[] = [];
  const truth = new Map<string, number>();
  const answers = new Map<string, number>();
  const itemMeans = new Map<string, number>();
  stores.forEach((store, index) => {
    const level = 50 + 40 * index;
    staticRows.push({ store, size_m2: 200 + 150 * index, region: index % 2 === 0 ? "north" : "south" });
    const sales = (day: number, promo: number) => {
      const weekday = new Date(start + day * DAY_MS).getUTCDay();
      return Number((level * weekly[weekday]! * (1 + 0.3 * promo) + random.normal() * level * 0.04).toFixed(2));
    };
    let total = 0;
    for (let day = 0; day < days; day++) {
      const promo = random.next() < 0.2 ? 1 : 0;
      const value = sales(day, promo);
      total += value;
      train.push({ store, date: isoDay(start + day * DAY_MS), promo, sales: value });
    }
    itemMeans.set(store, total / days);
    for (let step = 1; step <= horizon; step++) {
      const day = days - 1 + step;
      const promo = random.next() < 0.2 ? 1 : 0;
      const id = `F${String(index * horizon + step).padStart(3, "0")}`;
      const date = isoDay(start + day * DAY_MS);
      const value = sales(day, promo);
      test.push({ id, store, date, promo });
      truth.set(`${store}|${date}`, value);
      answers.set(id, value);
    }
  });
  const dir = path.join(root, "store-sales");
  await writeFiles(dir, {
    "train.csv": csv(train, ["store", "date", "promo", "sales"]),
    "test.csv": csv(test, ["id", "store", "date", "promo"]),
    "stores.csv": csv(staticRows, ["store", "size_m2", "region"]),
  });
  return { inputDir: dir, idColumn: "id", labelColumn: "sales", answers, itemMeans, truth, itemColumn: "store", timestampColumn: "date" };
}

/** Writes each sheet spec ({file, columns, rows, dates}) as an Excel workbook with openpyxl; date columns as real date cells. */
const WORKBOOK_WRITER = `
import datetime, json, os, sys
from openpyxl import Workbook

root = sys.argv[1]
for book in json.load(sys.stdin):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = book["sheet"]
    sheet.append(book["columns"])
    for row in book["rows"]:
        cells = []
        for column, value in zip(book["columns"], row):
            if column in book["dates"] and value is not None:
                value = datetime.date.fromisoformat(value)
            cells.append(value)
        sheet.append(cells)
    for index, column in enumerate(book["columns"]):
        if column in book["dates"]:
            for cell in sheet.iter_cols(min_col=index + 1, max_col=index + 1, min_row=2):
                for item in cell:
                    item.number_format = "yyyy-mm-dd"
    workbook.save(os.path.join(root, book["file"]))
`;

/**
 * Loan applications as Excel workbooks (train.xlsx, test.xlsx): numbers,
 * a categorical, a text id and a date column stored as Excel dates; whether
 * the loan was approved.
 */
export async function generateLoansWorkbookTask(root: string, seed = 71, rows = 600): Promise<ModalityTask> {
  const random = new Random(seed);
  const jobs = ["salaried", "self-employed", "student", "retired"] as const;
  const jobEffect = { salaried: 0.8, "self-employed": 0, student: -1.2, retired: -0.2 };
  const columns = ["application_id", "income", "age", "employment", "applied_on", "debt_ratio"];
  const data: Value[][] = [];
  const labels: string[] = [];
  for (let index = 0; index < rows; index++) {
    const employment = random.pick(jobs);
    const income = Math.round(15_000 + random.next() * 85_000);
    const age = random.int(19, 75);
    const debt = Number((random.next() * 0.8).toFixed(3));
    const logit = (income - 50_000) / 15_000 + jobEffect[employment] - 4 * (debt - 0.4) + random.normal() * 0.6;
    data.push([`A${String(100000 + index)}`, income, age, employment, isoDay(Date.UTC(2023, 0, 1) + random.int(0, 364) * DAY_MS), debt]);
    labels.push(logit > 0 ? "approved" : "declined");
  }
  const cut = Math.floor(rows * 0.7);
  const dir = path.join(root, "loans");
  await mkdir(dir, { recursive: true });
  await python(
    WORKBOOK_WRITER,
    [dir],
    [
      {
        file: "train.xlsx",
        sheet: "applications",
        columns: [...columns, "decision"],
        rows: data.slice(0, cut).map((row, index) => [...row, labels[index]!]),
        dates: ["applied_on"],
      },
      { file: "test.xlsx", sheet: "applications", columns, rows: data.slice(cut), dates: ["applied_on"] },
    ],
  );
  return {
    inputDir: dir,
    idColumn: "application_id",
    labelColumn: "decision",
    answers: new Map(data.slice(cut).map((row, index) => [String(row[0]), labels[cut + index]!])),
  };
}

/**
 * Orders (train.csv, test.csv) whose return depends mostly on the customer
 * who placed them, described in a side table (customers.csv, one row per
 * customer_id): the task needs the join. Scored on accuracy.
 */
export async function generateOrdersTask(root: string, seed = 83, customers = 150, rows = 900): Promise<ModalityTask> {
  const random = new Random(seed);
  const segments = ["bargain", "regular", "premium"] as const;
  const segmentEffect = { bargain: 1.4, regular: 0, premium: -1.4 };
  const people: Row[] = [];
  for (let index = 0; index < customers; index++) {
    people.push({
      customer_id: `C${String(index).padStart(4, "0")}`,
      age: random.int(18, 80),
      segment: random.pick(segments),
      loyalty_years: random.int(0, 12),
    });
  }
  const channels = ["web", "app", "store"] as const;
  const data: Row[] = [];
  for (let index = 0; index < rows; index++) {
    const person = random.pick(people);
    const basket = Number((10 + random.next() * 190).toFixed(2));
    const channel = random.pick(channels);
    const logit =
      1.5 +
      segmentEffect[person.segment as (typeof segments)[number]] -
      ((person.age as number) - 45) / 12 -
      (person.loyalty_years as number) / 4 +
      (basket - 100) / 120 +
      random.normal() * 0.4;
    data.push({
      order_id: 90000 + index,
      customer_id: person.customer_id,
      basket_value: basket,
      channel,
      returned: logit > 0 ? "yes" : "no",
    });
  }
  const train = data.slice(0, Math.floor(rows * 0.7));
  const test = data.slice(train.length);
  const dir = path.join(root, "orders");
  const columns = ["order_id", "customer_id", "basket_value", "channel"];
  await writeFiles(dir, {
    "train.csv": csv(train, [...columns, "returned"]),
    "test.csv": csv(test, columns),
    "customers.csv": csv(people, ["customer_id", "age", "segment", "loyalty_years"]),
    "notes.md": "Predict whether each order is returned. Evaluated on accuracy.\n",
  });
  return {
    inputDir: dir,
    idColumn: "order_id",
    labelColumn: "returned",
    answers: new Map(test.map((row) => [String(row.order_id), String(row.returned)])),
  };
}

const TOPICS = {
  billing: ["invoice", "refund", "charged", "payment", "card", "receipt", "price", "bill"],
  delivery: ["parcel", "courier", "arrived", "tracking", "late", "address", "shipping", "box"],
  account: ["password", "login", "email", "reset", "profile", "locked", "username", "verify"],
} as const;

/**
 * Support messages, one text file each, in class folders
 * (`messages/<topic>/*.txt`) and unlabelled ones in `messages_test/`,
 * some in a subfolder; predictions name each by its path in that folder.
 */
export async function generateMessageFoldersTask(root: string, seed = 97, perClass = 60, testFiles = 45): Promise<ModalityTask> {
  const random = new Random(seed);
  const topics = Object.keys(TOPICS) as (keyof typeof TOPICS)[];
  const message = (topic: keyof typeof TOPICS) => review(random, TOPICS[topic], random.int(2, 4), TOPICS[random.pick(topics)]);
  const files: Record<string, string> = {};
  for (const topic of topics) {
    for (let index = 0; index < perClass; index++) files[`messages/${topic}/${topic}-${index}.txt`] = `${message(topic)}\n`;
  }
  const answers = new Map<string, string>();
  for (let index = 0; index < testFiles; index++) {
    const topic = random.pick(topics);
    const name = `${index % 5 === 0 ? "late/" : ""}m${String(index).padStart(3, "0")}.txt`;
    files[`messages_test/${name}`] = `${message(topic)}\n`;
    answers.set(name, topic);
  }
  const dir = path.join(root, "messages");
  await writeFiles(dir, files);
  return { inputDir: dir, idColumn: "file", labelColumn: "label", answers };
}
