import { FailureCategory, PlatformFailure, type ExecutionResult } from "@mlzero/proto";
import { findException, type PythonException } from "./find-exception.js";

/** Why a run failed, with what a fix needs to know. */
export interface FailureDiagnosis {
  category: FailureCategory;
  /** Root cause in one or two sentences, naming the exception line. */
  summary: string;
  exception?: PythonException;
  /** Module that could not be imported (MISSING_MODULE). */
  module?: string;
  /** Columns the program asked for that the data does not have (BAD_COLUMN). */
  columns?: string[];
}

/** What a failed run left to go on. */
export interface FailureEvidence {
  result: ExecutionResult;
  /** The end of the program's stderr (from stderr.log, or the result's tail). */
  stderr: string;
  /** The end of its stdout, for programs that log exceptions there. */
  stdout: string;
}

const COLUMN_MESSAGE = /not in index|columns are missing|are in the \[columns\]|not found in axis/;

/**
 * Ordered rules: the first whose test matches the exception decides. Rules on
 * the exception's class come first, then rules on the message of generic
 * classes (ValueError, LightGBMError, ...).
 */
const RULES: [FailureCategory, (exception: PythonException) => boolean][] = [
  [FailureCategory.OUT_OF_MEMORY, (e) => /^(MemoryError|_ArrayMemoryError|OutOfMemoryError)$/.test(e.type)],
  [FailureCategory.SYNTAX_ERROR, (e) => /^(SyntaxError|IndentationError|TabError)$/.test(e.type)],
  [FailureCategory.MISSING_MODULE, (e) => /^(ModuleNotFoundError|ImportError)$/.test(e.type)],
  // A KeyError raised inside pandas is a column lookup; one from a dict is not.
  [FailureCategory.BAD_COLUMN, (e) => e.type === "KeyError" && /pandas[/\\]/.test(e.traceback)],
  [FailureCategory.DATA_ERROR, (e) => /^(ParserError|EmptyDataError|UnicodeDecodeError)$/.test(e.type)],
  // Only a missing input file is a data problem; any other is the program's.
  [FailureCategory.DATA_ERROR, (e) => e.type === "FileNotFoundError" && /'(\.\.\/)?input\//.test(e.message)],
  [FailureCategory.TYPE_ERROR, (e) => e.type === "TypeError"],
  [FailureCategory.OUT_OF_MEMORY, (e) => /Unable to allocate|std::bad_alloc|out of memory|Cannot allocate memory/i.test(e.message)],
  [FailureCategory.BAD_COLUMN, (e) => COLUMN_MESSAGE.test(e.message)],
  [FailureCategory.DATA_ERROR, (e) => /Error tokenizing data|Input (X |y )?contains (NaN|infinity)|No columns to parse/.test(e.message)],
  [
    FailureCategory.SHAPE_MISMATCH,
    (e) =>
      /shape|Length of values|feature_names mismatch|number of features|inconsistent numbers of samples|features, but \w+ is expecting|feature names should match/i.test(
        e.message,
      ),
  ],
  [
    FailureCategory.TYPE_ERROR,
    (e) => /could not convert string to float|invalid literal for|dtype|Cannot cast|Unknown label type/i.test(e.message),
  ],
];

/**
 * Classifies a failed run from its exit status and logs. Cancellation,
 * what the platform reported (OOMKilled, deadline, image pull) and timeout
 * come from the result itself; a SIGKILL the runner did not send is the
 * kernel's OOM killer; otherwise the program's last exception decides.
 */
export function classifyFailure(evidence: FailureEvidence): FailureDiagnosis {
  const { result } = evidence;
  const seconds = Math.round(Number(result.duration?.seconds ?? 0n));
  if (result.cancelled) {
    return { category: FailureCategory.CANCELLED, summary: "The task was cancelled while its program was running." };
  }
  const platform = platformDiagnosis(result, seconds);
  if (platform) return platform;
  if (result.timedOut) {
    return {
      category: FailureCategory.TIMEOUT,
      summary: `The program did not finish within its time limit and was stopped after ${seconds} s.`,
    };
  }
  if (result.interrupted) {
    return {
      category: FailureCategory.RUNTIME_ERROR,
      summary:
        "The run was interrupted: its process ended while no executor watched it and left no exit status, so how the program ended is unknown.",
    };
  }
  // A process killed outright prints nothing about it, so any traceback in
  // its log is from earlier and not the cause. Exit status 137 is a shell
  // reporting its child's SIGKILL.
  const killed = result.signal === "SIGKILL" || result.exitCode === 137 || /^Killed$/m.test(evidence.stderr);
  if (killed) {
    const peak = Number(result.peakMemoryBytes) / 1024 ** 2;
    return {
      category: FailureCategory.OUT_OF_MEMORY,
      summary: `The program was killed (SIGKILL) after ${seconds} s, which the system does when it runs out of memory; its peak sampled memory was ${Math.round(peak)} MiB.`,
    };
  }
  const log = findException(evidence.stderr) ? evidence.stderr : evidence.stdout;
  const exception = findException(log);
  if (exception === undefined) {
    const lastLine = lastNonEmptyLine(evidence.stderr) ?? lastNonEmptyLine(evidence.stdout);
    const status = result.signal ? `was killed by ${result.signal}` : `exited with status ${result.exitCode}`;
    return {
      category: FailureCategory.RUNTIME_ERROR,
      summary: `The program ${status}${lastLine ? `; its last output was: ${lastLine}` : " without any output"}.`,
    };
  }
  const category = categoryOf(exception, log);
  const diagnosis: FailureDiagnosis = { category, summary: describe(exception), exception };
  if (category === FailureCategory.MISSING_MODULE) {
    diagnosis.module = missingModule(exception.message);
    if (diagnosis.module) {
      diagnosis.summary = `Python module '${diagnosis.module}' is not available: ${describe(exception)}`;
    }
  }
  if (category === FailureCategory.BAD_COLUMN) {
    diagnosis.columns = missingColumns(exception.message);
    if (diagnosis.columns.length > 0) {
      const names = diagnosis.columns.map((column) => `'${column}'`).join(", ");
      diagnosis.summary = `The program used column ${names}, which the data does not have: ${describe(exception)}`;
    }
  }
  return diagnosis;
}

/** The outcome the platform decided (Kubernetes runs), in the analyzer's categories. */
function platformDiagnosis(result: ExecutionResult, seconds: number): FailureDiagnosis | undefined {
  const said = result.platformMessage ? ` (${result.platformMessage})` : "";
  switch (result.platformFailure) {
    case PlatformFailure.OOM_KILLED:
      return {
        category: FailureCategory.OUT_OF_MEMORY,
        summary: `The program passed its container's memory limit and was OOMKilled after ${seconds} s${said}.`,
      };
    case PlatformFailure.DEADLINE_EXCEEDED:
      return {
        category: FailureCategory.TIMEOUT,
        summary: `The program's Job ran past its deadline and was stopped after ${seconds} s${said}.`,
      };
    case PlatformFailure.IMAGE_PULL:
      return {
        category: FailureCategory.PLATFORM,
        summary: `The program never started: its image could not be pulled${said}.`,
      };
    default:
      return undefined;
  }
}

function categoryOf(exception: PythonException, log: string): FailureCategory {
  const rule = RULES.find(([, test]) => test(exception));
  if (rule) return rule[0];
  // Native code may report running out of memory only in the log (e.g. a
  // C++ "std::bad_alloc" before a generic Python exception).
  return /std::bad_alloc|CUDA out of memory/.test(log) ? FailureCategory.OUT_OF_MEMORY : FailureCategory.RUNTIME_ERROR;
}

/** The exception line, and where in the program it was raised. */
function describe(exception: PythonException): string {
  return `${exception.line}${exception.location ? ` (${exception.location})` : ""}`;
}

/** "No module named 'autogluon.tabular'" → "autogluon"; "cannot import name 'x' from 'sklearn.foo'" → "sklearn.foo". */
function missingModule(message: string): string | undefined {
  const notFound = /No module named '([^']+)'/.exec(message);
  if (notFound) return notFound[1]!.split(".")[0];
  const cannotImport = /cannot import name '[^']+' from '([^']+)'/.exec(message);
  return cannotImport?.[1];
}

/** Column names quoted in a KeyError or pandas' missing-column messages. */
function missingColumns(message: string): string[] {
  const listed = /\[([^\]]*)\][^[]*(?:not in index|are in the \[columns\])|columns are missing: \{([^}]*)\}/.exec(message);
  const source = listed ? (listed[1] ?? listed[2] ?? "") : message;
  return [...source.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1] ?? match[2] ?? "");
}

function lastNonEmptyLine(text: string): string | undefined {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .at(-1);
}
