import { createHash, timingSafeEqual } from "node:crypto";
import { UnauthenticatedError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { openReloadableFile } from "./reloadable-file.js";

/** Who is calling: the tenant every read and write of the call is scoped to. */
export interface Authenticator {
  /** The caller's tenant from the call's metadata (lower-cased keys); UnauthenticatedError when it proves none. */
  tenantOf(metadata: Record<string, string>): Promise<string>;
}

/** Tenant of every call when no tokens are configured: the single-tenant gateway. */
export const DEFAULT_TENANT = "default";

/** Every caller is `tenant`, unchecked: no tokens configured (embedded `mlzero run`, a trusted network). */
export function singleTenant(tenant = DEFAULT_TENANT): Authenticator {
  return { tenantOf: async () => tenant };
}

/** Options for {@link openBearerTokenFile}. */
export interface BearerTokenFileOptions {
  /** The mounted secret: token → tenant (see {@link parseBearerTokens}). */
  file: string;
  logger: Logger;
  /** How often a call may look at the file for a change (default 1 s; 0: on every call). */
  checkEveryMs?: number;
}

/** Shortest token accepted: a guessable token is no secret. */
export const MIN_TOKEN_LENGTH = 16;

/** A tenant name: it names a workspace folder, so letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** One token, kept only as its SHA-256 digest. */
interface TokenEntry {
  digest: Buffer;
  tenant: string;
}

/**
 * Tokens of a secret file as `{ digest, tenant }`. Two forms:
 *
 * - a JSON object of token → tenant: `{"s3cr3t-token-of-acme": "acme"}`;
 * - lines of `TOKEN TENANT` (a space, a tab or a comma between them); blank
 *   lines and lines starting with `#` are skipped.
 *
 * Tokens are at least {@link MIN_TOKEN_LENGTH} printable characters without
 * spaces or commas; a tenant may hold several tokens (rotation). No message
 * ever quotes a token: a line is named by its number.
 */
export function parseBearerTokens(text: string): TokenEntry[] {
  const pairs: [token: string, tenant: string, where: string][] = [];
  if (text.trimStart().startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error("the token file starts with { but is not JSON");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("the token file's JSON is not an object");
    let index = 0;
    for (const [token, tenant] of Object.entries(parsed)) {
      index++;
      if (typeof tenant !== "string") throw new Error(`entry ${index} of the token file: the tenant is not a string`);
      pairs.push([token, tenant, `entry ${index}`]);
    }
  } else {
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim();
      if (!line || line.startsWith("#")) return;
      const fields = line.split(/[\s,]+/);
      if (fields.length !== 2) throw new Error(`line ${index + 1} of the token file: expected TOKEN TENANT`);
      pairs.push([fields[0]!, fields[1]!, `line ${index + 1}`]);
    });
  }
  const entries: TokenEntry[] = [];
  const seen = new Set<string>();
  for (const [token, tenant, where] of pairs) {
    if (token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token) || token.includes(",")) {
      throw new Error(`${where} of the token file: a token must be at least ${MIN_TOKEN_LENGTH} printable characters, no spaces or commas`);
    }
    if (!TENANT.test(tenant)) {
      throw new Error(`${where} of the token file: tenant ${JSON.stringify(tenant)} is not a safe name (letters, digits, . _ -)`);
    }
    const digest = sha256(token);
    const key = digest.toString("hex");
    if (seen.has(key)) throw new Error(`${where} of the token file: the token appears twice`);
    seen.add(key);
    entries.push({ digest, tenant });
  }
  return entries;
}

/**
 * Bearer tokens from a mounted secret file, mapped to tenants. Every call
 * needs `authorization: Bearer <token>` with a token of the file; none or an
 * unknown one is UNAUTHENTICATED. Tokens are compared in constant time
 * (digests, every entry compared) and never logged or kept in the clear.
 *
 * The file is read at start (an unreadable or malformed file is an error
 * then) and again when it changes (its modification time, size or inode, as
 * a Kubernetes secret update swaps it), looked at on a call at most every
 * `checkEveryMs`: rotation needs no restart. A change that cannot be read or
 * parsed keeps the tokens in force and is logged (without the file's
 * content); write the file whole (a rename) so no half-written file is read.
 */
export async function openBearerTokenFile(options: BearerTokenFileOptions): Promise<Authenticator> {
  const { logger } = options;
  const tokens = await openReloadableFile({
    file: options.file,
    variable: "MLZERO_GATEWAY_TOKENS_FILE",
    what: "token",
    parse: parseBearerTokens,
    onLoad: (entries, reloaded) => logTokens(logger, entries, reloaded ? "tenant tokens reloaded" : "tenant tokens loaded"),
    logger,
    ...(options.checkEveryMs === undefined ? {} : { checkEveryMs: options.checkEveryMs }),
  });

  return {
    async tenantOf(metadata) {
      const entries = await tokens.current();
      const token = bearerToken(metadata);
      const digest = sha256(token);
      let tenant: string | undefined;
      // Every entry is compared, whatever matched: the time says nothing about which.
      for (const entry of entries) {
        if (timingSafeEqual(entry.digest, digest) && tenant === undefined) tenant = entry.tenant;
      }
      if (tenant === undefined) throw new UnauthenticatedError("the bearer token is not valid");
      return tenant;
    },
  };
}

/** The token of `authorization: Bearer <token>`; UnauthenticatedError without one. */
export function bearerToken(metadata: Record<string, string>): string {
  const header = metadata.authorization?.trim();
  if (!header) throw new UnauthenticatedError("this gateway needs a bearer token: send the metadata authorization: Bearer <token>");
  const match = /^bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new UnauthenticatedError("the authorization metadata must be: Bearer <token>");
  return match[1]!;
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function logTokens(logger: Logger, entries: TokenEntry[], message: string): void {
  const tenants = [...new Set(entries.map((entry) => entry.tenant))].sort();
  if (entries.length === 0) logger.warn({ tokens: 0 }, `${message}: the file names no token, every call is refused`);
  else logger.info({ tokens: entries.length, tenants }, message);
}
