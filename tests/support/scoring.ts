/** Area under the ROC curve of scores against 0/1 truths (ties count half). */
export function rocAuc(truth: number[], scores: number[]): number {
  const pairs = truth.map((label, index) => ({ label, score: scores[index]! })).sort((a, b) => a.score - b.score);
  let rankSum = 0;
  let positives = 0;
  for (let start = 0; start < pairs.length;) {
    let end = start;
    while (end + 1 < pairs.length && pairs[end + 1]!.score === pairs[start]!.score) end++;
    const averageRank = (start + end) / 2 + 1;
    for (let index = start; index <= end; index++) {
      if (pairs[index]!.label === 1) {
        rankSum += averageRank;
        positives++;
      }
    }
    start = end + 1;
  }
  const negatives = pairs.length - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Share of equal entries. */
export function accuracy<T>(truth: T[], predicted: T[]): number {
  return truth.filter((value, index) => value === predicted[index]).length / truth.length;
}

/** Coefficient of determination. */
export function r2(truth: number[], predicted: number[]): number {
  const mean = truth.reduce((sum, value) => sum + value, 0) / truth.length;
  const residual = truth.reduce((sum, value, index) => sum + (value - predicted[index]!) ** 2, 0);
  const total = truth.reduce((sum, value) => sum + (value - mean) ** 2, 0);
  return 1 - residual / total;
}
