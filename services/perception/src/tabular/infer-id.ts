import { ColumnType } from "@mlzero/proto";
import type { InferenceLog } from "../inference-log.js";
import { isMissing } from "./cell-values.js";
import { columnCells, usesNaStrings } from "./profile-columns.js";
import type { TabularRoles } from "./assign-roles.js";
import type { TableFile } from "./table-file.js";

/** Column names that say "identifier", as whole words of the name ("PassengerId", "row_id"). */
const ID_WORDS = new Set(["id", "ids", "uuid", "guid", "idx", "index", "key"]);

/** The words of a column name: camelCase and snake_case split, lower case. */
function columnWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== "");
}

/**
 * Finds the test table's id column, or `undefined` when it has none: a
 * column the sample submission shares with the test table; else a column
 * the description asks for in the output (`describedColumns`) that names
 * every test row uniquely; else a column with an id-like name whose values
 * are present and unique in every table that has it ("id" itself first);
 * else a text column with a distinct value in every row. A unique numeric column without an id-like name is not
 * taken, since unique numbers may just as well be a feature, nor is free
 * text (a document is unique, yet it is the feature). `exclude` are columns
 * with another role (a forecast's item and time stamp).
 */
export function inferId(
  roles: TabularRoles,
  label: string,
  log: InferenceLog,
  exclude: readonly string[] = [],
  describedColumns: readonly string[] = [],
): string | undefined {
  const { train, test, sampleSubmission } = roles;
  if (sampleSubmission !== undefined && sampleSubmission !== test) {
    const shared = sampleSubmission.table.columns.find(
      (column) => column !== label && !exclude.includes(column) && test.table.columns.includes(column),
    );
    if (shared !== undefined) {
      log.add("id_column", shared, `column '${shared}' is in both ${sampleSubmission.file.path} and ${test.file.path}`);
      return shared;
    }
  }
  const uniqueEverywhere = (column: string) =>
    column !== label &&
    !exclude.includes(column) &&
    isUnique(test, column) &&
    (!train.table.columns.includes(column) || isUnique(train, column));
  const described = describedColumns
    .map((name) => test.table.columns.find((column) => column.toLowerCase() === name.toLowerCase()))
    .find((column) => column !== undefined && uniqueEverywhere(column));
  if (described !== undefined) {
    log.add(
      "id_column",
      described,
      `the description asks for column '${described}' in the output, and it names each row of ${test.file.path}`,
    );
    return described;
  }
  const named = test.table.columns
    .filter((column) => columnWords(column).some((word) => ID_WORDS.has(word)) && uniqueEverywhere(column))
    .sort((a, b) => Number(b.toLowerCase() === "id") - Number(a.toLowerCase() === "id"));
  if (named[0] !== undefined) {
    log.add("id_column", named[0], `column '${named[0]}' has an id-like name and a unique value in every row of ${test.file.path}`);
    return named[0];
  }
  // A text column with a different value in every row carries no pattern to learn: it names the rows.
  const text = test.table.columns.find((column) => uniqueEverywhere(column) && isText(test, column) && !isFreeText(test, column));
  if (text !== undefined) {
    log.add("id_column", text, `column '${text}' holds a distinct text value in every row of ${test.file.path}`);
    return text;
  }
  log.add("id_column", "", `no column of ${test.file.path} has an id-like name, or distinct text in every row`);
  return undefined;
}

function isText(file: TableFile, column: string): boolean {
  return columnCells(file.table, column).every((cell) => typeof cell === "string" && !Number.isFinite(Number(cell)));
}

function isFreeText(file: TableFile, column: string): boolean {
  return file.columns.find((profile) => profile.name === column)?.type === ColumnType.TEXT;
}

function isUnique(file: TableFile, column: string): boolean {
  const cells = columnCells(file.table, column);
  const naStrings = usesNaStrings(file.table);
  if (cells.some((cell) => isMissing(cell, naStrings))) return false;
  return new Set(cells.map(String)).size === cells.length;
}
