import { InvalidInputError } from "@mlzero/errors";
import { RpcError, checkHealth, clientTransportFromEnv } from "@mlzero/rpc";
import type { CliCommand } from "./cli-command.js";
import { GATEWAY_FLAG, GATEWAY_USAGE, connectionProblem, gatewayAddressFrom } from "./gateway-client.js";
import { optionalNumber, parseCommandLine } from "./task-options.js";

const USAGE = `usage: mlzero health [<host:port>...] [options]

Asks each gRPC server (default: the gateway) for its grpc.health.v1 status
and prints one line per server. Exit 0 when every one is SERVING, 1 when not.

  --timeout SECONDS            how long to wait for each answer (default 5)
${GATEWAY_USAGE}`;

/** `mlzero health`: grpc.health.v1 of one or more servers, for people and scripts (make up waits with it). */
export const healthCommand: CliCommand = {
  name: "health",
  synopsis: "[<host:port>...]",
  summary: "check that gRPC servers answer SERVING (default: the gateway)",
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandLine(args, { timeout: { type: "string" }, ...GATEWAY_FLAG });
    const timeoutMs = (optionalNumber(values.timeout, "--timeout", false) ?? 5) * 1000;
    const addresses = positionals.length > 0 ? positionals : [gatewayAddressFrom(values.gateway, io.env)];
    let transport;
    try {
      transport = clientTransportFromEnv(io.env);
    } catch (error) {
      throw new InvalidInputError((error as Error).message);
    }
    const answers = await Promise.all(
      addresses.map(async (address) => {
        try {
          return { address, status: await checkHealth(address, "", timeoutMs, transport) };
        } catch (error) {
          if (!(error instanceof RpcError)) throw error;
          return { address, status: `${error.codeName} (${connectionProblem(error)})` };
        }
      }),
    );
    for (const { address, status } of answers) io.stdout.write(`${address} ${status}\n`);
    return answers.every((answer) => answer.status === "SERVING") ? 0 : 1;
  },
};
