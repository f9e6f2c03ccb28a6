import type { Logger } from "@mlzero/logging";
import { TaskService } from "@mlzero/proto";
import { localClient, serverIdentityFromEnv } from "@mlzero/rpc";
import { runServiceMain, type KafkaTopicLayout } from "@mlzero/service";
import { openBearerTokenFile } from "./bearer-tokens.js";
import { budgetDefaultsFrom, loadGatewayConfig, quotaPolicyFrom, type TaskStateChoice } from "./config.js";
import { startDashboardServer } from "./dashboard/dashboard-server.js";
import { createFileTaskStore } from "./file-task-store.js";
import { createGatewayModule } from "./gateway-module.js";
import { createKafkaTaskStore } from "./kafka-task-store.js";
import { describeQuotas, fixedQuotas, openQuotaFile } from "./quotas.js";
import { withTaskMetrics } from "./task-metrics.js";
import { createMemoryTaskStore, type TaskStore } from "./task-store.js";

await runServiceMain("gateway", 50051, async ({ env, logger, bus, host, kafkaTopics }) => {
  const config = loadGatewayConfig(env);
  const retentionHours = config.MLZERO_GATEWAY_TASK_RETENTION_HOURS;
  logger.info({ taskState: config.taskState.kind, taskRetentionHours: retentionHours || "forever" }, "task state store chosen");
  const tokensFile = config.MLZERO_GATEWAY_TOKENS_FILE;
  const authenticator = tokensFile
    ? await openBearerTokenFile({ file: tokensFile, logger: logger.child({ component: "auth" }) })
    : undefined;
  const allowedRoots = config.MLZERO_GATEWAY_ALLOWED_ROOTS ?? [];
  logger.info(
    { auth: authenticator ? "bearer tokens" : "none (one tenant: default)", allowedRoots: allowedRoots.length > 0 ? allowedRoots : "any" },
    "access settings",
  );
  if (authenticator && allowedRoots.length === 0) {
    logger.warn({}, "bearer tokens without MLZERO_GATEWAY_ALLOWED_ROOTS: every tenant may submit any folder this gateway can read");
  }
  const quotaFile = config.MLZERO_GATEWAY_QUOTAS_FILE;
  const envQuotas = quotaPolicyFrom(config);
  const quotas = quotaFile
    ? await openQuotaFile({ file: quotaFile, base: envQuotas, logger: logger.child({ component: "quotas" }) })
    : fixedQuotas(envQuotas);
  if (!quotaFile) logger.info(describeQuotas(envQuotas), "quotas from the environment");
  const gateway = createGatewayModule({
    bus,
    logger,
    workspaceRoot: config.MLZERO_WORKSPACE_ROOT,
    defaults: budgetDefaultsFrom(config),
    store: withTaskMetrics(openTaskStore(config.taskState, kafkaTopics, logger)),
    authenticator,
    allowedRoots,
    watchHeartbeatMs: config.MLZERO_GATEWAY_WATCH_HEARTBEAT_SECONDS * 1000,
    quotas,
    defaultParallelism: config.MLZERO_SEARCH_PARALLELISM,
    taskRetentionMs: retentionHours * 3_600_000,
  });
  const dashboardPort = config.MLZERO_GATEWAY_DASHBOARD_PORT;
  if (!dashboardPort) return gateway;
  // Served while the gateway is; it calls the gateway's own handlers, which wait for its state to load.
  const dashboard = await startDashboardServer({
    host,
    port: dashboardPort,
    tasks: localClient(TaskService, gateway.taskService),
    logger: logger.child({ component: "dashboard" }),
    // HTTPS with the gRPC server's certificate when it has one: the page sends bearer tokens.
    identity: serverIdentityFromEnv(env),
  });
  logger.info({ url: dashboard.url }, "dashboard listening");
  return {
    ...gateway,
    async stop() {
      await dashboard.close();
      await gateway.stop?.();
    },
  };
});

/** The chosen store; the Kafka one connects on first use, when the module starts. */
function openTaskStore(choice: TaskStateChoice, layout: KafkaTopicLayout, logger: Logger): TaskStore {
  switch (choice.kind) {
    case "memory":
      return createMemoryTaskStore();
    case "file":
      return createFileTaskStore({ dir: choice.dir });
    case "kafka":
      return createKafkaTaskStore({
        brokers: choice.brokers,
        clientId: "mlzero-gateway-state",
        logger: logger.child({ component: "task-store" }),
        ...layout,
      });
  }
}
