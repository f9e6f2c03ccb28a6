import { InvalidInputError } from "@mlzero/errors";
import { FileRole, Modality, ProblemType, type Metric, type OutputSpec } from "@mlzero/proto";
import { outputFromDescription } from "../description-hints.js";
import { findImagePathColumn, type ImageTable } from "../images/image-path-column.js";
import type { InferenceLog } from "../inference-log.js";
import { chooseForecastMetric, chooseMetric } from "../metrics.js";
import { detectTimeSeries, type SeriesShape } from "../time-series/detect-time-series.js";
import type { FolderFile } from "../walk-folder.js";
import { assignRoles, NO_TEST_FILE, type TabularRoles } from "./assign-roles.js";
import { findSideTables, type SideTable } from "./find-side-tables.js";
import { inferId } from "./infer-id.js";
import { inferLabel } from "./infer-label.js";
import { inferOutput } from "./infer-output.js";
import { inferPositiveClass } from "./infer-positive-class.js";
import { inferProblemType } from "./infer-problem-type.js";
import { columnsMissingFrom, quoteList, type TableFile } from "./table-file.js";
import { chooseTextModality } from "./text-columns.js";

/** A forecast: its shape, the columns known ahead and the per-item table. */
export interface SeriesTask {
  shape: SeriesShape;
  knownCovariates: string[];
  staticFeatures?: SideTable;
}

/** What perception learns about a task given as tables. */
export interface TabularTask {
  roles: TabularRoles;
  label: string;
  id?: string;
  problemType: ProblemType;
  labelValues: string[];
  metric: Metric;
  output: OutputSpec;
  modality: Modality;
  /** Free-text feature columns. */
  textColumns: string[];
  /** Side tables to join onto the training and test rows. */
  joins: SideTable[];
  series?: SeriesTask;
  images?: ImageTable;
}

/** What {@link perceiveTabular} works from. */
export interface PerceiveTabularOptions {
  tables: readonly TableFile[];
  /** Request and file description, whole (hints may sit past the length shown to later agents). */
  description: string;
  /** Base names of every input file, so the description's mentions of them are not read as the output name. */
  inputFileNames: readonly string[];
  /** Every file of the data folder, where images a table lists are looked up. */
  files: readonly FolderFile[];
  log: InferenceLog;
}

/**
 * Works out a task given as tables: which file is which, the label, whether
 * the tables list images or are series to forecast, the id, the problem
 * type, the metric and the output format, the side tables to join and the
 * free-text columns, each step recorded in the log with its evidence.
 */
export function perceiveTabular(options: PerceiveTabularOptions): TabularTask {
  const { tables, description, log } = options;
  const roles = assignRoles(tables, log);
  const { train, test } = roles;
  const label = inferLabel(roles, description, log);
  const images = roles.testIsSampleSubmission ? undefined : findImagePathColumn(train, test, label, options.files);
  const shape = images === undefined ? detectTimeSeries(train, test, label, description, log) : undefined;
  if (roles.testIsSampleSubmission && shape === undefined) throw new InvalidInputError(NO_TEST_FILE);
  const id = inferId(
    roles,
    label,
    log,
    shape === undefined ? [] : [shape.timestamp, ...(shape.item === undefined ? [] : [shape.item])],
    outputFromDescription(description, options.inputFileNames)?.columns,
  );

  let problemType: ProblemType;
  let labelValues: string[];
  if (shape !== undefined) {
    problemType = ProblemType.REGRESSION;
    labelValues = [];
    log.add("problem_type", "regression", `a forecast of the numbers in '${label}' (modality time series)`);
  } else {
    ({ problemType, labelValues } = inferProblemType(train, label, description, log));
  }
  if (images !== undefined && problemType === ProblemType.REGRESSION) {
    throw new InvalidInputError(
      `label '${label}' holds numbers with many values, but image tasks are classification only: the image tools predict classes`,
    );
  }
  const { metric, evidence } = shape === undefined ? chooseMetric(description, problemType) : chooseForecastMetric(description);
  log.add("metric", metric.name, evidence);
  const seriesColumns =
    shape === undefined
      ? undefined
      : [...(id === undefined ? [] : [id]), ...(shape.item === undefined ? [] : [shape.item]), shape.timestamp, label];
  const output = inferOutput(
    roles,
    {
      label,
      id,
      labelValues,
      description,
      inputFileNames: options.inputFileNames,
      ...(seriesColumns === undefined
        ? {}
        : { defaults: { columns: seriesColumns, evidence: "the id (if any), the item, the time stamp and the forecast" } }),
    },
    log,
  );
  output.positiveClass = inferPositiveClass({ problemType, metric: metric.name, label, labelValues, sample: roles.sampleSubmission }, log);

  const main = [train, test, ...(roles.sampleSubmission === undefined ? [] : [roles.sampleSubmission])];
  const sides = findSideTables(tables, main, train, test, label);
  const task = { roles, label, ...(id === undefined ? {} : { id }), problemType, labelValues, metric, output };
  if (images !== undefined) {
    log.add("modality", "image", `column '${images.column}' lists image files (${images.trainFiles.length} training images found)`);
    recordImageTable(images, train, log);
    return { ...task, modality: Modality.IMAGE, textColumns: [], joins: [], images };
  }
  if (shape !== undefined) {
    log.add(
      "modality",
      "time_series",
      `rows of (${shape.item === undefined ? "" : `${shape.item}, `}${shape.timestamp}, ${label}) and future rows to forecast`,
    );
    return { ...task, modality: Modality.TIME_SERIES, textColumns: [], joins: [], series: seriesTask(shape, roles, label, id, sides, log) };
  }
  for (const side of sides) recordJoin(side, log);
  const features = test.table.columns.filter((column) => column !== label && column !== id && train.table.columns.includes(column));
  const text = chooseTextModality(
    [{ file: train, columns: features }, ...sides.map((side) => ({ file: side.table, columns: side.columns }))],
    log,
  );
  if (text.modality === Modality.TABULAR)
    log.add("modality", "tabular", `${tables.length} table file${tables.length === 1 ? "" : "s"}, no free-text column`);
  return { ...task, modality: text.modality, textColumns: text.textColumns, joins: sides };
}

/** The columns a forecast knows ahead (in both tables), those it knows only for the past, and a per-item table. */
function seriesTask(
  shape: SeriesShape,
  roles: TabularRoles,
  label: string,
  id: string | undefined,
  sides: readonly SideTable[],
  log: InferenceLog,
): SeriesTask {
  const { train, test } = roles;
  const roleColumns = new Set([shape.timestamp, shape.item, id, label]);
  const knownCovariates = roles.testIsSampleSubmission
    ? []
    : test.table.columns.filter((column) => !roleColumns.has(column) && train.table.columns.includes(column));
  const pastOnly = columnsMissingFrom(train, test).filter((column) => !roleColumns.has(column));
  log.add(
    "time_series.known_covariates",
    knownCovariates.join(","),
    knownCovariates.length === 0
      ? `${test.file.path} gives no column besides the item and time stamp`
      : `${quoteList(knownCovariates)} ${knownCovariates.length === 1 ? "is" : "are"} given for the rows to forecast in ${test.file.path}`,
  );
  if (pastOnly.length > 0)
    log.add(
      "time_series.past_only_columns",
      pastOnly.join(","),
      `${quoteList(pastOnly)} ${pastOnly.length === 1 ? "is" : "are"} known only for the past: not features of future steps`,
    );
  const staticFeatures =
    shape.item === undefined ? undefined : sides.find((side) => side.key === shape.item && side.table.excel === undefined);
  if (staticFeatures !== undefined) {
    log.add(
      "time_series.static_features_file",
      staticFeatures.table.file.path,
      `one row per '${shape.item}' with ${quoteList(staticFeatures.columns)}, covering ${Math.round(staticFeatures.coverage * 100)}% of the training rows`,
    );
  }
  for (const side of sides) {
    if (side !== staticFeatures)
      log.add("unused_table", side.table.file.path, `forecasts take per-item features keyed by the item column only`);
  }
  return { shape, knownCovariates, ...(staticFeatures === undefined ? {} : { staticFeatures }) };
}

function recordJoin(side: SideTable, log: InferenceLog): void {
  log.add(
    "join",
    `${side.table.file.path} on ${side.key}`,
    `it shares only '${side.key}' with the training and test tables, holds one row per ${side.key} and matches ${Math.round(side.coverage * 100)}% of the training rows; it adds ${quoteList(side.columns)}`,
  );
}

function recordImageTable(images: ImageTable, train: TableFile, log: InferenceLog): void {
  log.add("images.layout", "table", `column '${images.column}' of ${train.file.path} holds image paths`);
  log.add(
    "images.root",
    images.root,
    `the listed paths are relative to ${images.root === "" ? "the data folder" : `${images.root}/`}${images.missing > 0 ? `; ${images.missing} listed training images are missing` : ""}`,
  );
}

/** The role a table plays in the task. */
export function tableRole(task: TabularTask, table: TableFile): FileRole {
  if (table === task.roles.train) return FileRole.TRAIN;
  if (table === task.roles.test) return task.roles.testIsSampleSubmission ? FileRole.SAMPLE_SUBMISSION : FileRole.TEST;
  if (table === task.roles.sampleSubmission) return FileRole.SAMPLE_SUBMISSION;
  return FileRole.OTHER_DATA;
}
