import { basename, extname } from "node:path";
import { create } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import {
  DataFileSchema,
  FileRole,
  ImageLayout,
  ImageSpecSchema,
  Modality,
  PerceptualContextSchema,
  TableJoinSchema,
  TimeSeriesSpecSchema,
  type DataFile,
  type PerceptualContext,
  type Tool,
} from "@mlzero/proto";
import { detectTableFormat } from "@mlzero/tables";
import type { ClassFolderTask } from "./class-folder-task.js";
import { findClassFolders, isInside, type ClassFolders } from "./class-folders.js";
import { joinTables, writeDerivedTable } from "./derived-tables.js";
import {
  capDescription,
  findDescriptionFile,
  isDescriptionName,
  isTextFile,
  joinDescriptions,
  readDescriptionFile,
} from "./description.js";
import { isSampleSubmissionName, isTestName, isTrainName } from "./file-names.js";
import { isImageFile } from "./images/image-files.js";
import { listsImages } from "./images/image-path-column.js";
import { perceiveImageFolders } from "./images/perceive-image-folders.js";
import { sampleImages } from "./images/sample-images.js";
import { InferenceLog } from "./inference-log.js";
import { findHintedTool, rankTools } from "./rank-tools.js";
import { perceiveTabular, tableRole, type TabularTask } from "./tabular/perceive-tabular.js";
import { isExcelFile, readTables, type TableCandidate } from "./tabular/read-tables.js";
import type { TableFile } from "./tabular/table-file.js";
import { perceiveTextFolders, TEXT_COLUMN } from "./text-files/perceive-text-files.js";
import { MAX_FILES, walkFolder, type FolderFile } from "./walk-folder.js";

/** What {@link perceive} profiles. */
export interface PerceiveOptions {
  /** The data folder. */
  inputDir: string;
  /** Description given with the task, read before any description file. */
  description?: string;
  /** A registry tool to rank first. */
  toolHint?: string;
  /** The tool registry (memory's ListTools). */
  tools: Tool[];
  /** GPUs each program run gets (the task's Budget.gpus): GPU-variant tools are ranked only when > 0. */
  gpus?: number;
  /**
   * The task's workspace folder (the data folder's parent). Tables derived
   * for the programs (Excel sheets as CSV, joined tables, text files
   * gathered into rows) are written to its derived/ folder; without it they
   * are only described.
   */
  taskDir?: string;
}

/** What every kind of task tells the context, besides the files. */
type TaskFacts = Omit<
  Partial<PerceptualContext>,
  "$typeName" | "$unknown" | "files" | "tools" | "inferences" | "description" | "descriptionFile"
> & {
  modality: Modality;
  /** The role of a file the task uses, by path; undefined for the rest. */
  roleOf(file: FolderFile): { role: FileRole; format?: string } | undefined;
};

/**
 * Profiles a raw data folder into the typed context later agents work from:
 * every file and its role, the modality (tables, free text, text with
 * tables, images, time series), the label, id, problem type, metric, output
 * format and a ranking of registry tools, each inference with its evidence.
 * Images or text files in class folders are tasks of their own; anything
 * else is read as tables (tabular/), which may turn out to list images, hold
 * free text or be series to forecast. Bad input is a DomainError with a
 * one-line message saying how to fix it.
 */
export async function perceive(options: PerceiveOptions): Promise<PerceptualContext> {
  const hinted = findHintedTool(options.tools, options.toolHint);
  const { files, truncated } = await walkFolder(options.inputDir);
  const log = new InferenceLog();
  if (truncated)
    log.add("files", String(files.length), `the folder has more than ${MAX_FILES} files; only the first ${MAX_FILES} are listed`);

  const candidates = tableCandidates(files);
  const tables = await readTables(candidates);
  // Tables that list images (a sample submission aside) lay the task out themselves, whatever folders the images sit in.
  const listed = tables.some((table) => !isSampleSubmissionName(table.file.path) && listsImages(table));
  const imageFolders = listed ? undefined : exampleFolders(files, isImageFile, tables.length === 0);
  const textFolders = imageFolders === undefined ? exampleFolders(files, isTextFile, false) : undefined;
  const examples = textFolders === undefined ? [] : [...textFolders.classes.values(), textFolders.testFiles].flat();
  const candidatePaths = new Set([...candidates.map((candidate) => candidate.file.path), ...examples.map((file) => file.path)]);
  const found = findDescriptionFile(files.filter((file) => isTextFile(file.path) && !candidatePaths.has(file.path)));
  if (found !== undefined) log.add("description_file", found.file.path, found.evidence);
  const fullDescription = joinDescriptions(options.description, found === undefined ? undefined : await readDescriptionFile(found.file));
  const inputFileNames = files.map((file) => basename(file.path));

  let facts: TaskFacts;
  if (imageFolders !== undefined) {
    facts = await imageFolderFacts(imageFolders, tables, fullDescription, inputFileNames, log);
  } else if (textFolders !== undefined) {
    facts = await textFolderFacts(textFolders, tables, fullDescription, inputFileNames, options.taskDir, log);
  } else {
    if (tables.length === 0) {
      throw new InvalidInputError(
        "no data files found in the input folder: expected tables (CSV, TSV, JSON, JSON Lines, Parquet or Excel .xlsx), or images or text files in class folders (train/<class>/...) with a test/ folder",
      );
    }
    facts = await tabularFacts(perceiveTabular({ tables, description: fullDescription, inputFileNames, files, log }), options.taskDir, log);
  }

  const gpus = options.gpus ?? 0;
  const tools = rankTools(options.tools, facts.modality, facts.problemType!, hinted, gpus);
  if (tools.length === 0) log.add("tools", "", "no registry tool covers this modality and problem type");
  else if (gpus === 0 && options.tools.some((tool) => tool.needsGpu && tools.every((candidate) => candidate.name !== tool.name)))
    log.add("tools", tools[0]!.name, "runs get no GPU (Budget.gpus is 0), so GPU-variant tools are left out");
  const byPath = new Map(tables.map((table) => [table.file.path, table]));
  const { roleOf, ...context } = facts;
  return create(PerceptualContextSchema, {
    ...context,
    files: files.map((file) => describeFile(file, byPath.get(file.path), roleOf(file), found?.file)),
    descriptionFile: found?.file.path ?? "",
    description: capDescription(fullDescription),
    tools,
    inferences: log.entries,
  });
}

/**
 * Examples in class folders with a folder of examples to predict; class
 * folders without one count only when `alone` (nothing else could be the
 * task, so perceiving them says what is missing).
 */
function exampleFolders(files: readonly FolderFile[], isExample: (path: string) => boolean, alone: boolean): ClassFolders | undefined {
  const folders = findClassFolders(files, isExample);
  return folders !== undefined && (folders.testFiles.length > 0 || alone) ? folders : undefined;
}

/** The facts a class-folder task states the same way whatever its examples are (images, text files). */
function classFolderFacts(task: ClassFolderTask): Omit<TaskFacts, "modality" | "roleOf"> {
  return {
    trainFile: task.folders.root,
    testFile: task.folders.testRoot,
    sampleSubmissionFile: task.sampleSubmission?.file.path ?? "",
    labelColumn: task.label,
    idColumn: task.id,
    problemType: task.problemType,
    metric: task.metric,
    output: task.output,
    labelValues: task.labelValues,
  };
}

async function imageFolderFacts(
  folders: ClassFolders,
  tables: readonly TableFile[],
  description: string,
  inputFileNames: readonly string[],
  log: InferenceLog,
): Promise<TaskFacts> {
  const task = await perceiveImageFolders({ folders, tables, description, inputFileNames, log });
  return {
    modality: Modality.IMAGE,
    ...classFolderFacts(task),
    images: task.spec,
    roleOf: (file) => exampleRole(file, folders, isImageFile, imageFormat(file.path)) ?? sampleRole(file, task.sampleSubmission),
  };
}

async function textFolderFacts(
  folders: ClassFolders,
  tables: readonly TableFile[],
  description: string,
  inputFileNames: readonly string[],
  taskDir: string | undefined,
  log: InferenceLog,
): Promise<TaskFacts> {
  const task = await perceiveTextFolders({ folders, tables, description, inputFileNames, taskDir, log });
  return {
    modality: Modality.TEXT,
    ...classFolderFacts(task),
    textColumns: [TEXT_COLUMN],
    derivedTrainFile: task.derived?.train ?? "",
    derivedTestFile: task.derived?.test ?? "",
    roleOf: (file) => exampleRole(file, folders, isTextFile, "text") ?? sampleRole(file, task.sampleSubmission),
  };
}

async function tabularFacts(task: TabularTask, taskDir: string | undefined, log: InferenceLog): Promise<TaskFacts> {
  const { train, test } = task.roles;
  for (const table of [train, test]) {
    const delimiter = table.table.delimiter;
    if (table.excel === undefined && delimiter !== undefined && delimiter !== "," && delimiter !== "\t") {
      log.add("delimiter", delimiter, `${table.file.path} separates its fields with '${delimiter}'`);
    }
    if (table.excel !== undefined) {
      const { sheet, sheets } = table.excel;
      log.add(
        "excel_sheet",
        `${table.file.path}: ${sheet}`,
        sheets.length === 1
          ? "the workbook's only sheet"
          : `the first of its ${sheets.length} sheets (${sheets.join(", ")}); the others are not read`,
      );
    }
  }
  const derived = await deriveTables(task, taskDir, log);
  const images = task.images;
  const series = task.series;
  const imageFiles = new Map([
    ...(images?.trainFiles ?? []).map((file) => [file.path, FileRole.TRAIN] as const),
    ...(images?.testFiles ?? []).map((file) => [file.path, FileRole.TEST] as const),
  ]);
  return {
    modality: task.modality,
    trainFile: train.file.path,
    testFile: test.file.path,
    sampleSubmissionFile: task.roles.sampleSubmission?.file.path ?? "",
    labelColumn: task.label,
    idColumn: task.id ?? "",
    problemType: task.problemType,
    metric: task.metric,
    output: task.output,
    labelValues: task.labelValues,
    textColumns: task.textColumns,
    joins: task.joins.map((side) => create(TableJoinSchema, { file: side.table.file.path, key: side.key, columns: side.columns })),
    derivedTrainFile: derived.train ?? "",
    derivedTestFile: derived.test ?? "",
    ...(images === undefined
      ? {}
      : {
          images: create(ImageSpecSchema, {
            layout: ImageLayout.TABLE,
            root: images.root,
            pathColumn: images.column,
            trainImages: BigInt(images.trainFiles.length),
            testImages: BigInt(images.testFiles.length),
            ...(await sampleImages([images.trainFiles, images.testFiles], log)),
          }),
        }),
    ...(series === undefined
      ? {}
      : {
          timeSeries: create(TimeSeriesSpecSchema, {
            itemColumn: series.shape.item ?? "",
            timestampColumn: series.shape.timestamp,
            horizon: series.shape.horizon,
            frequency: series.shape.frequency?.alias ?? "",
            knownCovariates: series.knownCovariates,
            staticFeaturesFile: series.staticFeatures?.table.file.path ?? "",
            trainItems: BigInt(series.shape.trainItems),
            forecastItems: BigInt(series.shape.forecastItems),
          }),
        }),
    roleOf: (file) => {
      const table = [train, test, task.roles.sampleSubmission].find((candidate) => candidate?.file === file);
      if (table !== undefined) return { role: tableRole(task, table) };
      const role = imageFiles.get(file.path);
      return role === undefined ? undefined : { role, format: imageFormat(file.path) };
    },
  };
}

/**
 * Writes the tables programs read instead of the training and test files:
 * an Excel sheet as CSV, or a table with its side tables joined on. A
 * forecast's sample submission standing in for the test table is read as it is.
 */
async function deriveTables(task: TabularTask, taskDir: string | undefined, log: InferenceLog): Promise<{ train?: string; test?: string }> {
  const derived: { train?: string; test?: string } = {};
  const roles = [
    ["train", task.roles.train],
    ["test", task.roles.testIsSampleSubmission ? undefined : task.roles.test],
  ] as const;
  for (const [role, table] of roles) {
    if (table === undefined || (table.excel === undefined && task.joins.length === 0)) continue;
    const field = `derived_${role}_file`;
    const how = [
      table.excel === undefined ? "" : `sheet '${table.excel.sheet}' of ${table.file.path} as CSV`,
      task.joins.length === 0
        ? ""
        : `${table.file.path} joined with ${task.joins.map((side) => `${side.table.file.path} on ${side.key}`).join(", ")}`,
    ].filter((part) => part !== "");
    if (taskDir === undefined) {
      log.add(field, "", `not written (no task folder): ${how.join("; ")}`);
      continue;
    }
    const plan = task.joins.map((side) => ({ side: side.table, key: side.key, columns: side.columns }));
    const { columns, rows } = await joinTables(table, plan);
    derived[role] = await writeDerivedTable(taskDir, `${role}.csv`, columns, rows);
    log.add(field, derived[role], `${how.join("; ")}: ${rows.length} rows, ${columns.length} columns`);
  }
  return derived;
}

/** The files to read as tables, the ones whose names give them a role first (so a folder with many tables still has its train and test read). A .txt file is a table only when its name says train, test or submission and not description, and even then it may be prose, so it is optional. */
function tableCandidates(files: readonly FolderFile[]): TableCandidate[] {
  const candidates: TableCandidate[] = [];
  for (const file of files) {
    const format = detectTableFormat(file.path) ?? (isExcelFile(file.path) ? "xlsx" : undefined);
    if (format !== undefined) candidates.push({ file, format, optional: false });
    else if (extname(file.path).toLowerCase() === ".txt" && hasRoleName(file.path) && !isDescriptionName(file.path))
      candidates.push({ file, format: "csv", optional: true });
  }
  return candidates.sort((a, b) => Number(hasRoleName(b.file.path)) - Number(hasRoleName(a.file.path)));
}

function hasRoleName(path: string): boolean {
  return isTrainName(path) || isTestName(path) || isSampleSubmissionName(path);
}

/** A training or test example of a class-folder task. */
function exampleRole(file: FolderFile, folders: ClassFolders, isExample: (path: string) => boolean, format: string) {
  if (!isExample(file.path)) return undefined;
  if (folders.testRoot !== undefined && isInside(file.path, folders.testRoot)) return { role: FileRole.TEST, format };
  const inClass = [...folders.classes.values()].some((group) => group.includes(file));
  return inClass ? { role: FileRole.TRAIN, format } : undefined;
}

function sampleRole(file: FolderFile, sample: TableFile | undefined) {
  return sample !== undefined && file === sample.file ? { role: FileRole.SAMPLE_SUBMISSION } : undefined;
}

/** An image file's format by its extension, as the header reader names formats. */
function imageFormat(path: string): string {
  const extension = extname(path).toLowerCase().slice(1);
  return ({ jpg: "jpeg", tif: "tiff", ppm: "pnm", pgm: "pnm" } as Record<string, string>)[extension] ?? extension;
}

function describeFile(
  file: FolderFile,
  table: TableFile | undefined,
  role: { role: FileRole; format?: string } | undefined,
  description: FolderFile | undefined,
): DataFile {
  const base = { path: file.path, sizeBytes: BigInt(file.sizeBytes) };
  if (table !== undefined) {
    const format =
      table.excel !== undefined ? "xlsx" : table.table.format === "csv" && table.table.delimiter === "\t" ? "tsv" : table.table.format;
    return create(DataFileSchema, {
      ...base,
      format,
      role: role?.role ?? FileRole.OTHER_DATA,
      rows: BigInt(table.table.totalRows),
      columns: table.columns,
    });
  }
  if (role !== undefined) return create(DataFileSchema, { ...base, format: role.format ?? "other", role: role.role });
  if (file === description) return create(DataFileSchema, { ...base, format: "text", role: FileRole.DESCRIPTION });
  const format = detectTableFormat(file.path) ?? (isExcelFile(file.path) ? "xlsx" : undefined);
  if (format !== undefined) return create(DataFileSchema, { ...base, format, role: FileRole.OTHER_DATA });
  return create(DataFileSchema, { ...base, format: isTextFile(file.path) ? "text" : "other", role: FileRole.IGNORED });
}
