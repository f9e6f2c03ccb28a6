import { InvalidInputError } from "@mlzero/errors";
import { isSampleSubmissionName, isTestName, isTrainName, isValidationName, nameWords } from "../file-names.js";
import type { InferenceLog } from "../inference-log.js";
import { columnsMissingFrom, isStrictSuperset, quoteList, type TableFile } from "./table-file.js";

/** Which table is for training, which to predict, and the output example if any. */
export interface TabularRoles {
  train: TableFile;
  test: TableFile;
  sampleSubmission?: TableFile;
  /**
   * No table of rows to predict, but a sample submission whose columns the
   * training table all has: it stands in as the test table, which only a
   * forecast (its rows are the (item, time stamp) pairs to forecast) accepts.
   */
  testIsSampleSubmission?: boolean;
}

/** Why a task without a test table cannot go on. */
export const NO_TEST_FILE = `no test file found in the input folder: name the file with the rows to predict "test.csv" (or put "test" in its name)`;

/**
 * Finds the train, test and sample-submission tables: by name first
 * ("train", "test", "sample_submission" and their synonyms), then by
 * structure: the training table has every column of the table to predict
 * plus the label; a sample submission has as many rows as the test table and
 * shares with it only a few (id) columns.
 */
export function assignRoles(tables: readonly TableFile[], log: InferenceLog): TabularRoles {
  const sampleSubmission = pickByName(
    tables.filter((t) => isSampleSubmissionName(t.file.path)),
    "submission",
  );
  if (sampleSubmission !== undefined) {
    log.add("sample_submission_file", sampleSubmission.file.path, "the file name says it is a submission example");
  }
  const rest = tables.filter((t) => t !== sampleSubmission && !isValidationName(t.file.path));
  let train = pickByName(
    rest.filter((t) => isTrainName(t.file.path)),
    "train",
  );
  let test = pickByName(
    rest.filter((t) => t !== train && isTestName(t.file.path)),
    "test",
  );
  if (train !== undefined) log.add("train_file", train.file.path, "the file name says it holds training data");
  if (test !== undefined) log.add("test_file", test.file.path, "the file name says it holds the rows to predict");

  const unnamed = rest.filter((t) => t !== train && t !== test);
  if (train === undefined && test === undefined) {
    const pair = closestPair(unnamed);
    if (pair !== undefined) {
      [train, test] = pair;
      const extra = columnsMissingFrom(train, test);
      log.add("train_file", train.file.path, `it has every column of ${test.file.path} plus ${quoteList(extra)}`);
      log.add("test_file", test.file.path, `it lacks ${quoteList(extra)}, which ${train.file.path} has`);
    }
  } else if (train === undefined && test !== undefined) {
    const named = test;
    train = best(
      unnamed.filter((t) => isStrictSuperset(t, named)),
      (t) => [-columnsMissingFrom(t, named).length, t.table.totalRows],
    );
    if (train !== undefined) {
      log.add(
        "train_file",
        train.file.path,
        `it has every column of ${named.file.path} plus ${quoteList(columnsMissingFrom(train, named))}`,
      );
    }
  } else if (train !== undefined && test === undefined) {
    const named = train;
    test = best(
      unnamed.filter((t) => isStrictSuperset(named, t)),
      (t) => [t.table.columns.length, t.table.totalRows],
    );
    if (test !== undefined) {
      log.add("test_file", test.file.path, `it lacks ${quoteList(columnsMissingFrom(named, test))}, which ${named.file.path} has`);
    }
  }

  if (train === undefined) {
    throw new InvalidInputError(
      `no training file found in the input folder: name the file with known labels "train.csv" (or put "train" in its name)`,
    );
  }
  if (test === undefined) {
    const sample = sampleSubmission;
    if (sample !== undefined && columnsMissingFrom(sample, train).length === 0) {
      log.add("test_file", sample.file.path, "no test table: the sample submission lists the rows to predict");
      return { train, test: sample, sampleSubmission: sample, testIsSampleSubmission: true };
    }
    throw new InvalidInputError(NO_TEST_FILE);
  }
  if (sampleSubmission !== undefined) return { train, test, sampleSubmission };

  const trainFile = train;
  const testFile = test;
  const example = best(
    unnamed.filter((t) => t !== trainFile && t !== testFile && looksLikeSubmission(t, testFile)),
    (t) => [-t.table.columns.length],
  );
  if (example === undefined) return { train, test };
  log.add(
    "sample_submission_file",
    example.file.path,
    `it has as many rows as ${test.file.path} and shares only ${quoteList(example.table.columns.filter((c) => test.table.columns.includes(c)))} with it`,
  );
  return { train, test, sampleSubmission: example };
}

/** Among files a name matched, the one whose name is exactly the role word, then the shallowest, then the largest. */
function pickByName(candidates: readonly TableFile[], word: string): TableFile | undefined {
  return best(candidates, (t) => {
    const words = nameWords(t.file.path);
    return [words.length === 1 && words[0] === word ? 1 : 0, -t.file.path.split("/").length, t.table.totalRows];
  });
}

/**
 * The (train, test) pair of unnamed tables where the test's columns are a
 * strict subset of the train's with the fewest left out (the label, maybe a
 * few leaks), preferring the widest test, then the largest train.
 */
function closestPair(tables: readonly TableFile[]): [TableFile, TableFile] | undefined {
  let found: { pair: [TableFile, TableFile]; key: number[] } | undefined;
  for (const a of tables) {
    for (const b of tables) {
      if (a === b || !isStrictSuperset(a, b)) continue;
      const key = [-columnsMissingFrom(a, b).length, b.table.columns.length, a.table.totalRows];
      if (found === undefined || compareKeys(key, found.key) > 0) found = { pair: [a, b], key };
    }
  }
  return found?.pair;
}

/** A sample submission: as many rows as the test table, some but not all of its columns, and columns of its own. */
function looksLikeSubmission(candidate: TableFile, test: TableFile): boolean {
  const shared = candidate.table.columns.filter((column) => test.table.columns.includes(column));
  return (
    candidate.table.totalRows === test.table.totalRows &&
    shared.length > 0 &&
    shared.length < test.table.columns.length &&
    shared.length < candidate.table.columns.length
  );
}

function best<T>(items: readonly T[], key: (item: T) => number[]): T | undefined {
  let found: { item: T; key: number[] } | undefined;
  for (const item of items) {
    const itemKey = key(item);
    if (found === undefined || compareKeys(itemKey, found.key) > 0) found = { item, key: itemKey };
  }
  return found?.item;
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}
