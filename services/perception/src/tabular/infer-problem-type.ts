import { InvalidInputError } from "@mlzero/errors";
import { ColumnType, ProblemType } from "@mlzero/proto";
import type { Cell } from "@mlzero/tables";
import { problemTypeFromDescription } from "../description-hints.js";
import type { InferenceLog } from "../inference-log.js";
import { asBoolean, asNumber, cellText, isMissing } from "./cell-values.js";
import { inferColumnType } from "./column-type.js";
import { columnCells, usesNaStrings } from "./profile-columns.js";
import type { TableFile } from "./table-file.js";

/**
 * Thresholds AutoGluon uses to tell multiclass from regression for whole-number
 * labels, kept equal so perception and the usual tool agree: multiclass when
 * distinct values are at most this share of the labelled rows...
 */
export const MULTICLASS_MAX_DISTINCT_SHARE_SMALL = 0.1;
/** ...or this share once there are more than {@link LARGE_DATA_ROWS} labelled rows... */
export const MULTICLASS_MAX_DISTINCT_SHARE_LARGE = 0.05;
/** ...the row count past which the stricter share applies... */
export const LARGE_DATA_ROWS = 1000;
/** ...and never with more classes than this. */
export const MULTICLASS_MAX_CLASSES = 1000;

/** The problem type and, for classification, the label's values. */
export interface ProblemTypeChoice {
  problemType: ProblemType;
  /** Distinct training labels, sorted as strings; empty for regression. */
  labelValues: string[];
}

/**
 * Decides the problem type from the training labels read: two distinct
 * values → binary; text, categories, booleans or dates → multiclass;
 * numbers with fractions → regression; whole numbers → multiclass when few
 * distinct values (thresholds above), else regression. A description that
 * says "regression" or "classification" settles the whole-number case.
 */
export function inferProblemType(train: TableFile, label: string, description: string, log: InferenceLog): ProblemTypeChoice {
  const naStrings = usesNaStrings(train.table);
  const present = columnCells(train.table, label).filter((cell): cell is Exclude<Cell, undefined> => !isMissing(cell, naStrings));
  const type = inferColumnType(present, new Set(present.map(cellText)).size);
  const values = distinctLabels(present, type);
  const count = values.length;
  if (count < 2) {
    throw new InvalidInputError(`label column '${label}' has a single value in ${train.file.path}: there is nothing to predict`);
  }
  const decide = (problemType: ProblemType, evidence: string): ProblemTypeChoice => {
    log.add("problem_type", ProblemType[problemType].toLowerCase(), evidence);
    return { problemType, labelValues: problemType === ProblemType.REGRESSION ? [] : values };
  };

  if (count === 2) return decide(ProblemType.BINARY, `label '${label}' has 2 distinct values`);
  const numeric = type === ColumnType.INTEGER || type === ColumnType.NUMERIC;
  if (!numeric) return decide(ProblemType.MULTICLASS, `label '${label}' has ${count} distinct non-numeric values`);

  const stated = problemTypeFromDescription(description);
  if (stated?.type === "regression") return decide(ProblemType.REGRESSION, stated.evidence);
  if (stated !== undefined) return decide(ProblemType.MULTICLASS, `${stated.evidence}, and label '${label}' has ${count} distinct values`);

  const whole = present.every((cell) => Number.isInteger(asNumber(cell)));
  if (!whole) return decide(ProblemType.REGRESSION, `label '${label}' holds numbers with fractions`);
  const share = present.length > LARGE_DATA_ROWS ? MULTICLASS_MAX_DISTINCT_SHARE_LARGE : MULTICLASS_MAX_DISTINCT_SHARE_SMALL;
  if (count <= share * present.length && count <= MULTICLASS_MAX_CLASSES) {
    return decide(
      ProblemType.MULTICLASS,
      `label '${label}' holds whole numbers with few distinct values (${count} in ${present.length} rows)`,
    );
  }
  return decide(ProblemType.REGRESSION, `label '${label}' holds numbers with many distinct values (${count} in ${present.length} rows)`);
}

/**
 * The label's distinct values as a predictions file would spell them:
 * booleans True/False, whole numbers without leading zeros, anything else as
 * written; sorted as strings.
 */
function distinctLabels(present: readonly Exclude<Cell, undefined>[], type: ColumnType): string[] {
  const spell = (cell: Exclude<Cell, undefined>): string => {
    if (type === ColumnType.BOOLEAN) return asBoolean(cell) === true ? "True" : "False";
    if (type === ColumnType.INTEGER) return String(asNumber(cell));
    return cellText(cell);
  };
  return [...new Set(present.map(spell))].sort();
}
