import { createHash } from "node:crypto";
import { InvalidInputError } from "@mlzero/errors";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Namespace of every mlzero point id, so ids never collide with another system's v5 ids. */
export const MLZERO_NAMESPACE = "8f6a3c1e-5b7d-4e2a-9c0f-1d3b5a7e9c2f";

/** True for a lowercase hyphenated UUID, the only id form the stores accept. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * RFC 4122 name-based UUID (SHA-1, version 5): the same name in the same
 * namespace always gives the same id, which makes re-indexing idempotent.
 */
export function uuidV5(name: string, namespace: string = MLZERO_NAMESPACE): string {
  if (!isUuid(namespace)) throw new InvalidInputError(`namespace ${JSON.stringify(namespace)} is not a UUID`);
  const hash = createHash("sha1")
    .update(Buffer.from(namespace.replaceAll("-", ""), "hex"))
    .update(name, "utf8")
    .digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
