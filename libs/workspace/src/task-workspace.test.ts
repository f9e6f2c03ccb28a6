import path from "node:path";
import { InvalidInputError } from "@mlzero/errors";
import { describe, expect, it } from "vitest";
import { iterationName, resolveInside, taskWorkspace } from "./task-workspace.js";

describe("task workspace", () => {
  it("lays out a task's folders under root/tenant/task", () => {
    const workspace = taskWorkspace("/srv/ws", "acme", "t1");
    expect(workspace.taskDir).toBe("/srv/ws/acme/t1");
    expect(workspace.inputDir).toBe("/srv/ws/acme/t1/input");
    expect(workspace.outputDir).toBe("/srv/ws/acme/t1/output");
    expect(workspace.iterationDir(12)).toBe("/srv/ws/acme/t1/iter-012");
    expect(iterationName(1)).toBe("iter-001");
  });

  it("rejects ids that could escape the root", () => {
    for (const [tenant, task] of [
      ["..", "t"],
      ["a/b", "t"],
      ["acme", "../x"],
      ["", "t"],
      ["acme", ".hidden"],
    ]) {
      expect(() => taskWorkspace("/srv/ws", tenant!, task!)).toThrow(InvalidInputError);
    }
    expect(() => iterationName(0)).toThrow(InvalidInputError);
  });

  it("confines relative paths to their folder", () => {
    expect(resolveInside("/srv/ws/t", "iter-001/outputs/p.csv")).toBe(path.join("/srv/ws/t", "iter-001/outputs/p.csv"));
    expect(() => resolveInside("/srv/ws/t", "../other/p.csv")).toThrow(/leaves its folder/);
    expect(() => resolveInside("/srv/ws/t", "/etc/passwd")).toThrow(/leaves its folder/);
  });
});
