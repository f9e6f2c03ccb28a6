import { basename, extname } from "node:path";
import { create } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import {
  DataFileSchema,
  FileRole,
  Modality,
  PerceptualContextSchema,
  type DataFile,
  type PerceptualContext,
  type Tool,
} from "@mlzero/proto";
import { detectTableFormat } from "@mlzero/tables";
import {
  capDescription,
  findDescriptionFile,
  isDescriptionName,
  isTextFile,
  joinDescriptions,
  readDescriptionFile,
} from "./description.js";
import { isSampleSubmissionName, isTestName, isTrainName } from "./file-names.js";
import { InferenceLog } from "./inference-log.js";
import { findHintedTool, rankTools } from "./rank-tools.js";
import { perceiveTabular, tableRole, type TabularTask } from "./tabular/perceive-tabular.js";
import { readTables, type TableCandidate } from "./tabular/read-tables.js";
import type { TableFile } from "./tabular/table-file.js";
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
}

/**
 * Profiles a raw data folder into the typed context later agents work from:
 * every file and its role, column profiles, the label, id, problem type,
 * metric, output format and a ranking of registry tools, each inference with
 * its evidence. Only tabular data is understood so far; the modality's
 * work lives in its own folder (tabular/) so others can sit beside it.
 * Bad input is a DomainError with a one-line message saying how to fix it.
 */
export async function perceive(options: PerceiveOptions): Promise<PerceptualContext> {
  const hinted = findHintedTool(options.tools, options.toolHint);
  const { files, truncated } = await walkFolder(options.inputDir);
  const log = new InferenceLog();
  if (truncated)
    log.add("files", String(files.length), `the folder has more than ${MAX_FILES} files; only the first ${MAX_FILES} are listed`);

  const candidates = tableCandidates(files);
  const candidatePaths = new Set(candidates.map((candidate) => candidate.file.path));
  const textFiles = files.filter((file) => isTextFile(file.path) && !candidatePaths.has(file.path));
  const found = findDescriptionFile(textFiles);
  if (found !== undefined) log.add("description_file", found.file.path, found.evidence);
  const fullDescription = joinDescriptions(options.description, found === undefined ? undefined : await readDescriptionFile(found.file));

  const tables = await readTables(candidates);
  if (tables.length === 0) {
    throw new InvalidInputError("no data files found in the input folder: expected CSV, TSV, JSON, JSON Lines or Parquet");
  }
  log.add("modality", "tabular", `${tables.length} table file${tables.length === 1 ? "" : "s"} found`);
  const task = perceiveTabular({
    tables,
    description: fullDescription,
    inputFileNames: files.map((file) => basename(file.path)),
    log,
  });
  for (const table of [task.roles.train, task.roles.test]) {
    const delimiter = table.table.delimiter;
    if (delimiter !== undefined && delimiter !== "," && delimiter !== "\t") {
      log.add("delimiter", delimiter, `${table.file.path} separates its fields with '${delimiter}'`);
    }
  }

  const tools = rankTools(options.tools, Modality.TABULAR, task.problemType, hinted);
  if (tools.length === 0) log.add("tools", "", "no registry tool covers this modality and problem type");

  const byPath = new Map(tables.map((table) => [table.file.path, table]));
  return create(PerceptualContextSchema, {
    modality: Modality.TABULAR,
    files: files.map((file) => describeFile(file, byPath.get(file.path), task, found?.file)),
    trainFile: task.roles.train.file.path,
    testFile: task.roles.test.file.path,
    sampleSubmissionFile: task.roles.sampleSubmission?.file.path ?? "",
    descriptionFile: found?.file.path ?? "",
    description: capDescription(fullDescription),
    labelColumn: task.label,
    idColumn: task.id ?? "",
    problemType: task.problemType,
    metric: task.metric,
    output: task.output,
    labelValues: task.labelValues,
    tools,
    inferences: log.entries,
  });
}

/**
 * The files to read as tables, the ones whose names give them a role first
 * (so a folder with many tables still has its train and test read). A .txt
 * file is a table only when its name says train, test or submission and not
 * description, and even then it may be prose, so it is optional.
 */
function tableCandidates(files: readonly FolderFile[]): TableCandidate[] {
  const candidates: TableCandidate[] = [];
  for (const file of files) {
    const format = detectTableFormat(file.path);
    if (format !== undefined) candidates.push({ file, format, optional: false });
    else if (extname(file.path).toLowerCase() === ".txt" && hasRoleName(file.path) && !isDescriptionName(file.path))
      candidates.push({ file, format: "csv", optional: true });
  }
  return candidates.sort((a, b) => Number(hasRoleName(b.file.path)) - Number(hasRoleName(a.file.path)));
}

function hasRoleName(path: string): boolean {
  return isTrainName(path) || isTestName(path) || isSampleSubmissionName(path);
}

function describeFile(file: FolderFile, table: TableFile | undefined, task: TabularTask, description: FolderFile | undefined): DataFile {
  const base = { path: file.path, sizeBytes: BigInt(file.sizeBytes) };
  if (table !== undefined) {
    const format = table.table.format === "csv" && table.table.delimiter === "\t" ? "tsv" : table.table.format;
    return create(DataFileSchema, {
      ...base,
      format,
      role: tableRole(task, table),
      rows: BigInt(table.table.totalRows),
      columns: table.columns,
    });
  }
  if (file === description) return create(DataFileSchema, { ...base, format: "text", role: FileRole.DESCRIPTION });
  const format = detectTableFormat(file.path);
  if (format !== undefined) return create(DataFileSchema, { ...base, format, role: FileRole.OTHER_DATA });
  return create(DataFileSchema, { ...base, format: isTextFile(file.path) ? "text" : "other", role: FileRole.IGNORED });
}
