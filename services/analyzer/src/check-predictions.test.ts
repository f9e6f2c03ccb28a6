import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { PerceptualContextSchema, ProblemType, type PerceptualContext } from "@mlzero/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPredictions } from "./check-predictions.js";
import { formatCheck } from "./output-check.js";

let dir: string;
const testCsv = "PassengerId,Age,Sex\n1,22,male\n2,38,female\n3,26,female\n4,35,male\n";

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "check-predictions-"));
  await writeFile(path.join(dir, "test.csv"), testCsv);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function context(
  overrides: Omit<MessageInitShape<typeof PerceptualContextSchema>, "$typeName"> = {},
  output: { columns?: string[]; classProbabilities?: boolean; positiveClass?: string } = {},
): PerceptualContext {
  return create(PerceptualContextSchema, {
    testFile: "test.csv",
    labelColumn: "Survived",
    idColumn: "PassengerId",
    problemType: ProblemType.BINARY,
    labelValues: ["0", "1"],
    output: {
      fileName: "submission.csv",
      columns: output.columns ?? ["PassengerId", "Survived"],
      idColumn: "PassengerId",
      classProbabilities: output.classProbabilities ?? false,
      positiveClass: output.positiveClass ?? "",
    },
    ...overrides,
  });
}

/** Checks `predictions` (written as submission.csv) and returns the formatted check lines. */
async function check(predictions: string | undefined, ctx = context()) {
  const predictionsPath = path.join(dir, `submission-${Math.random().toString(36).slice(2)}.csv`);
  if (predictions !== undefined) await writeFile(predictionsPath, predictions);
  const report = await checkPredictions({
    predictionsPath,
    displayPath: "iter-001/outputs/submission.csv",
    testPath: path.join(dir, "test.csv"),
    context: ctx,
  });
  return { ...report, lines: report.checks.map(formatCheck) };
}

describe("checkPredictions", () => {
  it("passes good predictions, with float-written ids", async () => {
    const report = await check("PassengerId,Survived\n1,0\n2,1\n3.0,1\n4,0\n");
    expect(report.lines).toEqual([
      "PASS file: iter-001/outputs/submission.csv exists (39 bytes)",
      "PASS format: CSV with 4 rows",
      "PASS columns: [PassengerId, Survived]",
      "PASS rows: 4 rows, the test file has 4",
      "PASS ids: every one of 4 test ids appears once",
      "PASS missing values: no missing, NaN or infinite values",
      "PASS labels: every label is one of 2 training labels",
    ]);
    expect(report).toMatchObject({ found: true, passed: true });
  });

  it("reports a missing file", async () => {
    const report = await check(undefined);
    expect(report).toMatchObject({ found: false, passed: false });
    expect(report.lines).toEqual(["FAIL file: iter-001/outputs/submission.csv does not exist"]);
  });

  it("refuses a symbolic link", async () => {
    const predictionsPath = path.join(dir, "linked.csv");
    await symlink(path.join(dir, "test.csv"), predictionsPath);
    const report = await checkPredictions({
      predictionsPath,
      displayPath: "linked.csv",
      testPath: path.join(dir, "test.csv"),
      context: context(),
    });
    expect(report.checks.map(formatCheck)).toEqual(["FAIL file: linked.csv is not a regular file"]);
    expect(report.passed).toBe(false);
  });

  const failures: { name: string; csv: string; lines: string[] }[] = [
    {
      name: "missing, repeated and unknown ids",
      csv: "PassengerId,Survived\n1,0\n2,1\n2,1\n9,0\n",
      lines: ["FAIL ids: 2 test ids missing (3, 4); 1 ids repeated (2); 1 ids not in the test file (9)"],
    },
    {
      name: "too few rows",
      csv: "PassengerId,Survived\n1,0\n2,1\n3,1\n",
      lines: ["FAIL rows: 3 rows, the test file has 4", "FAIL ids: 1 test ids missing (4)"],
    },
    {
      name: "an extra column",
      csv: "PassengerId,Survived,proba\n1,0,0.1\n2,1,0.9\n3,1,0.8\n4,0,0.2\n",
      lines: ["FAIL columns: expected [PassengerId, Survived], got [PassengerId, Survived, proba] (unexpected proba)"],
    },
    {
      name: "columns in the wrong order",
      csv: "Survived,PassengerId\n0,1\n1,2\n1,3\n0,4\n",
      lines: ["FAIL columns: expected [PassengerId, Survived], got [Survived, PassengerId] (wrong order)"],
    },
    {
      name: "NaN, blank and infinite values",
      csv: "PassengerId,Survived\n1,0\n2,NaN\n3,\n4,inf\n",
      lines: ["FAIL missing values: Survived has 3 missing or infinite values (rows 2, 3, 4)"],
    },
    {
      name: "an unknown label",
      csv: "PassengerId,Survived\n1,0\n2,1\n3,yes\n4,2\n",
      lines: ["FAIL labels: 2 values are not training labels (yes, 2; expected one of 0, 1)"],
    },
    {
      name: "semicolons",
      csv: "PassengerId;Survived\n1;0\n2;1\n3;1\n4;0\n",
      lines: ['FAIL format: fields are separated by ";", not commas'],
    },
    { name: "a ragged file", csv: "PassengerId,Survived\n1,0\n2,1,7\n", lines: ["FAIL format: not a readable CSV: "] },
  ];

  it.each(failures)("fails $name", async ({ csv, lines }) => {
    const report = await check(csv);
    expect(report.passed).toBe(false);
    expect(report.found).toBe(true);
    expect(report.lines.filter((entry) => entry.startsWith("FAIL"))).toEqual(lines.map((line) => expect.stringContaining(line)));
  });

  it("checks class probabilities: range and row sums", async () => {
    const ctx = context(
      { problemType: ProblemType.MULTICLASS, labelValues: ["a", "b", "c"] },
      { columns: ["PassengerId", "a", "b", "c"], classProbabilities: true },
    );
    const good = await check("PassengerId,a,b,c\n1,0.2,0.3,0.5\n2,1,0,0\n3,0.333333,0.333333,0.333334\n4,0.1,0.1,0.8\n", ctx);
    expect(good.lines).toContain("PASS probabilities: every row holds probabilities summing to 1");
    expect(good.passed).toBe(true);
    const bad = await check("PassengerId,a,b,c\n1,0.2,0.3,0.5\n2,1.4,-0.4,0\n3,0.5,0.5,0.5\n4,x,0.1,0.8\n", ctx);
    expect(bad.lines.filter((entry) => entry.startsWith("FAIL"))).toEqual([
      "FAIL probabilities: 2 rows have a value that is not a probability in [0, 1] (rows 2, 4); 1 rows do not sum to 1 (rows 3)",
    ]);
  });

  it("checks a binary task's positive-class probability column", async () => {
    const ctx = context({}, { positiveClass: "1" });
    const good = await check("PassengerId,Survived\n1,0.12\n2,0.97\n3,1\n4,0\n", ctx);
    expect(good.lines).toContain("PASS probabilities: every row holds the probability of class 1");
    expect(good.passed).toBe(true);
    const labels = await check("PassengerId,Survived\n1,0\n2,1\n3,1.5\n4,yes\n", ctx);
    expect(labels.lines.filter((entry) => entry.startsWith("FAIL"))).toEqual([
      "FAIL probabilities: 2 rows have a value that is not a probability in [0, 1] (rows 3, 4)",
    ]);
  });

  it("checks regression predictions are finite numbers", async () => {
    const ctx = context({ problemType: ProblemType.REGRESSION, labelValues: [] }, { columns: ["PassengerId", "Fare"] });
    expect((await check("PassengerId,Fare\n1,7.25\n2,71.28\n3,-1e3\n4,0\n", ctx)).passed).toBe(true);
    const bad = await check("PassengerId,Fare\n1,7.25\n2,cheap\n3,-inf\n4,0\n", ctx);
    expect(bad.lines.filter((entry) => entry.startsWith("FAIL"))).toEqual([
      "FAIL missing values: Fare has 1 missing or infinite values (rows 3)",
      "FAIL numbers: 1 rows hold a value that is not a number (rows 2)",
    ]);
  });

  it("accepts a label that looks like a missing marker when it is a training label", async () => {
    const ctx = context({ problemType: ProblemType.MULTICLASS, labelValues: ["EU", "NA"] });
    const report = await check("PassengerId,Survived\n1,NA\n2,EU\n3,NA\n4,EU\n", ctx);
    expect(report.passed).toBe(true);
  });

  it("reads a test file it cannot parse as the task's problem, not the program's", async () => {
    await writeFile(path.join(dir, "broken.csv"), "a,b\n1,2,3\n");
    const predictionsPath = path.join(dir, "ok.csv");
    await writeFile(predictionsPath, "PassengerId,Survived\n1,0\n");
    await expect(
      checkPredictions({ predictionsPath, displayPath: "ok.csv", testPath: path.join(dir, "broken.csv"), context: context() }),
    ).rejects.toMatchObject({ kind: "failed_precondition" });
  });

  /** Checks `predictions` against the test rows at `testPath` with `ctx`; returns the FAIL/PASS lines. */
  async function checkAgainst(predictions: string, testPath: string, ctx: PerceptualContext) {
    const predictionsPath = path.join(dir, `predictions-${Math.random().toString(36).slice(2)}.csv`);
    await writeFile(predictionsPath, predictions);
    const report = await checkPredictions({ predictionsPath, displayPath: "predictions.csv", testPath, context: ctx });
    return { passed: report.passed, lines: report.checks.map(formatCheck) };
  }

  it("counts an image task's test folder: one row per image file, named by its path in the folder", async () => {
    const images = path.join(dir, "input", "test");
    await mkdir(path.join(images, "sub"), { recursive: true });
    await mkdir(path.join(images, ".cache"), { recursive: true });
    for (const name of ["a.png", "B.JPG", "sub/c.webp", "notes.txt", ".hidden.png", ".cache/d.png"])
      await writeFile(path.join(images, name), "x");
    const ctx = context(
      {
        testFile: "test",
        idColumn: "image",
        labelColumn: "label",
        problemType: ProblemType.MULTICLASS,
        labelValues: ["x", "y"],
        images: { testRoot: "test" },
      },
      { columns: ["image", "label"] },
    );
    ctx.output!.idColumn = "image";
    const good = await checkAgainst("image,label\nB.JPG,x\na.png,y\nsub/c.webp,x\n", images, ctx);
    expect(good.lines).toContain("PASS rows: 3 rows, the test file has 3");
    expect(good.lines).toContain("PASS ids: every one of 3 test ids appears once");
    expect(good.passed).toBe(true);
    const bad = await checkAgainst("image,label\na.png,y\nc.webp,x\nnotes.txt,x\n", images, ctx);
    expect(bad.lines.filter((line) => line.startsWith("FAIL"))).toEqual([
      "FAIL ids: 2 test ids missing (B.JPG, sub/c.webp); 2 ids not in the test file (c.webp, notes.txt)",
    ]);
  });

  it("compares with the CSV perception derived from a test file it cannot read (an Excel workbook)", async () => {
    await mkdir(path.join(dir, "task", "input"), { recursive: true });
    await mkdir(path.join(dir, "task", "derived"), { recursive: true });
    await writeFile(path.join(dir, "task", "input", "test.xlsx"), "PK not really a workbook");
    await writeFile(path.join(dir, "task", "derived", "test.csv"), testCsv);
    const ctx = context({ testFile: "test.xlsx", derivedTestFile: "derived/test.csv" });
    const report = await checkAgainst("PassengerId,Survived\n1,0\n2,1\n3,1\n4,0\n", path.join(dir, "task", "input", "test.xlsx"), ctx);
    expect(report.lines).toContain("PASS ids: every one of 4 test ids appears once");
    expect(report.passed).toBe(true);
  });

  it("checks a forecast: every (item, time stamp) the test rows ask for once, numbers in the forecast column", async () => {
    const future = path.join(dir, "future.csv");
    await writeFile(future, "store,date,promo\n001,2024-03-01,1\n001,2024-03-02,0\n002,2024-03-01,0\n002,2024-03-02,1\n");
    const ctx = context(
      {
        testFile: "future.csv",
        idColumn: "",
        labelColumn: "sales",
        problemType: ProblemType.REGRESSION,
        labelValues: [],
        timeSeries: { itemColumn: "store", timestampColumn: "date", horizon: 2 },
      },
      { columns: ["store", "date", "sales"] },
    );
    ctx.output!.idColumn = "";
    const good = await checkAgainst(
      "store,date,sales\n001,2024-03-01,3.5\n001,2024-03-02,4\n002,2024-03-01,1\n002,2024-03-02,0\n",
      future,
      ctx,
    );
    expect(good.lines).toEqual([
      expect.stringMatching(/^PASS file/),
      "PASS format: CSV with 4 rows",
      "PASS columns: [store, date, sales]",
      "PASS rows: 4 rows, the test file has 4",
      "PASS series: every one of 4 (store, date) steps to forecast appears once",
      "PASS missing values: no missing, NaN or infinite values",
      "PASS numbers: every prediction is a finite number",
    ]);
    const bad = await checkAgainst(
      "store,date,sales\n001,2024-03-01,3.5\n001,2024-03-01,4\n002,2024-03-01,1\n002,2024-03-03,0\n",
      future,
      ctx,
    );
    expect(bad.lines.filter((line) => line.startsWith("FAIL"))).toEqual([
      "FAIL series: 2 steps missing (001 @ 2024-03-02, 002 @ 2024-03-02); 1 steps repeated (001 @ 2024-03-01); 1 steps not asked for (002 @ 2024-03-03)",
    ]);
  });
});
