import { makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { fromServiceError } from "./service-errors.js";
import { clientTransportFromEnv, type ClientTransport } from "./tls.js";

const HealthClient = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");

interface HealthCheckClient {
  check(
    request: { service: string },
    options: { deadline: number },
    callback: (error: ServiceError | null, response?: { status: string }) => void,
  ): void;
  close(): void;
}

/**
 * Asks a server's `grpc.health.v1.Health/Check` for one service ("" = the
 * server as a whole) and returns its status name, e.g. "SERVING". Dials
 * with `transport`, by default TLS or not as the environment says
 * ({@link clientTransportFromEnv}).
 */
export function checkHealth(
  address: string,
  service = "",
  timeoutMs = 5_000,
  transport: Pick<ClientTransport, "credentials" | "options"> = clientTransportFromEnv(),
): Promise<string> {
  const client = new HealthClient(address, transport.credentials, transport.options) as unknown as HealthCheckClient;
  return new Promise<string>((resolve, reject) => {
    client.check({ service }, { deadline: Date.now() + timeoutMs }, (error, response) => {
      client.close();
      if (error) reject(fromServiceError(error));
      else resolve(String(response?.status));
    });
  });
}
