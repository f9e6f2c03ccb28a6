import { cancelCommand } from "./cancel-command.js";
import type { CliCommand } from "./cli-command.js";
import { fetchCommand } from "./fetch-command.js";
import { healthCommand } from "./health-command.js";
import { lsCommand } from "./ls-command.js";
import { runCliCommand } from "./run-command.js";
import { statusCommand } from "./status-command.js";
import { submitCommand } from "./submit-command.js";
import { watchCommand } from "./watch-command.js";

/** Every `mlzero` subcommand, in the order the usage lists them. */
export const COMMANDS: readonly CliCommand[] = [
  runCliCommand,
  submitCommand,
  watchCommand,
  statusCommand,
  lsCommand,
  cancelCommand,
  fetchCommand,
  healthCommand,
];

/** The overview `mlzero --help` prints. */
export function overview(): string {
  const width = Math.max(...COMMANDS.map((command) => `${command.name} ${command.synopsis}`.length));
  const lines = COMMANDS.map((command) => `  ${`${command.name} ${command.synopsis}`.padEnd(width)}  ${command.summary}`);
  return `usage: mlzero <command> [options]

commands:
${lines.join("\n")}

submit, watch, status, ls, cancel, fetch and health talk to a gateway over gRPC:
--gateway host:port, or MLZERO_GATEWAY_ADDRESS. \`mlzero help <command>\`
(or \`mlzero <command> --help\`) shows a command's options.`;
}
