#!/usr/bin/env node
import { DomainError, describeError } from "@mlzero/errors";
import { RpcError } from "@mlzero/rpc";
import { COMMANDS, overview } from "./commands.js";

/** Exit codes: 0 success, 1 the task did not succeed, 2 bad usage or input, or the gateway refused or could not be reached. */
async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const helpFor = name === "help" ? COMMANDS.find((candidate) => candidate.name === args[0]) : undefined;
  if (helpFor) {
    process.stdout.write(`${helpFor.usage}\n`);
    return 0;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${overview()}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) {
    process.stderr.write(`mlzero: unknown command ${JSON.stringify(name)}\n${overview()}\n`);
    return 2;
  }
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  return command.run(args, { stdout: process.stdout, stderr: process.stderr, env: process.env });
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
