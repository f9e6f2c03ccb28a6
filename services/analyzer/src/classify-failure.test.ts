import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ExecutionResultSchema, FailureCategory, PlatformFailure } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { classifyFailure } from "./classify-failure.js";

const SITE = "/work/.venv/lib/python3.11/site-packages";

/** A traceback as Python prints it for an exception raised from main.py line `line`. */
function traceback(line: number, code: string, frames: string[], exception: string): string {
  return [
    "Traceback (most recent call last):",
    `  File "/data/acme/task-1/iter-001/main.py", line ${line}, in <module>`,
    `    ${code}`,
    ...frames,
    exception,
    "",
  ].join("\n");
}

const PANDAS_KEY_ERROR = [
  "Traceback (most recent call last):",
  `  File "${SITE}/pandas/core/indexes/base.py", line 3812, in get_loc`,
  "    return self._engine.get_loc(casted_key)",
  '  File "pandas/_libs/hashtable_class_helper.pxi", line 7096, in pandas._libs.hashtable.PyObjectHashTable.get_item',
  "KeyError: 'price'",
  "",
  "The above exception was the direct cause of the following exception:",
  "",
  traceback(
    14,
    "y = train['price']",
    [
      `  File "${SITE}/pandas/core/frame.py", line 4113, in __getitem__`,
      "    indexer = self.columns.get_loc(key)",
      `  File "${SITE}/pandas/core/indexes/base.py", line 3819, in get_loc`,
      "    raise KeyError(key) from err",
    ],
    "KeyError: 'price'",
  ),
].join("\n");

const cases: { name: string; stderr: string; category: FailureCategory; summary: RegExp; module?: string; columns?: string[] }[] = [
  {
    name: "a module that is not installed",
    stderr: traceback(3, "import xgboost as xgb", [], "ModuleNotFoundError: No module named 'xgboost'"),
    category: FailureCategory.MISSING_MODULE,
    module: "xgboost",
    summary: /^Python module 'xgboost' is not available: ModuleNotFoundError: No module named 'xgboost' \(main\.py line 3\)$/,
  },
  {
    name: "a submodule that is not installed",
    stderr: traceback(2, "from autogluon.tabular import TabularPredictor", [], "ModuleNotFoundError: No module named 'autogluon.tabular'"),
    category: FailureCategory.MISSING_MODULE,
    module: "autogluon",
    summary: /'autogluon' is not available/,
  },
  {
    name: "a name missing from an installed module",
    stderr: traceback(
      5,
      "from sklearn.metrics import root_mean_squared_error",
      [],
      "ImportError: cannot import name 'root_mean_squared_error' from 'sklearn.metrics' (/work/.venv/lib/python3.11/site-packages/sklearn/metrics/__init__.py)",
    ),
    category: FailureCategory.MISSING_MODULE,
    module: "sklearn.metrics",
    summary: /^Python module 'sklearn.metrics'/,
  },
  {
    name: "a pandas KeyError on one column",
    stderr: PANDAS_KEY_ERROR,
    category: FailureCategory.BAD_COLUMN,
    columns: ["price"],
    summary: /^The program used column 'price', which the data does not have: KeyError: 'price' \(main\.py line 14\)$/,
  },
  {
    name: "columns not in index",
    stderr: traceback(
      9,
      "X = df[['a', 'Age', 'Fare']]",
      [`  File "${SITE}/pandas/core/indexes/base.py", line 6264, in _raise_if_missing`, '    raise KeyError(f"{not_found} not in index")'],
      "KeyError: \"['Age', 'Fare'] not in index\"",
    ),
    category: FailureCategory.BAD_COLUMN,
    columns: ["Age", "Fare"],
    summary: /column 'Age', 'Fare'/,
  },
  {
    name: "columns missing at transform",
    stderr: traceback(
      20,
      "ct.transform(test)",
      [
        `  File "${SITE}/sklearn/compose/_column_transformer.py", line 1066, in transform`,
        '    raise ValueError(f"columns are missing: {diff}")',
      ],
      "ValueError: columns are missing: {'b'}",
    ),
    category: FailureCategory.BAD_COLUMN,
    columns: ["b"],
    summary: /'b'/,
  },
  {
    name: "a KeyError on a dict, not a column",
    stderr: traceback(2, "params['learning_rate']", [], "KeyError: 'learning_rate'"),
    category: FailureCategory.RUNTIME_ERROR,
    summary: /^KeyError: 'learning_rate' \(main\.py line 2\)$/,
  },
  {
    name: "a feature count mismatch",
    stderr: traceback(
      30,
      "model.predict(X_test)",
      [`  File "${SITE}/sklearn/utils/validation.py", line 2926, in _check_n_features`, "    raise ValueError("],
      "ValueError: X has 4 features, but LGBMClassifier is expecting 3 features as input.",
    ),
    category: FailureCategory.SHAPE_MISMATCH,
    summary: /^ValueError: X has 4 features/,
  },
  {
    name: "a length mismatch",
    stderr: traceback(12, "sub['label'] = preds", [], "ValueError: Length of values (2) does not match length of index (4)"),
    category: FailureCategory.SHAPE_MISMATCH,
    summary: /Length of values/,
  },
  {
    name: "inconsistent numbers of samples",
    stderr: traceback(8, "model.fit(X, y)", [], "ValueError: Found input variables with inconsistent numbers of samples: [3, 2]"),
    category: FailureCategory.SHAPE_MISMATCH,
    summary: /inconsistent numbers of samples/,
  },
  {
    name: "a numpy allocation",
    stderr: traceback(
      2,
      "x = np.ones((200000, 200000))",
      [],
      "numpy._core._exceptions._ArrayMemoryError: Unable to allocate 298. GiB for an array with shape (200000, 200000) and data type float64",
    ),
    category: FailureCategory.OUT_OF_MEMORY,
    summary: /_ArrayMemoryError: Unable to allocate 298\. GiB/,
  },
  {
    name: "a bare MemoryError",
    stderr: traceback(4, "data = bytearray(1024 ** 3)", [], "MemoryError"),
    category: FailureCategory.OUT_OF_MEMORY,
    summary: /^MemoryError \(main\.py line 4\)$/,
  },
  {
    name: "a C++ allocation failure before a generic exception",
    stderr:
      "terminate called after throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc\n" +
      traceback(40, "model.fit(X, y)", [], "lightgbm.basic.LightGBMError: std::bad_alloc"),
    category: FailureCategory.OUT_OF_MEMORY,
    summary: /LightGBMError: std::bad_alloc/,
  },
  {
    name: "an unclosed parenthesis",
    stderr: [
      '  File "/data/acme/task-1/iter-001/main.py", line 2',
      "    print('a'",
      "         ^",
      "SyntaxError: '(' was never closed",
      "",
    ].join("\n"),
    category: FailureCategory.SYNTAX_ERROR,
    summary: /^SyntaxError: '\(' was never closed \(main\.py line 2\)$/,
  },
  {
    name: "bad indentation",
    stderr: [
      '  File "/data/acme/task-1/iter-001/main.py", line 2',
      "    print(1)",
      "    ^",
      "IndentationError: expected an indented block after function definition on line 1",
    ].join("\n"),
    category: FailureCategory.SYNTAX_ERROR,
    summary: /IndentationError/,
  },
  {
    name: "a string where a float is needed",
    stderr: traceback(
      25,
      "model.fit(X, y)",
      [
        `  File "${SITE}/sklearn/utils/_array_api.py", line 983, in _asarray_with_order`,
        "    array = numpy.asarray(array, order=order, dtype=dtype)",
      ],
      "ValueError: could not convert string to float: 'male'",
    ),
    category: FailureCategory.TYPE_ERROR,
    summary: /could not convert string to float: 'male'/,
  },
  {
    name: "a TypeError",
    stderr: traceback(7, "score = metric(y, p, squared=False)", [], "TypeError: got an unexpected keyword argument 'squared'"),
    category: FailureCategory.TYPE_ERROR,
    summary: /^TypeError: got an unexpected keyword argument 'squared'/,
  },
  {
    name: "a ufunc on mixed dtypes",
    stderr: traceback(
      3,
      "df['a'] + 'x'",
      [],
      "numpy._core._exceptions._UFuncNoLoopError: ufunc 'add' did not contain a loop with signature matching types (dtype('int64'), dtype('<U1')) -> None",
    ),
    category: FailureCategory.TYPE_ERROR,
    summary: /_UFuncNoLoopError/,
  },
  {
    name: "a ragged CSV",
    stderr: traceback(
      2,
      "pd.read_csv('../input/train.csv')",
      ['  File "pandas/_libs/parsers.pyx", line 2061, in pandas._libs.parsers.raise_parser_error'],
      "pandas.errors.ParserError: Error tokenizing data. C error: Expected 2 fields in line 4, saw 4\n",
    ),
    category: FailureCategory.DATA_ERROR,
    summary: /^pandas\.errors\.ParserError: Error tokenizing data/,
  },
  {
    name: "a missing input file",
    stderr: traceback(
      2,
      "pd.read_csv('../input/train.csv')",
      [`  File "${SITE}/pandas/io/common.py", line 873, in get_handle`, "    handle = open("],
      "FileNotFoundError: [Errno 2] No such file or directory: '../input/train.csv'",
    ),
    category: FailureCategory.DATA_ERROR,
    summary: /No such file or directory: '\.\.\/input\/train\.csv'/,
  },
  {
    name: "NaN in the features",
    stderr: traceback(
      9,
      "model.fit(X, y)",
      [],
      "ValueError: Input X contains NaN.\nLogisticRegression does not accept missing values encoded as NaN natively.",
    ),
    category: FailureCategory.DATA_ERROR,
    summary: /^ValueError: Input X contains NaN\. \(main\.py line 9\)$/,
  },
  {
    name: "any other exception",
    stderr: traceback(1, "raise RuntimeError('model did not converge')", [], "RuntimeError: model did not converge"),
    category: FailureCategory.RUNTIME_ERROR,
    summary: /^RuntimeError: model did not converge \(main\.py line 1\)$/,
  },
  {
    name: "a shell error without a traceback",
    stderr: "run.sh: 1: python3.99: not found\n",
    category: FailureCategory.RUNTIME_ERROR,
    summary: /^The program exited with status 1; its last output was: run\.sh: 1: python3\.99: not found\.$/,
  },
];

describe("classifyFailure", () => {
  it.each(cases)("classifies $name", ({ stderr, category, summary, module, columns }) => {
    const result = create(ExecutionResultSchema, { exitCode: 1, stderrTail: stderr });
    const diagnosis = classifyFailure({ result, stderr, stdout: "loading data\n" });
    expect(FailureCategory[diagnosis.category]).toBe(FailureCategory[category]);
    expect(diagnosis.summary).toMatch(summary);
    if (module !== undefined) expect(diagnosis.module).toBe(module);
    if (columns !== undefined) expect(diagnosis.columns).toEqual(columns);
  });

  it("reads the exception from stdout when stderr has none", () => {
    const stdout = "epoch 1\n" + traceback(5, "train()", [], "RuntimeError: boom");
    const diagnosis = classifyFailure({ result: create(ExecutionResultSchema, { exitCode: 1 }), stderr: "", stdout });
    expect(diagnosis.summary).toBe("RuntimeError: boom (main.py line 5)");
  });

  it("takes a timeout, a cancel and a SIGKILL from the result before the logs", () => {
    const stderr = traceback(1, "x()", [], "ValueError: earlier");
    const timedOut = create(ExecutionResultSchema, { exitCode: -1, signal: "SIGTERM", timedOut: true, duration: durationFromMs(120_400) });
    expect(classifyFailure({ result: timedOut, stderr, stdout: "" })).toMatchObject({
      category: FailureCategory.TIMEOUT,
      summary: "The program did not finish within its time limit and was stopped after 120 s.",
    });
    const cancelled = create(ExecutionResultSchema, { exitCode: -1, signal: "SIGTERM", cancelled: true });
    expect(classifyFailure({ result: cancelled, stderr, stdout: "" }).category).toBe(FailureCategory.CANCELLED);
    const killed = create(ExecutionResultSchema, {
      exitCode: -1,
      signal: "SIGKILL",
      peakMemoryBytes: 3n * 1024n ** 3n,
      duration: durationFromMs(42_000),
    });
    expect(classifyFailure({ result: killed, stderr, stdout: "" })).toMatchObject({
      category: FailureCategory.OUT_OF_MEMORY,
      summary: expect.stringMatching(/killed \(SIGKILL\) after 42 s.*3072 MiB/),
    });
    const shellKilled = create(ExecutionResultSchema, { exitCode: 137 });
    expect(classifyFailure({ result: shellKilled, stderr: "run.sh: line 1:  1234 Killed  python main.py\n", stdout: "" }).category).toBe(
      FailureCategory.OUT_OF_MEMORY,
    );
  });

  it("takes what the platform reported (OOMKilled, deadline, image pull) before the exit status and logs", () => {
    const stderr = traceback(1, "x()", [], "ValueError: earlier");
    const oomKilled = create(ExecutionResultSchema, {
      exitCode: 137,
      platformFailure: PlatformFailure.OOM_KILLED,
      platformMessage: "OOMKilled",
      duration: durationFromMs(30_000),
    });
    expect(classifyFailure({ result: oomKilled, stderr, stdout: "" })).toEqual({
      category: FailureCategory.OUT_OF_MEMORY,
      summary: "The program passed its container's memory limit and was OOMKilled after 30 s (OOMKilled).",
    });
    const deadline = create(ExecutionResultSchema, { exitCode: -1, timedOut: true, platformFailure: PlatformFailure.DEADLINE_EXCEEDED });
    expect(classifyFailure({ result: deadline, stderr, stdout: "" }).category).toBe(FailureCategory.TIMEOUT);
    const imagePull = create(ExecutionResultSchema, {
      exitCode: -1,
      platformFailure: PlatformFailure.IMAGE_PULL,
      platformMessage: "ImagePullBackOff: Back-off pulling image",
    });
    expect(classifyFailure({ result: imagePull, stderr: "", stdout: "" })).toEqual({
      category: FailureCategory.PLATFORM,
      summary: "The program never started: its image could not be pulled (ImagePullBackOff: Back-off pulling image).",
    });
  });

  it("reports a signal it did not send as a runtime error", () => {
    const result = create(ExecutionResultSchema, { exitCode: -1, signal: "SIGSEGV" });
    expect(classifyFailure({ result, stderr: "", stdout: "" })).toMatchObject({
      category: FailureCategory.RUNTIME_ERROR,
      summary: "The program was killed by SIGSEGV without any output.",
    });
  });

  it("says so when the run was interrupted rather than blaming the program's last output", () => {
    const result = create(ExecutionResultSchema, { exitCode: -1, interrupted: true });
    const diagnosis = classifyFailure({ result, stderr: "Traceback (most recent call last):\nValueError: old\n", stdout: "" });
    expect(diagnosis.category).toBe(FailureCategory.RUNTIME_ERROR);
    expect(diagnosis.summary).toMatch(/^The run was interrupted/);
  });
});
