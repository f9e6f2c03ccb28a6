import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createInProcessBus, newEnvelope } from "@mlzero/bus";
import { createSilentLogger } from "@mlzero/logging";
import {
  CandidateKind,
  ProgramSchema,
  RoundPlannedSchema,
  TaskContextSchema,
  type CodeGenerated,
  type GenerateRequest,
} from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { createCoderModule } from "./coder-module.js";
import type { Coder } from "./offline-coder.js";

const logger = createSilentLogger();

describe("coder module", () => {
  it("builds every candidate of a round once however often the round comes, with its parent's code and analysis", async () => {
    const bus = createInProcessBus({ logger, retryBackoffMs: 1 });
    const requests: GenerateRequest[] = [];
    // Inline fake: the module's fan-out and de-duplication are under test, not the planner.
    const coder: Coder = {
      generate: async (request) => {
        requests.push(request);
        const tool = request.fix?.tool ?? "";
        return create(ProgramSchema, { candidateId: `iter-00${request.iteration}-${tool}`, tool, code: "print(1)" });
      },
    };
    const module = createCoderModule({ bus, logger, coder });
    const generated: CodeGenerated[] = [];
    await bus.subscribe(module.pipeline!);
    await bus.subscribe({ group: "observer", handlers: { CodeGenerated: async (event) => void generated.push(event) } });

    const task = create(TaskContextSchema, {
      deadline: timestampFromMs(Date.now() + 600_000),
      perception: { labelColumn: "y" },
      attempts: [{ iteration: 1, tool: "lightgbm", analysis: "KeyError: 'y '" }],
    });
    const round = create(RoundPlannedSchema, {
      envelope: newEnvelope({ taskId: "task-1", tenant: "acme", iteration: 2 }),
      task,
      round: 2,
      candidates: [
        {
          iteration: 2,
          round: 2,
          roundIterations: [2, 3],
          kind: CandidateKind.DEBUG,
          parentIteration: 1,
          fix: { tool: "lightgbm", plan: "fix it" },
        },
        { iteration: 3, round: 2, roundIterations: [2, 3], kind: CandidateKind.NEW_TOOL, fix: { tool: "sklearn" } },
      ],
      parentCode: { 1: "print('parent')" },
    });
    await bus.publish("RoundPlanned", round);
    await bus.publish("RoundPlanned", round);
    await bus.whenIdle();

    expect(requests.map((request) => request.iteration).sort()).toEqual([2, 3]);
    const debug = requests.find((request) => request.iteration === 2)!;
    expect([debug.parentCode, debug.previousTool, debug.previousAnalysis, debug.fix?.plan]).toEqual([
      "print('parent')",
      "lightgbm",
      "KeyError: 'y '",
      "fix it",
    ]);
    expect(requests.find((request) => request.iteration === 3)!.parentCode).toBe("");
    expect(
      generated.map((event) => [event.envelope?.iteration, event.program?.candidateId, event.program?.candidate?.round]).sort(),
    ).toEqual([
      [2, "iter-002-lightgbm", 2],
      [3, "iter-003-sklearn", 2],
    ]);
    await bus.close();
  });
});
