import type { Logger } from "@mlzero/logging";
import { openReloadableFile } from "./reloadable-file.js";
import { z } from "zod";

/** What one tenant may hold; 0 is no limit. */
export interface TenantQuota {
  /** Tasks started and not yet finished. */
  maxRunningTasks: number;
  /** Tasks accepted and waiting to start. */
  maxQueuedTasks: number;
  /** GPUs its running tasks hold together (each task: budget.gpus × its round width). */
  maxGpus: number;
}

/** What the gateway runs at once over every tenant; 0 is no limit. */
export interface TotalQuota {
  maxRunningTasks: number;
  maxGpus: number;
}

/** The limits in force: every tenant's (its own or the defaults) and the gateway's. */
export interface QuotaPolicy {
  defaults: TenantQuota;
  /** Tenants with limits of their own; what an entry leaves out comes from `defaults`. */
  tenants: ReadonlyMap<string, Partial<TenantQuota>>;
  total: TotalQuota;
}

/** No limit at all: every task starts when it is submitted. */
export const NO_QUOTAS: QuotaPolicy = {
  defaults: { maxRunningTasks: 0, maxQueuedTasks: 0, maxGpus: 0 },
  tenants: new Map(),
  total: { maxRunningTasks: 0, maxGpus: 0 },
};

/** The limits of `tenant` under `policy`. */
export function quotaOf(policy: QuotaPolicy, tenant: string): TenantQuota {
  return { ...policy.defaults, ...policy.tenants.get(tenant) };
}

/** True when some limit on GPUs is set (a tenant's, the defaults' or the gateway's). */
export function limitsGpus(policy: QuotaPolicy, tenant: string): boolean {
  return quotaOf(policy, tenant).maxGpus > 0 || policy.total.maxGpus > 0;
}

/** Where the gateway reads its limits, once per admission decision. */
export interface Quotas {
  /** The limits in force now (a reloadable source looks for a change first). */
  current(): Promise<QuotaPolicy>;
}

/** Limits that never change (the environment's, or none). */
export function fixedQuotas(policy: QuotaPolicy = NO_QUOTAS): Quotas {
  return { current: async () => policy };
}

/** A tenant name, as in the token file: letters, digits, `.`, `_`, `-`. */
const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const limit = z.number().int().min(0).max(1_000_000);
const tenantLimits = z.strictObject({
  max_running_tasks: limit.optional(),
  max_queued_tasks: limit.optional(),
  max_gpus: limit.optional(),
});
const quotaFile = z.strictObject({
  defaults: tenantLimits.optional(),
  tenants: z.record(z.string(), tenantLimits).optional(),
  total: z.strictObject({ max_running_tasks: limit.optional(), max_gpus: limit.optional() }).optional(),
});
type TenantLimitsJson = z.infer<typeof tenantLimits>;

/**
 * The limits of a quota file over `base` (the environment's): a JSON object
 *
 * ```json
 * {
 *   "defaults": { "max_running_tasks": 2, "max_queued_tasks": 50, "max_gpus": 2 },
 *   "tenants": { "acme": { "max_running_tasks": 8, "max_gpus": 8 } },
 *   "total": { "max_running_tasks": 16, "max_gpus": 8 }
 * }
 * ```
 *
 * Every part is optional; what the file leaves out comes from `base`, and a
 * tenant's entry from the defaults. 0 is no limit. Unknown keys are errors
 * (a misspelt limit would otherwise be no limit).
 */
export function parseQuotas(text: string, base: QuotaPolicy = NO_QUOTAS): QuotaPolicy {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`the quota file is not JSON: ${(error as Error).message}`);
  }
  const parsed = quotaFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join(".") : "the file";
    throw new Error(`the quota file: ${where}: ${issue.message}`);
  }
  const file = parsed.data;
  const tenants = new Map<string, Partial<TenantQuota>>();
  for (const [tenant, limits] of Object.entries(file.tenants ?? {})) {
    if (!TENANT.test(tenant))
      throw new Error(`the quota file: tenants: ${JSON.stringify(tenant)} is not a tenant name (letters, digits, . _ -)`);
    tenants.set(tenant, tenantQuota(limits));
  }
  return {
    defaults: { ...base.defaults, ...tenantQuota(file.defaults ?? {}) },
    tenants,
    total: {
      maxRunningTasks: file.total?.max_running_tasks ?? base.total.maxRunningTasks,
      maxGpus: file.total?.max_gpus ?? base.total.maxGpus,
    },
  };
}

function tenantQuota(limits: TenantLimitsJson): Partial<TenantQuota> {
  const quota: Partial<TenantQuota> = {};
  if (limits.max_running_tasks !== undefined) quota.maxRunningTasks = limits.max_running_tasks;
  if (limits.max_queued_tasks !== undefined) quota.maxQueuedTasks = limits.max_queued_tasks;
  if (limits.max_gpus !== undefined) quota.maxGpus = limits.max_gpus;
  return quota;
}

/** Options for {@link openQuotaFile}. */
export interface QuotaFileOptions {
  /** The JSON file (see {@link parseQuotas}), e.g. a mounted ConfigMap. */
  file: string;
  logger: Logger;
  /** The limits the file is read over (the environment's); default none. */
  base?: QuotaPolicy;
  /** How often a decision may look at the file for a change (default 1 s; 0: every time). */
  checkEveryMs?: number;
}

/**
 * Limits from a JSON file, read at start (a missing or malformed file is a
 * ConfigError naming MLZERO_GATEWAY_QUOTAS_FILE) and again when it changes
 * (modification time, size or inode, looked at most every `checkEveryMs`),
 * as the token file is. A change that cannot be read or parsed keeps the
 * limits in force and is logged; write the file whole (a rename). Lowered
 * limits stop new starts at once and stop nothing that runs.
 */
export async function openQuotaFile(options: QuotaFileOptions): Promise<Quotas> {
  const { logger } = options;
  const base = options.base ?? NO_QUOTAS;
  const policy = await openReloadableFile({
    file: options.file,
    variable: "MLZERO_GATEWAY_QUOTAS_FILE",
    what: "quota",
    parse: (text) => parseQuotas(text, base),
    onLoad: (loaded, reloaded) => logger.info(describeQuotas(loaded), reloaded ? "quotas reloaded" : "quotas loaded"),
    logger,
    ...(options.checkEveryMs === undefined ? {} : { checkEveryMs: options.checkEveryMs }),
  });
  return { current: () => policy.current() };
}

/** The limits for a log line. */
export function describeQuotas(policy: QuotaPolicy): Record<string, unknown> {
  return { defaults: policy.defaults, tenants: Object.fromEntries(policy.tenants), total: policy.total };
}
