import { ColumnType, Modality } from "@mlzero/proto";
import type { InferenceLog } from "../inference-log.js";
import { columnCells } from "./profile-columns.js";
import type { TableFile } from "./table-file.js";

/** Whether a table's features are text, tabular, or both. */
export interface TextChoice {
  modality: Modality;
  textColumns: string[];
}

/**
 * Tells free text from categories among the feature columns (the column
 * profile's TEXT type: long values, or several words that rarely repeat)
 * and decides the modality: TABULAR without free text; TEXT when the
 * features are essentially text (besides the text, at most as many short
 * string columns and no numbers or dates); MULTIMODAL when text comes with
 * other tabular columns.
 */
export function chooseTextModality(features: readonly { file: TableFile; columns: readonly string[] }[], log: InferenceLog): TextChoice {
  const owned = features.flatMap(({ file, columns }) =>
    file.columns.filter((profile) => columns.includes(profile.name)).map((profile) => ({ file, profile })),
  );
  const profiles = owned.map(({ profile }) => profile);
  const text = profiles.filter((column) => column.type === ColumnType.TEXT);
  if (text.length === 0) return { modality: Modality.TABULAR, textColumns: [] };
  for (const { file, profile } of owned) {
    if (profile.type === ColumnType.TEXT) log.add("text_column", profile.name, textEvidence(file, profile.name));
  }
  const others = profiles.filter((column) => column.type !== ColumnType.TEXT);
  const strings = others.filter((column) => column.type === ColumnType.CATEGORICAL);
  const textColumns = text.map((column) => column.name);
  const named = (columns: readonly { name: string }[]) => columns.map((column) => `'${column.name}'`).join(", ");
  if (others.length === 0) {
    log.add("modality", "text", `every feature is free text (${named(text)})`);
    return { modality: Modality.TEXT, textColumns };
  }
  if (strings.length === others.length && strings.length <= text.length) {
    log.add("modality", "text", `the features are free text (${named(text)}) and a few short strings (${named(strings)})`);
    return { modality: Modality.TEXT, textColumns };
  }
  log.add("modality", "multimodal", `free text (${named(text)}) comes with ${others.length} other columns (${named(others.slice(0, 8))})`);
  return { modality: Modality.MULTIMODAL, textColumns };
}

/** What makes a column text: its mean length, words and share of distinct values, from the rows read. */
function textEvidence(file: TableFile, column: string): string {
  const texts = columnCells(file.table, column)
    .filter((cell) => cell !== undefined)
    .map((cell) => String(cell).trim());
  const chars = texts.reduce((sum, text) => sum + text.length, 0) / Math.max(1, texts.length);
  const words = texts.reduce((sum, text) => sum + text.split(/\s+/).filter((word) => word !== "").length, 0) / Math.max(1, texts.length);
  const distinct = new Set(texts).size / Math.max(1, texts.length);
  return `values in ${file.file.path} average ${Math.round(chars)} characters and ${words.toFixed(1)} words, ${Math.round(distinct * 100)}% distinct: free text, not a category`;
}
