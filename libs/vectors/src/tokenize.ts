/**
 * Words that carry no meaning for retrieval. Deliberately small: "not", "no"
 * and "only" stay because error messages ("could not convert", "No module
 * named") turn on them.
 */
const STOPWORDS = new Set([
  "a",
  "an",
  "and",
  "are",
  "as",
  "at",
  "be",
  "by",
  "can",
  "do",
  "for",
  "from",
  "has",
  "have",
  "if",
  "in",
  "into",
  "is",
  "it",
  "its",
  "of",
  "on",
  "or",
  "so",
  "than",
  "that",
  "the",
  "then",
  "there",
  "these",
  "this",
  "to",
  "was",
  "were",
  "will",
  "with",
  "you",
  "your",
]);

const WORD = /[\p{L}\p{N}_]+/gu;
// Splits "HistGradientBoosting" and "LGBMClassifier" at their humps.
const CAMEL_BOUNDARY = /(?<=[\p{Ll}\p{N}])(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})/u;

/**
 * Lowercase terms of a text for BM25. Identifiers stay whole (`fit_transform`,
 * `lgbm`, `modulenotfounderror`) so an exact API name matches strongly, and
 * also yield their snake_case and CamelCase parts so that "hist gradient
 * boosting" still finds `HistGradientBoostingClassifier`.
 */
export function tokenize(text: string): string[] {
  const terms: string[] = [];
  for (const raw of text.match(WORD) ?? []) {
    const word = raw.replace(/^_+|_+$/g, "");
    pushTerm(terms, word.toLowerCase());
    const parts = word.split("_").flatMap((part) => part.split(CAMEL_BOUNDARY));
    if (parts.length > 1) for (const part of parts) pushTerm(terms, part.toLowerCase());
  }
  return terms;
}

function pushTerm(terms: string[], term: string): void {
  if (term.length >= 2 && !STOPWORDS.has(term)) terms.push(term);
}
