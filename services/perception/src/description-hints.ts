import { basename } from "node:path";

/**
 * Reads what a task description says about the label, the problem type and
 * the output. Descriptions are free text, so each reader only proposes names;
 * callers accept a name only when it is a real column (or file), which keeps
 * a stray word from becoming the label.
 */

const QUOTED = String.raw`[\x60"'“‘]([^\x60"'”’\n]{1,80})[\x60"'”’]`;
const WORD = String.raw`([A-Za-z_](?:[\w.\-]*\w)?)`;
const NAME = `(?:${QUOTED}|${WORD})`;

const LABEL_PATTERNS: readonly RegExp[] = [
  new RegExp(
    String.raw`\b(?:label|target|response|outcome|dependent)(?:\s+(?:column|variable|field|feature|col))?\s*(?:is|:|=|will be|should be|named|called)\s*(?:the\s+)?(?:column\s+)?${NAME}`,
    "gi",
  ),
  new RegExp(
    String.raw`\b(?:predict|predicting|predicts|forecast|forecasting|estimate|estimating|classify|classifying)\s+(?:the\s+)?(?:values?\s+(?:of|in)\s+|column\s+|target\s+|label\s+)?(?:the\s+)?(?:column\s+)?${NAME}`,
    "gi",
  ),
];

/** Words that make a sentence about the label, for quoted column names inside it. */
const LABEL_SENTENCE = /\b(?:predict\w*|target|label|forecast\w*|estimat\w*|classif\w*)\b/i;

/** Splits text into sentences and lines; a dot inside "results.csv" does not end a sentence. */
function sentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+|\n+/).filter((sentence) => sentence.trim() !== "");
}

function resolve(candidate: string, columns: readonly string[]): string | undefined {
  const wanted = candidate.trim().toLowerCase();
  return columns.find((column) => column === candidate.trim()) ?? columns.find((column) => column.toLowerCase() === wanted);
}

/** A label column the description names, among `columns`, and the words that named it. */
export function labelFromDescription(text: string, columns: readonly string[]): { column: string; evidence: string } | undefined {
  for (const pattern of LABEL_PATTERNS) {
    for (const match of text.matchAll(pattern)) {
      const column = resolve(match[1] ?? match[2] ?? "", columns);
      if (column !== undefined) return { column, evidence: `the description says "${match[0].trim()}"` };
    }
  }
  for (const sentence of sentences(text)) {
    if (!LABEL_SENTENCE.test(sentence)) continue;
    for (const match of sentence.matchAll(new RegExp(QUOTED, "g"))) {
      const column = resolve(match[1] ?? "", columns);
      if (column !== undefined) return { column, evidence: `the description names column "${column}" where it speaks of the target` };
    }
  }
  return undefined;
}

/** The problem type a description states, if any. */
export type StatedProblemType = "regression" | "binary" | "multiclass" | "classification";

/** The problem type the description states, and the words that stated it. */
export function problemTypeFromDescription(text: string): { type: StatedProblemType; evidence: string } | undefined {
  const checks: readonly [StatedProblemType, RegExp][] = [
    // "logistic regression" names a classifier, not the task.
    ["regression", /(?<!logistic\s)\bregression\b/i],
    ["multiclass", /\bmulti[\s-]?class\b|\bmulti[\s-]?label\b|\bmultinomial\b/i],
    ["binary", /\bbinary\b/i],
    ["classification", /\bclassification\b|\bclassify\b|\bclassifier\b/i],
  ];
  for (const [type, pattern] of checks) {
    const match = pattern.exec(text);
    if (match !== null) return { type, evidence: `the description says "${match[0]}"` };
  }
  return undefined;
}

/** What a description asks the output to look like. */
export interface DescribedOutput {
  fileName?: string;
  columns?: string[];
  evidence: string;
}

const OUTPUT_SENTENCE = /\b(?:writ\w*|sav\w*|output\w*|submi\w*|predictions?|results?|stor\w*|produc\w*|creat\w*|generat\w*|export\w*)\b/i;
const FILE_NAME = /(?<![\w.-])((?:[\w-]+[./])*[\w-]+\.(?:csv|tsv|parquet|json|jsonl|ndjson))\b/gi;
const COLUMN_LIST = new RegExp(
  String.raw`\bcolumns?\s*(?:named\s+|called\s+|:\s*|are\s+)?(${NAME}(?:\s*(?:,\s*and|,|and|&|;)\s*${NAME})*)`,
  "i",
);
const LIST_ITEM = new RegExp(NAME, "g");

/**
 * The output file and columns a description asks for, e.g. "write predictions
 * to results.csv with columns id, price". File names of input files are not
 * outputs ("train.csv holds the training rows"), so they are passed in to skip.
 */
export function outputFromDescription(text: string, inputFileNames: readonly string[]): DescribedOutput | undefined {
  const inputs = new Set(inputFileNames.map((name) => name.toLowerCase()));
  let fileName: string | undefined;
  let columns: string[] | undefined;
  const evidence: string[] = [];
  for (const sentence of sentences(text)) {
    if (!OUTPUT_SENTENCE.test(sentence)) continue;
    if (fileName === undefined) {
      // Only the base name: the output goes in the output folder, wherever the text points.
      const file = [...sentence.matchAll(FILE_NAME)]
        .map((match) => basename(match[1] ?? ""))
        .find((name) => !inputs.has(name.toLowerCase()));
      if (file !== undefined) {
        fileName = file;
        evidence.push(`the description says "${sentence.trim()}"`);
      }
    }
    if (columns === undefined) {
      const list = COLUMN_LIST.exec(sentence);
      if (list !== null) {
        columns = [...(list[1] ?? "").matchAll(LIST_ITEM)]
          .map((item) => (item[1] ?? item[2] ?? "").trim())
          .filter((name) => !/^(?:and|the)$/i.test(name));
        const quoted = `the description says "${sentence.trim()}"`;
        if (!evidence.includes(quoted)) evidence.push(quoted);
      }
    }
  }
  if (fileName === undefined && columns === undefined) return undefined;
  return { fileName, columns, evidence: evidence.join("; ") };
}
