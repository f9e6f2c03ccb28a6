import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createInProcessBus, newEnvelope } from "@mlzero/bus";
import { createSilentLogger } from "@mlzero/logging";
import {
  AnalysisSchema,
  IterationAnalyzedSchema,
  ProgramSchema,
  TaskContextSchema,
  TaskPerceivedSchema,
  Verdict,
  type CodeGenerated,
} from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { createCoderModule } from "./coder-module.js";
import type { Coder } from "./offline-coder.js";

const logger = createSilentLogger();

describe("coder module under redelivery", () => {
  it("generates each iteration once however often its cause comes", async () => {
    const bus = createInProcessBus({ logger, retryBackoffMs: 1 });
    const requests: number[] = [];
    // Inline fake: the module's de-duplication is under test, not the planner.
    const coder: Coder = {
      generate: async (request) => {
        requests.push(request.iteration);
        return create(ProgramSchema, { candidateId: `iter-00${request.iteration}-lightgbm`, tool: "lightgbm", code: "print(1)" });
      },
    };
    const module = createCoderModule({ bus, logger, coder });
    const generated: CodeGenerated[] = [];
    await bus.subscribe(module.pipeline!);
    await bus.subscribe({ group: "observer", handlers: { CodeGenerated: async (event) => void generated.push(event) } });

    const task = create(TaskContextSchema, { deadline: timestampFromMs(Date.now() + 600_000), perception: { labelColumn: "y" } });
    const perceived = create(TaskPerceivedSchema, { envelope: newEnvelope({ taskId: "task-1", tenant: "acme", iteration: 0 }), task });
    const fix = create(IterationAnalyzedSchema, {
      envelope: newEnvelope({ taskId: "task-1", tenant: "acme", iteration: 1 }),
      task,
      program: { candidateId: "iter-001-lightgbm", tool: "lightgbm" },
      analysis: create(AnalysisSchema, { verdict: Verdict.FIX, summary: "boom", fix: { tool: "lightgbm", plan: "fix it" } }),
    });
    for (let delivery = 0; delivery < 2; delivery++) {
      await bus.publish("TaskPerceived", perceived);
      await bus.publish("IterationAnalyzed", fix);
    }
    await bus.whenIdle();
    expect(requests.sort()).toEqual([1, 2]);
    expect(generated.map((event) => [event.envelope?.iteration, event.program?.candidateId]).sort()).toEqual([
      [1, "iter-001-lightgbm"],
      [2, "iter-002-lightgbm"],
    ]);
    await bus.close();
  });
});
