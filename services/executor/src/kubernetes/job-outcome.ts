import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { PlatformFailure } from "@mlzero/proto";
import { signalName } from "../run-record.js";
import { PROGRAM_CONTAINER } from "./job-spec.js";

/** How a Job's run ended, read from the Job and its pods. */
export interface JobOutcome {
  exitCode: number;
  signal: string;
  timedOut: boolean;
  platformFailure: PlatformFailure;
  platformMessage: string;
  /** When the run started and ended, from the Job's status (undefined when it says nothing). */
  startedAtMs?: number;
  endedAtMs?: number;
}

/** Waiting reasons after which the program's image will not come: the kubelet backs off or cannot even try. */
const IMAGE_PULL_FAILURES = new Set(["ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"]);

/** The pods of a Job, newest first: the Job controller labels each with its Job's name. */
export function podsOf(job: V1Job, pods: Iterable<V1Pod>): V1Pod[] {
  const name = job.metadata?.name;
  return [...pods]
    .filter((pod) => pod.metadata?.labels?.["batch.kubernetes.io/job-name"] === name)
    .sort((a, b) => timeOf(b.metadata?.creationTimestamp) - timeOf(a.metadata?.creationTimestamp));
}

/**
 * The outcome once the run is over, undefined while it goes on. Over means:
 * the Job is Complete or Failed, or its program's image cannot be pulled (the
 * Job would wait for it until its deadline). A Failed Job's exit status comes
 * from its pod's terminated container (OOMKilled among its reasons), or from
 * the exit code in the podFailurePolicy's message when the pod is gone.
 */
export function jobOutcome(job: V1Job, pods: V1Pod[]): JobOutcome | undefined {
  const conditions = job.status?.conditions ?? [];
  const holds = (type: string) => conditions.find((condition) => condition.type === type && condition.status === "True");
  const startedAtMs = job.status?.startTime ? timeOf(job.status.startTime) : undefined;
  const complete = holds("Complete");
  if (complete) {
    const endedAtMs = timeOf(job.status?.completionTime ?? complete.lastTransitionTime);
    return {
      exitCode: 0,
      signal: "",
      timedOut: false,
      platformFailure: PlatformFailure.UNSPECIFIED,
      platformMessage: "",
      startedAtMs,
      endedAtMs,
    };
  }
  const failed = holds("Failed");
  if (failed) {
    const endedAtMs = timeOf(failed.lastTransitionTime);
    const said = [failed.reason, failed.message].filter(Boolean).join(": ");
    if (failed.reason === "DeadlineExceeded") {
      return {
        exitCode: -1,
        signal: "SIGKILL",
        timedOut: true,
        platformFailure: PlatformFailure.DEADLINE_EXCEEDED,
        platformMessage: said,
        startedAtMs,
        endedAtMs,
      };
    }
    const terminated = pods
      .flatMap((pod) => pod.status?.containerStatuses ?? [])
      .find((status) => status.name === PROGRAM_CONTAINER && status.state?.terminated)?.state?.terminated;
    if (terminated?.reason === "OOMKilled") {
      return {
        exitCode: terminated.exitCode,
        signal: "SIGKILL",
        timedOut: false,
        platformFailure: PlatformFailure.OOM_KILLED,
        platformMessage: "OOMKilled: the container passed its memory limit",
        startedAtMs,
        endedAtMs,
      };
    }
    const exitCode = terminated?.exitCode ?? Number(/exit code (\d+)/.exec(failed.message ?? "")?.[1] ?? -1);
    const signal = terminated?.signal ? `SIG${terminated.signal}` : exitCode > 128 ? signalName(exitCode - 128) : "";
    return {
      exitCode,
      signal,
      timedOut: false,
      platformFailure: PlatformFailure.UNSPECIFIED,
      platformMessage: said,
      startedAtMs,
      endedAtMs,
    };
  }
  for (const pod of pods) {
    const waiting = pod.status?.containerStatuses?.find((status) => status.name === PROGRAM_CONTAINER)?.state?.waiting;
    if (waiting?.reason && IMAGE_PULL_FAILURES.has(waiting.reason)) {
      return {
        exitCode: -1,
        signal: "",
        timedOut: false,
        platformFailure: PlatformFailure.IMAGE_PULL,
        platformMessage: [waiting.reason, waiting.message].filter(Boolean).join(": "),
        startedAtMs,
      };
    }
  }
  return undefined;
}

/**
 * The pod the program runs (or ran) in that a log can be read from:
 * scheduled to a node, and not one a disruption (a lost node, an eviction)
 * ended, which the Job replaces. Creation times have one-second resolution,
 * so newest first alone cannot tell a replacement from the pod it replaced.
 */
export function podWithLog(pods: V1Pod[]): V1Pod | undefined {
  const scheduled = pods.filter((pod) => pod.spec?.nodeName);
  return scheduled.find((pod) => !disrupted(pod)) ?? scheduled[0];
}

function disrupted(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((condition) => condition.type === "DisruptionTarget" && condition.status === "True");
}

function timeOf(value: Date | string | undefined): number {
  return value ? new Date(value).getTime() : 0;
}
