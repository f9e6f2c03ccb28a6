import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { ProgramConfig } from "@mlzero/program";
import { baseConfig as tabularBaseConfig, normal, random } from "./synthetic-tasks.js";

/**
 * Small generated forecasting and image classification tasks with a known
 * signal, for running the `timeseries-gbm` and `image-pixels` templates end
 * to end: the shapes real data folders have (text item ids, unsorted rows,
 * gaps, known covariates, static features; class subfolders, CSV-listed
 * files, mixed image modes and sizes, a broken file) at a size that trains in
 * seconds. Seeded: the same call gives the same files everywhere.
 */

function integer(uniform: () => number, low: number, high: number): number {
  return low + Math.floor(uniform() * (high - low + 1));
}

function csv(header: string[], rows: (string | number)[][]): string {
  return [header.join(","), ...rows.map((row) => row.join(","))].join("\n") + "\n";
}

/** The tabular tasks' base plus CSV files, a regression default and no series or image block. */
function baseConfig(): ProgramConfig {
  return {
    train_path: "",
    test_path: "",
    train_format: "csv",
    test_format: "csv",
    ...tabularBaseConfig(),
    problem_type: "regression",
    timeseries: null,
    images: null,
  };
}

/** One future value the forecaster must write, with the seasonal-naive forecast of it. */
export interface FutureValue {
  /** Row id from the test file, when the task has one. */
  id: string | undefined;
  item: string;
  /** The time stamp as the predictions file must write it (YYYY-MM-DD). */
  timestamp: string;
  truth: number;
  seasonalNaive: number;
}

/** A forecasting task: input files, the config, and the truth of every future step. */
export interface SeriesTask {
  name: string;
  /** Files to write under the task's `input/` folder, by file name. */
  files: Record<string, string>;
  config: ProgramConfig;
  /** Every output row the program must write, in the order of the test file when there is one. */
  future: FutureValue[];
}

const DAY_MS = 86_400_000;

function isoDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

/** First day of the month `months` after January 2015. */
function monthStart(months: number): string {
  const date = new Date(Date.UTC(2015, months, 1));
  return isoDay(date.getTime());
}

/** Seasonal-naive forecasts of `steps` values after `history`: the value one season earlier. */
function seasonalNaive(history: number[], steps: number, season: number): number[] {
  const n = history.length;
  return Array.from({ length: steps }, (_, index) => history[n - season + (index % season)]!);
}

/** Deterministic in-place shuffle, so the program must sort the rows itself. */
function shuffle<T>(uniform: () => number, values: T[]): T[] {
  for (let index = values.length - 1; index > 0; index--) {
    const other = Math.floor(uniform() * (index + 1));
    [values[index], values[other]] = [values[other]!, values[index]!];
  }
  return values;
}

/**
 * Daily sales of six stores (ids "001".."006", which must stay text), each
 * with its own start date, level, linear trend and weekly pattern, plus a
 * known `promo` covariate that lifts sales by 40% of the level, a static
 * `size` per store (static features file) and a `visitors` column known only
 * for the past, which a program must not use for the future. The training
 * rows are shuffled. The test file lists the 14 future days per store with a
 * row id and the promo plan; predictions are written per test row.
 */
export function dailySalesTask(horizon = 14): SeriesTask {
  const uniform = random(101);
  const stores = ["001", "002", "003", "004", "005", "006"];
  const start = Date.UTC(2023, 0, 2);
  const end = Date.UTC(2023, 6, 1); // last training day, for every store
  const trainRows: (string | number)[][] = [];
  const testRows: (string | number)[][] = [];
  const staticRows: (string | number)[][] = [];
  const future: FutureValue[] = [];
  stores.forEach((store, storeIndex) => {
    const first = start + integer(uniform, 0, 40) * DAY_MS;
    const level = 40 + 25 * storeIndex + 10 * uniform();
    const slope = (0.04 + 0.12 * uniform()) * (storeIndex % 2 === 0 ? 1 : -0.5);
    const weekly = Array.from({ length: 7 }, (_, day) => (day >= 5 ? 0.35 : 0.05 * day) + 0.08 * normal(uniform));
    const size = storeIndex % 3 === 0 ? "large" : "small";
    staticRows.push([store, size, Number((100 + 40 * storeIndex).toFixed(0))]);
    const value = (time: number, promo: number): number => {
      const t = (time - start) / DAY_MS;
      const base = level + slope * t;
      const noise = 0.04 * level * normal(uniform);
      return Math.max(0, base * (1 + weekly[(new Date(time).getUTCDay() + 6) % 7]!) + promo * 0.4 * level + noise);
    };
    const history: number[] = [];
    for (let time = first; time <= end; time += DAY_MS) {
      const promo = uniform() < 0.15 ? 1 : 0;
      const sales = Number(value(time, promo).toFixed(2));
      history.push(sales);
      trainRows.push([store, isoDay(time), sales, promo, Math.round(sales * (3 + uniform()))]);
    }
    const naive = seasonalNaive(history, horizon, 7);
    for (let step = 1; step <= horizon; step++) {
      const time = end + step * DAY_MS;
      const promo = uniform() < 0.25 ? 1 : 0;
      const id = `f${String(storeIndex * horizon + step).padStart(4, "0")}`;
      testRows.push([id, store, isoDay(time), promo]);
      future.push({ id, item: store, timestamp: isoDay(time), truth: value(time, promo), seasonalNaive: naive[step - 1]! });
    }
  });
  return {
    name: "daily-sales",
    files: {
      "train.csv": csv(["store", "date", "sales", "promo", "visitors"], shuffle(uniform, trainRows)),
      "test.csv": csv(["id", "store", "date", "promo"], testRows),
      "stores.csv": csv(["store", "size", "area"], staticRows),
    },
    config: {
      ...baseConfig(),
      train_path: "../input/train.csv",
      test_path: "../input/test.csv",
      label_column: "sales",
      id_column: "id",
      metric: "mase",
      output_columns: ["id", "store", "date", "sales"],
      timeseries: {
        item_column: "store",
        timestamp_column: "date",
        horizon,
        frequency: "D",
        season_length: null,
        known_covariates: ["promo"],
        static_features_path: "../input/stores.csv",
      },
    },
    future,
  };
}

/**
 * Monthly demand of four products over six years (first-of-month stamps),
 * trend plus yearly seasonality and noise, as JSON lines; one product lacks
 * two months (a gap the program must put back on the grid). No test file and
 * no frequency: the program infers "MS" and makes the future rows itself.
 */
export function monthlyDemandTask(horizon = 6): SeriesTask {
  const uniform = random(202);
  const products = ["p-a", "p-b", "p-c", "p-d"];
  const months = 72;
  const rows: Record<string, string | number>[] = [];
  const future: FutureValue[] = [];
  products.forEach((product, productIndex) => {
    const level = 200 + 150 * productIndex;
    const growth = 0.006 + 0.004 * productIndex;
    const phase = uniform() * 12;
    const value = (month: number): number =>
      level * (1 + growth * month) * (1 + 0.25 * Math.sin((2 * Math.PI * (month + phase)) / 12)) + 0.03 * level * normal(uniform);
    const history: number[] = [];
    for (let month = 0; month < months; month++) {
      const demand = Number(value(month).toFixed(2));
      history.push(demand);
      if (productIndex === 2 && (month === 30 || month === 31)) continue;
      rows.push({ product, month: monthStart(month), demand });
    }
    const naive = seasonalNaive(history, horizon, 12);
    for (let step = 1; step <= horizon; step++) {
      future.push({
        id: undefined,
        item: product,
        timestamp: monthStart(months - 1 + step),
        truth: value(months - 1 + step),
        seasonalNaive: naive[step - 1]!,
      });
    }
  });
  return {
    name: "monthly-demand",
    files: {
      "history.jsonl":
        shuffle(uniform, rows)
          .map((row) => JSON.stringify(row))
          .join("\n") + "\n",
    },
    config: {
      ...baseConfig(),
      train_path: "../input/history.jsonl",
      train_format: "jsonl",
      test_path: "",
      test_format: "",
      label_column: "demand",
      metric: "smape",
      output_path: "outputs/forecast.csv",
      output_columns: ["product", "month", "demand"],
      timeseries: {
        item_column: "product",
        timestamp_column: "month",
        horizon,
        frequency: null,
        season_length: null,
        known_covariates: [],
        static_features_path: null,
      },
    },
    future,
  };
}

/** How the painter draws one image: a filled shape on a noisy background. */
export interface ImageSpec {
  /** Path under the task's `input/` folder. */
  file: string;
  shape: "circle" | "square" | "triangle";
  width: number;
  height: number;
  /** Pillow mode the file is saved in: "RGB", "RGBA", "P", "L". */
  mode: string;
  background: [number, number, number];
  foreground: [number, number, number];
  /** Centre and half-size as fractions of the shorter side. */
  cx: number;
  cy: number;
  radius: number;
  noiseSeed: number;
}

/** An image classification task: tables, images to paint, and the truth of the test images. */
export interface ImageTask {
  name: string;
  /** Text files to write under `input/` (tables, a broken "image", a stray note). */
  files: Record<string, string>;
  images: ImageSpec[];
  config: ProgramConfig;
  testIds: string[];
  testTruth: string[];
}

const SHAPES = ["circle", "square", "triangle"] as const;

function colour(uniform: () => number): [number, number, number] {
  return [integer(uniform, 0, 255), integer(uniform, 0, 255), integer(uniform, 0, 255)];
}

function luminance([red, green, blue]: [number, number, number]): number {
  return 0.299 * red + 0.587 * green + 0.114 * blue;
}

/** How big the shapes are: half-size as a fraction of the shorter side, from `min` to `min + spread`. */
interface ShapeScale {
  min: number;
  spread: number;
}

const LARGE_SHAPES: ShapeScale = { min: 0.2, spread: 0.12 };
/** Small shapes leave room to wander: the same class sits anywhere in a mostly empty frame. */
const SMALL_SHAPES: ShapeScale = { min: 0.1, spread: 0.06 };

/** A random shape, colours with enough contrast, anywhere in the frame. */
function shapeSpec(
  uniform: () => number,
  file: string,
  shape: ImageSpec["shape"],
  mode: string,
  size: [number, number],
  scale: ShapeScale = LARGE_SHAPES,
): ImageSpec {
  let background = colour(uniform);
  let foreground = colour(uniform);
  while (Math.abs(luminance(background) - luminance(foreground)) < 70) {
    background = colour(uniform);
    foreground = colour(uniform);
  }
  const radius = scale.min + scale.spread * uniform();
  return {
    file,
    shape,
    width: size[0],
    height: size[1],
    mode,
    background,
    foreground,
    cx: radius + 0.05 + uniform() * (1 - 2 * radius - 0.1),
    cy: radius + 0.05 + uniform() * (1 - 2 * radius - 0.1),
    radius,
    noiseSeed: integer(uniform, 1, 1_000_000),
  };
}

/** The config of a shapes task given as class folders: train/<shape>/ and a flat test/ folder. */
function shapeFoldersConfig(): ProgramConfig {
  return {
    ...baseConfig(),
    train_path: "../input/train",
    test_path: "../input/test",
    train_format: "",
    test_format: "",
    label_column: "label",
    id_column: "image",
    problem_type: "multiclass",
    metric: "accuracy",
    output_columns: ["image", "label"],
    label_values: [...SHAPES],
    images: { layout: "folders", root: "../input/train", path_column: null, test_root: "../input/test" },
  };
}

/**
 * Three classes of shapes in class subfolders (`train/<shape>/`), colours and
 * positions random, saved in mixed modes (RGB, RGBA, palette P, grayscale L)
 * and sizes, one JPEG per few files; `train/square/broken.png` is not an
 * image and `train/notes.txt` is not one either. Unlabelled test images sit
 * in `test/`, predicted with the file name as id.
 */
export function shapeFoldersTask(perClass = 60, testImages = 60): ImageTask {
  const uniform = random(303);
  const modes = ["RGB", "RGB", "RGB", "RGBA", "P", "L"];
  const sizes: [number, number][] = [
    [40, 40],
    [48, 36],
    [64, 64],
    [36, 52],
  ];
  const images: ImageSpec[] = [];
  for (const shape of SHAPES) {
    for (let index = 0; index < perClass; index++) {
      const mode = modes[integer(uniform, 0, modes.length - 1)]!;
      const extension = mode === "RGB" && index % 4 === 0 ? "jpg" : "png";
      images.push(shapeSpec(uniform, `train/${shape}/${shape}_${index}.${extension}`, shape, mode, sizes[index % sizes.length]!));
    }
  }
  const testIds: string[] = [];
  const testTruth: string[] = [];
  for (let index = 0; index < testImages; index++) {
    const shape = SHAPES[integer(uniform, 0, 2)]!;
    const name = `img_${String(index).padStart(3, "0")}.png`;
    images.push(shapeSpec(uniform, `test/${name}`, shape, modes[index % modes.length]!, sizes[index % sizes.length]!));
    testIds.push(name);
    testTruth.push(shape);
  }
  return {
    name: "shape-folders",
    files: { "train/square/broken.png": "this is not a PNG file\n", "train/notes.txt": "shapes, one folder per class\n" },
    images,
    config: shapeFoldersConfig(),
    testIds,
    testTruth,
  };
}

/**
 * The same three shapes as grayscale (mode L) PNG files in one flat folder,
 * listed in `train.csv` (file, label) and `test.csv` (id, file); the program
 * writes one probability column per class.
 */
export function shapeTableTask(perClass = 70, testImages = 60): ImageTask {
  const uniform = random(404);
  const images: ImageSpec[] = [];
  const trainRows: string[][] = [];
  for (const shape of SHAPES) {
    for (let index = 0; index < perClass; index++) {
      const file = `${shape.slice(0, 2)}${String(index).padStart(3, "0")}.png`;
      images.push(shapeSpec(uniform, `images/${file}`, shape, "L", [32, 32]));
      trainRows.push([file, shape]);
    }
  }
  const testIds: string[] = [];
  const testTruth: string[] = [];
  const testRows: string[][] = [];
  for (let index = 0; index < testImages; index++) {
    const shape = SHAPES[integer(uniform, 0, 2)]!;
    const file = `t${String(index).padStart(3, "0")}.png`;
    images.push(shapeSpec(uniform, `images/${file}`, shape, "L", [32, 32]));
    const id = String(1000 + index);
    testRows.push([id, file]);
    testIds.push(id);
    testTruth.push(shape);
  }
  return {
    name: "shape-table",
    files: { "train.csv": csv(["file", "label"], shuffle(uniform, trainRows)), "test.csv": csv(["id", "file"], testRows) },
    images,
    config: {
      ...baseConfig(),
      train_path: "../input/train.csv",
      test_path: "../input/test.csv",
      label_column: "label",
      id_column: "id",
      problem_type: "multiclass",
      metric: "log_loss",
      output_columns: ["id", ...SHAPES],
      class_probabilities: true,
      label_values: [...SHAPES],
      images: { layout: "csv", root: "../input/images", path_column: "file", test_root: null },
    },
    testIds,
    testTruth,
  };
}

/**
 * Small shapes (a fifth to a third of the frame across) at random positions in
 * 32x32 RGB images, in class folders with a test folder: the class is the
 * shape, wherever it sits, so a model must find it anywhere in the frame
 * (convolutions with pooling are built for this; flattened pixels are not).
 */
export function movingShapesTask(perClass = 150, testImages = 90): ImageTask {
  const uniform = random(505);
  const images: ImageSpec[] = [];
  for (const shape of SHAPES) {
    for (let index = 0; index < perClass; index++) {
      images.push(shapeSpec(uniform, `train/${shape}/${shape}_${index}.png`, shape, "RGB", [32, 32], SMALL_SHAPES));
    }
  }
  const testIds: string[] = [];
  const testTruth: string[] = [];
  for (let index = 0; index < testImages; index++) {
    const shape = SHAPES[index % SHAPES.length]!;
    const name = `m_${String(index).padStart(3, "0")}.png`;
    images.push(shapeSpec(uniform, `test/${name}`, shape, "RGB", [32, 32], SMALL_SHAPES));
    testIds.push(name);
    testTruth.push(shape);
  }
  return {
    name: "moving-shapes",
    files: {},
    images,
    config: shapeFoldersConfig(),
    testIds,
    testTruth,
  };
}

/** Draws the specs with Pillow (numpy noise from each spec's seed), so the files are deterministic. */
const PAINTER = `
import json, os, sys
import numpy as np
from PIL import Image, ImageDraw

root = sys.argv[1]
for spec in json.load(sys.stdin):
    width, height = spec["width"], spec["height"]
    side = min(width, height)
    image = Image.new("RGB", (width, height), tuple(spec["background"]))
    draw = ImageDraw.Draw(image)
    cx, cy, r = spec["cx"] * width, spec["cy"] * height, spec["radius"] * side
    fill = tuple(spec["foreground"])
    if spec["shape"] == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif spec["shape"] == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill)
    noise = np.random.default_rng(spec["noiseSeed"]).normal(0, 12, (height, width, 3))
    pixels = np.clip(np.asarray(image, dtype="float64") + noise, 0, 255).astype("uint8")
    image = Image.fromarray(pixels, "RGB")
    if spec["mode"] == "RGBA":
        image = image.convert("RGBA")
        image.putalpha(Image.new("L", image.size, 180))
    elif spec["mode"] == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    elif spec["mode"] == "L":
        image = image.convert("L")
    path = os.path.join(root, spec["file"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path, quality=90) if path.endswith(".jpg") else image.save(path)
`;

/** Writes an image task's tables and stray files, then paints its images with `python` (Pillow and numpy). */
export async function writeImageTaskInput(taskDir: string, task: ImageTask, python: string): Promise<void> {
  const input = path.join(taskDir, "input");
  for (const [name, content] of Object.entries(task.files)) {
    await mkdir(path.dirname(path.join(input, name)), { recursive: true });
    await writeFile(path.join(input, name), content);
  }
  const painter = promisify(execFile)(python, ["-c", PAINTER, input], { maxBuffer: 4 * 1024 * 1024 });
  painter.child.stdin!.end(JSON.stringify(task.images));
  await painter;
}
