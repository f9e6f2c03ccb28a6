import { create } from "@bufbuild/protobuf";
import { credentials, loadPackageDefinition, status, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { NotFoundError } from "@mlzero/errors";
import { createSilentLogger } from "@mlzero/logging";
import { GetResponseSchema, TaskSchema, TaskService, TaskState } from "@mlzero/proto";
import { createRequire } from "node:module";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkHealth } from "./check-health.js";
import { createClient, type RpcClient } from "./create-client.js";
import { RpcError } from "./service-errors.js";
import { serve, startGrpcServer, type RunningGrpcServer } from "./start-grpc-server.js";

describe("grpc-js <-> protobuf-es adapter", () => {
  let server: RunningGrpcServer;
  let client: RpcClient<typeof TaskService>;

  beforeAll(async () => {
    server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      logger: createSilentLogger(),
      services: [
        serve(TaskService, {
          async submit() {
            throw new Error("secret internal detail");
          },
          async get(request) {
            if (request.taskId !== "known") throw new NotFoundError(`task ${request.taskId} not found`);
            return create(GetResponseSchema, { task: create(TaskSchema, { taskId: "known", state: TaskState.EXECUTING }) });
          },
          async *watch(request) {
            for (let sequence = request.afterSequence + 1n; sequence <= 3n; sequence++) {
              yield { sequence, event: "Tick" };
            }
          },
          async cancel(_request, context) {
            await new Promise((resolve) => setTimeout(resolve, (context.deadlineMs ?? 0) + 200));
            return {};
          },
          async list() {
            return { tasks: [], nextPageToken: "" };
          },
          async *getArtifact() {},
        }),
      ],
    });
    client = createClient(TaskService, server.address);
  });

  afterAll(async () => {
    client.close();
    await server.stop(100);
  });

  it("serves a unary call end to end with protobuf encoding", async () => {
    const response = await client.get({ taskId: "known" });
    expect(response.task?.taskId).toBe("known");
    expect(response.task?.state).toBe(TaskState.EXECUTING);
  });

  it("maps a domain error to its status code with its message", async () => {
    const error = await client.get({ taskId: "nope" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RpcError);
    expect((error as RpcError).code).toBe(status.NOT_FOUND);
    expect((error as RpcError).message).toBe("task nope not found");
  });

  it("hides unexpected errors behind INTERNAL", async () => {
    const error = (await client.submit({}).catch((caught: unknown) => caught)) as RpcError;
    expect(error.code).toBe(status.INTERNAL);
    expect(error.message).toBe("internal error");
  });

  it("streams server messages and resumes after a sequence number", async () => {
    const sequences: bigint[] = [];
    for await (const update of client.watch({ taskId: "known", afterSequence: 1n })) sequences.push(update.sequence);
    expect(sequences).toEqual([2n, 3n]);
  });

  it("enforces deadlines", async () => {
    const error = (await client.cancel({ taskId: "x" }, { timeoutMs: 100 }).catch((caught: unknown) => caught)) as RpcError;
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
  });

  it("answers grpc.health.v1 for the server and each service", async () => {
    expect(await checkHealth(server.address)).toBe("SERVING");
    expect(await checkHealth(server.address, "mlzero.v1.TaskService")).toBe("SERVING");
    const unknown = await checkHealth(server.address, "no.such.Service").catch((caught: RpcError) => caught.code);
    expect(unknown).toBe(status.NOT_FOUND);
  });

  it("lists its services through server reflection", async () => {
    const require = createRequire(import.meta.url);
    const protoPath = path.join(path.dirname(require.resolve("@grpc/reflection")), "../proto/grpc/reflection/v1/reflection.proto");
    const loaded = loadPackageDefinition(loadSync(protoPath)) as never as {
      grpc: { reflection: { v1: { ServerReflection: new (address: string, creds: unknown) => ReflectionClient } } };
    };
    const reflection = new loaded.grpc.reflection.v1.ServerReflection(server.address, credentials.createInsecure());
    const call = reflection.ServerReflectionInfo();
    const response = await new Promise<{ listServicesResponse: { service: { name: string }[] } }>((resolve, reject) => {
      call.on("data", resolve);
      call.on("error", reject);
      call.write({ listServices: "" });
    });
    call.end();
    reflection.close();
    expect(response.listServicesResponse.service.map((entry) => entry.name)).toContain("mlzero.v1.TaskService");
  });
});

interface ReflectionClient {
  ServerReflectionInfo(): {
    on(event: "data", listener: (message: never) => void): void;
    on(event: "error", listener: (error: ServiceError) => void): void;
    write(message: object): void;
    end(): void;
  };
  close(): void;
}
