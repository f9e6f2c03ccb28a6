#!/usr/bin/env node
import { DomainError, describeError } from "@mlzero/errors";
import { RpcError } from "@mlzero/rpc";
import { runCommand } from "./run-command.js";
import { RUN_USAGE, parseRunOptions } from "./run-options.js";

const USAGE = `usage: mlzero <command> [options]

commands:
  run <input-dir> --out <dir>   run a task end to end on the embedded defaults

${RUN_USAGE}`;

/** Exit codes: 0 success, 1 the task did not succeed, 2 bad usage or input. */
async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (command !== "run") {
    process.stderr.write(`mlzero: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
    return 2;
  }
  const options = await parseRunOptions(args);
  return runCommand(options, { stdout: process.stdout, stderr: process.stderr, env: process.env });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Errors meant for users are one line; anything else is a bug, shown briefly unless debugging.
    const known = error instanceof DomainError || error instanceof RpcError;
    const message = known ? (error as Error).message : describeError(error);
    process.stderr.write(`mlzero: error: ${message}\n`);
    if (!known && process.env.MLZERO_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    process.exitCode = 2;
  },
);
