import { AsyncLocalStorage } from "node:async_hooks";

/** Fields every log line carries while some work runs: the task, tenant and trace it is for. */
export interface LogFields {
  taskId?: string;
  tenant?: string;
  traceId?: string;
  [key: string]: string | number | undefined;
}

const current = new AsyncLocalStorage<LogFields>();

/**
 * Runs `work` with `fields` added to every line any logger of this package
 * writes during it, its awaits and the callbacks it starts included (a field
 * the line itself names wins). Nested calls add to the outer fields.
 */
export function withLogFields<T>(fields: LogFields, work: () => T): T {
  const outer = current.getStore();
  const defined = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== ""));
  return current.run(outer ? { ...outer, ...defined } : defined, work);
}

/** The fields {@link withLogFields} set for the work running now; empty outside any. */
export function currentLogFields(): LogFields {
  return current.getStore() ?? {};
}
