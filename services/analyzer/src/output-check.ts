/** One output check and what it found. */
export interface OutputCheck {
  name: string;
  status: "pass" | "fail" | "skip";
  detail: string;
}

/** The line an Analysis records for a check, e.g. "FAIL ids: 2 test ids missing (e.g. 7, 9)". */
export function formatCheck(check: OutputCheck): string {
  return `${check.status.toUpperCase()} ${check.name}: ${check.detail}`;
}
