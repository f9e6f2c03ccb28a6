import type { FieldCondition, Filter, JsonValue, Payload } from "./vector-store.js";

/**
 * Whether a payload passes a filter, with Qdrant's semantics: a dotted key
 * walks nested objects, and a condition on an array field holds when any
 * element matches.
 */
export function matchesFilter(payload: Payload, filter: Filter | undefined): boolean {
  if (!filter) return true;
  return (
    (filter.must ?? []).every((condition) => holds(payload, condition)) &&
    !(filter.must_not ?? []).some((condition) => holds(payload, condition))
  );
}

function holds(payload: Payload, condition: FieldCondition): boolean {
  const field = lookup(payload, condition.key);
  const values = Array.isArray(field) ? field : [field];
  const { match } = condition;
  if ("value" in match) return values.some((value) => value === match.value);
  const accepted = new Set<JsonValue | undefined>(match.any);
  return values.some((value) => accepted.has(value));
}

function lookup(payload: Payload, key: string): JsonValue | undefined {
  let current: JsonValue | undefined = payload;
  for (const part of key.split(".")) {
    if (typeof current !== "object" || current === null || Array.isArray(current)) return undefined;
    current = current[part];
  }
  return current;
}
