import { InvalidInputError } from "@mlzero/errors";
import { ColumnType } from "@mlzero/proto";
import { labelFromDescription } from "../description-hints.js";
import type { InferenceLog } from "../inference-log.js";
import { cellText, isMissing } from "./cell-values.js";
import { columnCells, usesNaStrings } from "./profile-columns.js";
import type { TabularRoles } from "./assign-roles.js";
import { columnsMissingFrom, quoteList, type TableFile } from "./table-file.js";

/** Column names that usually hold the label, most telling first. */
const LABEL_NAMES = ["label", "target", "y", "class", "outcome", "response", "labels", "targets", "class_label", "target_label"];

/** What a user must do when the label cannot be found. */
export const LABEL_HELP = `name it "label" or "target", or say "label column: <name>" in a description file`;

/**
 * Finds the column to predict. In order of trust: the description names it;
 * the sample submission holds it (or one probability column per its
 * values); it is the training column the test table lacks (the last one when
 * several are missing, as datasets put the target last, unless one of them
 * has a label-like name); it has a label-like name.
 */
export function inferLabel(roles: TabularRoles, description: string, log: InferenceLog): string {
  const { train, test, sampleSubmission } = roles;
  const label = roles.testIsSampleSubmission
    ? findLabelInSample(train, test, description, log)
    : findLabel(train, test, sampleSubmission, description, log);
  const present = columnCells(train.table, label).filter((cell) => !isMissing(cell, usesNaStrings(train.table)));
  if (present.length === 0) {
    throw new InvalidInputError(`label column '${label}' has no values in ${train.file.path}`);
  }
  return label;
}

function findLabel(train: TableFile, test: TableFile, sample: TableFile | undefined, description: string, log: InferenceLog): string {
  const stated = labelFromDescription(description, train.table.columns);
  if (stated !== undefined) {
    log.add("label_column", stated.column, stated.evidence);
    return stated.column;
  }

  if (sample !== undefined) {
    const own = columnsMissingFrom(sample, test);
    const single = own.length === 1 && own[0] !== undefined && train.table.columns.includes(own[0]) ? own[0] : undefined;
    if (single !== undefined) {
      log.add("label_column", single, `column '${single}' is in ${sample.file.path} and ${train.file.path} but not in ${test.file.path}`);
      return single;
    }
    const perClass = own.length >= 2 ? columnWithValues(train, columnsMissingFrom(train, test), own) : undefined;
    if (perClass !== undefined) {
      log.add("label_column", perClass, `the columns of ${sample.file.path} are the values of '${perClass}' (one probability per class)`);
      return perClass;
    }
  }

  const trainOnly = columnsMissingFrom(train, test);
  if (trainOnly.length === 1 && trainOnly[0] !== undefined) {
    log.add("label_column", trainOnly[0], `column '${trainOnly[0]}' is in ${train.file.path} but not in ${test.file.path}`);
    return trainOnly[0];
  }
  if (trainOnly.length > 1) {
    const named = byLabelName(trainOnly);
    const chosen = named ?? trainOnly.at(-1) ?? "";
    const why = named !== undefined ? "its name says so" : "it is the last of them";
    log.add(
      "label_column",
      chosen,
      `${quoteList(trainOnly)} are in ${train.file.path} but not in ${test.file.path}; '${chosen}' because ${why}`,
    );
    log.add("train_only_columns", trainOnly.join(","), `columns the test file lacks cannot be used as features`);
    return chosen;
  }

  const named = byLabelName(train.table.columns);
  if (named !== undefined) {
    log.add("label_column", named, `column '${named}' has a label-like name`);
    return named;
  }
  throw new InvalidInputError(`cannot tell which column to predict: ${LABEL_HELP}`);
}

/**
 * When the sample submission stands in for the test table, every one of its
 * columns is in the training table: the label is the one the description
 * names, else the numeric one with a label-like name, else the last numeric
 * one (id, item and time stamp come first).
 */
function findLabelInSample(train: TableFile, sample: TableFile, description: string, log: InferenceLog): string {
  const stated = labelFromDescription(description, sample.table.columns);
  if (stated !== undefined) {
    log.add("label_column", stated.column, stated.evidence);
    return stated.column;
  }
  const numeric = sample.table.columns.filter((column) => {
    const type = train.columns.find((profile) => profile.name === column)?.type;
    return type === ColumnType.INTEGER || type === ColumnType.NUMERIC;
  });
  const chosen = byLabelName(numeric) ?? numeric.at(-1);
  if (chosen === undefined) throw new InvalidInputError(`cannot tell which column of ${sample.file.path} to predict: ${LABEL_HELP}`);
  log.add(
    "label_column",
    chosen,
    `the ${byLabelName(numeric) === undefined ? "last " : ""}numeric column of ${sample.file.path}, which lists the rows to predict`,
  );
  return chosen;
}

function byLabelName(columns: readonly string[]): string | undefined {
  for (const name of LABEL_NAMES) {
    const found = columns.find((column) => column.toLowerCase() === name);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Among `columns` of the training table, one whose distinct values include
 * every one of `names`. Only columns the test table lacks are asked, since an
 * id column's values 0, 1, 2... would match class names "0", "1", "2" too.
 */
function columnWithValues(train: TableFile, columns: readonly string[], names: readonly string[]): string | undefined {
  const naStrings = usesNaStrings(train.table);
  return columns.find((column) => {
    const values = new Set(
      columnCells(train.table, column)
        .filter((cell) => !isMissing(cell, naStrings))
        .map((cell) => cellText(cell)),
    );
    return names.every((name) => values.has(name));
  });
}
