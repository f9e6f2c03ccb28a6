import type { Logger } from "@mlzero/logging";
import { runServiceMain } from "@mlzero/service";
import { budgetDefaultsFrom, loadGatewayConfig, type TaskStateChoice } from "./config.js";
import { createFileTaskStore } from "./file-task-store.js";
import { createGatewayModule } from "./gateway-module.js";
import { createKafkaTaskStore } from "./kafka-task-store.js";
import { createMemoryTaskStore, type TaskStore } from "./task-store.js";

await runServiceMain("gateway", 50051, async ({ env, logger, bus }) => {
  const config = loadGatewayConfig(env);
  logger.info({ taskState: config.taskState.kind }, "task state store chosen");
  return createGatewayModule({
    bus,
    logger,
    workspaceRoot: config.MLZERO_WORKSPACE_ROOT,
    defaults: budgetDefaultsFrom(config),
    store: openTaskStore(config.taskState, logger),
  });
});

/** The chosen store; the Kafka one connects on first use, when the module starts. */
function openTaskStore(choice: TaskStateChoice, logger: Logger): TaskStore {
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
      });
  }
}
