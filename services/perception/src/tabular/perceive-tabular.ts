import { FileRole, type Metric, type OutputSpec, type ProblemType } from "@mlzero/proto";
import type { InferenceLog } from "../inference-log.js";
import { chooseMetric } from "../metrics.js";
import { assignRoles, type TabularRoles } from "./assign-roles.js";
import { inferId } from "./infer-id.js";
import { inferLabel } from "./infer-label.js";
import { inferOutput } from "./infer-output.js";
import { inferPositiveClass } from "./infer-positive-class.js";
import { inferProblemType } from "./infer-problem-type.js";
import type { TableFile } from "./table-file.js";

/** What perception learns about a tabular task. */
export interface TabularTask {
  roles: TabularRoles;
  label: string;
  id?: string;
  problemType: ProblemType;
  labelValues: string[];
  metric: Metric;
  output: OutputSpec;
}

/** What {@link perceiveTabular} works from. */
export interface PerceiveTabularOptions {
  tables: readonly TableFile[];
  /** Request and file description, whole (hints may sit past the length shown to later agents). */
  description: string;
  /** Base names of every input file, so the description's mentions of them are not read as the output name. */
  inputFileNames: readonly string[];
  log: InferenceLog;
}

/**
 * Works out a tabular task from its profiled tables: which file is which,
 * the label, the id, the problem type, the metric and the output format,
 * each step recorded in the log with its evidence.
 */
export function perceiveTabular(options: PerceiveTabularOptions): TabularTask {
  const { tables, description, log } = options;
  const roles = assignRoles(tables, log);
  const label = inferLabel(roles, description, log);
  const id = inferId(roles, label, log);
  const { problemType, labelValues } = inferProblemType(roles.train, label, description, log);
  const { metric, evidence } = chooseMetric(description, problemType);
  log.add("metric", metric.name, evidence);
  const output = inferOutput(roles, { label, id, labelValues, description, inputFileNames: options.inputFileNames }, log);
  output.positiveClass = inferPositiveClass({ problemType, metric: metric.name, label, labelValues, sample: roles.sampleSubmission }, log);
  return { roles, label, id, problemType, labelValues, metric, output };
}

/** The role a table plays in the task. */
export function tableRole(task: TabularTask, table: TableFile): FileRole {
  if (table === task.roles.train) return FileRole.TRAIN;
  if (table === task.roles.test) return FileRole.TEST;
  if (table === task.roles.sampleSubmission) return FileRole.SAMPLE_SUBMISSION;
  return FileRole.OTHER_DATA;
}
