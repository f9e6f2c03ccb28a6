import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { UnauthenticatedError } from "@mlzero/errors";
import { createLogger } from "@mlzero/logging";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bearerToken, openBearerTokenFile, parseBearerTokens, singleTenant } from "./bearer-tokens.js";

const ACME = "acme-token-0123456789abcdef";
const GLOBEX = "globex-token-0123456789abcdef";

let dir: string;
let file: string;
let logged: string;
const logger = () =>
  createLogger({
    service: "gateway",
    level: "debug",
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString();
        done();
      },
    }),
  });

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "bearer-tokens-"));
  file = path.join(dir, "tokens");
  logged = "";
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Replaces the file whole, as a secret update does (a new inode). */
async function replaceFile(content: string): Promise<void> {
  const temp = `${file}.new`;
  await writeFile(temp, content);
  await rename(temp, file);
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("parseBearerTokens", () => {
  it("reads lines of TOKEN TENANT, with comments, commas or tabs, and a JSON object of token to tenant", () => {
    const lines = parseBearerTokens(`# tokens\n${ACME} acme\n\n${GLOBEX},globex\nacme-second-token-0123456789\tacme\n`);
    expect(lines.map((entry) => entry.tenant)).toEqual(["acme", "globex", "acme"]);
    const json = parseBearerTokens(JSON.stringify({ [ACME]: "acme", [GLOBEX]: "globex" }));
    expect(json.map((entry) => entry.tenant)).toEqual(["acme", "globex"]);
    // Only digests are kept.
    expect(JSON.stringify(json)).not.toContain(ACME);
  });

  it("refuses short tokens, unsafe tenants, repeats and malformed lines, naming the line and never the token", () => {
    const problems = [
      [`short acme`, /line 1 .*at least 16/],
      [`${ACME} ../etc`, /line 1 .*tenant "..\/etc" is not a safe name/],
      [`${ACME} acme\n${ACME} globex`, /line 2 .*appears twice/],
      [`${ACME} acme extra`, /line 1 .*expected TOKEN TENANT/],
      [`{"${ACME}": 1}`, /entry 1 .*not a string/],
      [`{"${ACME}": `, /not JSON/],
    ] as const;
    for (const [text, pattern] of problems) {
      let message = "";
      try {
        parseBearerTokens(text);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(pattern);
      expect(message).not.toContain(ACME);
    }
  });
});

describe("bearerToken", () => {
  it("takes the token of authorization: Bearer <token>, any case of the scheme", () => {
    expect(bearerToken({ authorization: `Bearer ${ACME}` })).toBe(ACME);
    expect(bearerToken({ authorization: `bearer  ${ACME} ` })).toBe(ACME);
    expect(() => bearerToken({})).toThrow(UnauthenticatedError);
    expect(() => bearerToken({ authorization: `Basic ${ACME}` })).toThrow(/must be: Bearer <token>/);
  });
});

describe("openBearerTokenFile", () => {
  it("maps tokens to tenants; none or an unknown one is unauthenticated", async () => {
    await writeFile(file, `${ACME} acme\n${GLOBEX} globex\n`);
    const auth = await openBearerTokenFile({ file, logger: logger() });
    expect(await auth.tenantOf(bearer(ACME))).toBe("acme");
    expect(await auth.tenantOf(bearer(GLOBEX))).toBe("globex");
    await expect(auth.tenantOf({})).rejects.toThrow(UnauthenticatedError);
    await expect(auth.tenantOf(bearer(`${ACME}x`))).rejects.toThrow(/the bearer token is not valid/);
    expect(logged).toMatch(/tenant tokens loaded/);
    expect(logged).not.toContain(ACME);
    expect(logged).not.toContain(GLOBEX);
  });

  it("reloads the file when it changes, without a restart; a broken update keeps the tokens in force", async () => {
    await writeFile(file, `${ACME} acme\n`);
    const auth = await openBearerTokenFile({ file, logger: logger(), checkEveryMs: 0 });
    expect(await auth.tenantOf(bearer(ACME))).toBe("acme");

    await replaceFile(`${GLOBEX} globex\n`);
    await expect(auth.tenantOf(bearer(ACME))).rejects.toThrow(UnauthenticatedError);
    expect(await auth.tenantOf(bearer(GLOBEX))).toBe("globex");

    await replaceFile(`${ACME} ../acme\n`);
    expect(await auth.tenantOf(bearer(GLOBEX))).toBe("globex");
    expect(logged).toMatch(/cannot reload the token file/);

    await rm(file);
    expect(await auth.tenantOf(bearer(GLOBEX))).toBe("globex");

    // Emptied: every token revoked.
    await replaceFile("# nobody\n");
    await expect(auth.tenantOf(bearer(GLOBEX))).rejects.toThrow(UnauthenticatedError);
    expect(logged).not.toContain(ACME);
    expect(logged).not.toContain(GLOBEX);
  });

  it("looks at the file at most every checkEveryMs", async () => {
    await writeFile(file, `${ACME} acme\n`);
    const auth = await openBearerTokenFile({ file, logger: logger(), checkEveryMs: 60_000 });
    await replaceFile(`${GLOBEX} globex\n`);
    expect(await auth.tenantOf(bearer(ACME))).toBe("acme");
  });

  it("fails at start on a missing or malformed file, naming the variable and not the token", async () => {
    await expect(openBearerTokenFile({ file, logger: logger() })).rejects.toThrow(/MLZERO_GATEWAY_TOKENS_FILE: .* \(ENOENT\)/);
    await writeFile(file, `${ACME}\n`);
    const error = await openBearerTokenFile({ file, logger: logger() }).catch((caught: Error) => caught);
    expect((error as Error).message).toMatch(/MLZERO_GATEWAY_TOKENS_FILE: .*line 1/);
    expect((error as Error).message).not.toContain(ACME);
  });
});

describe("singleTenant", () => {
  it("is every caller's tenant, unchecked", async () => {
    expect(await singleTenant().tenantOf({})).toBe("default");
  });
});
