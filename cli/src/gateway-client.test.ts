import { InvalidInputError } from "@mlzero/errors";
import { GrpcStatus, RpcError } from "@mlzero/rpc";
import { describe, expect, it } from "vitest";
import { gatewayAddressFrom, gatewayError } from "./gateway-client.js";

describe("gatewayAddressFrom", () => {
  it("takes --gateway over MLZERO_GATEWAY_ADDRESS", () => {
    expect(gatewayAddressFrom(" 10.0.0.1:50051 ", { MLZERO_GATEWAY_ADDRESS: "127.0.0.1:1" })).toBe("10.0.0.1:50051");
    expect(gatewayAddressFrom(undefined, { MLZERO_GATEWAY_ADDRESS: "gateway.mlzero:50051" })).toBe("gateway.mlzero:50051");
    expect(gatewayAddressFrom(undefined, { MLZERO_GATEWAY_ADDRESS: "[::1]:50051" })).toBe("[::1]:50051");
  });

  it("has no default: a missing address names both ways to give one", () => {
    const error = (() => {
      try {
        gatewayAddressFrom(undefined, { MLZERO_GATEWAY_ADDRESS: "  " });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/--gateway .*MLZERO_GATEWAY_ADDRESS/);
  });

  it("names the source of a malformed address", () => {
    expect(() => gatewayAddressFrom("nope", {})).toThrow(/--gateway must be host:port/);
    expect(() => gatewayAddressFrom(undefined, { MLZERO_GATEWAY_ADDRESS: "http://x:1" })).toThrow(
      /MLZERO_GATEWAY_ADDRESS must be host:port/,
    );
  });
});

describe("gatewayError", () => {
  it("names the gateway when it cannot be reached, keeping the code", () => {
    const cause = new RpcError(
      GrpcStatus.UNAVAILABLE,
      "No connection established. Last error: connect ECONNREFUSED 127.0.0.1:9 (2025-01-01T00:00:00.000Z)",
    );
    const error = gatewayError(cause, "127.0.0.1:9");
    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(error.message).toMatch(/^cannot reach the gateway at 127\.0\.0\.1:9 \(ECONNREFUSED\)/);
  });

  it("passes the gateway's own messages through", () => {
    const notFound = new RpcError(GrpcStatus.NOT_FOUND, "task x not found");
    expect(gatewayError(notFound, "a:1")).toBe(notFound);
  });
});
