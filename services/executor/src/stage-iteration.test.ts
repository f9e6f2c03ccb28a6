import { describe, expect, it } from "vitest";
import { launcherScript } from "./stage-iteration.js";

describe("launcherScript", () => {
  it("execs a simple command so signals reach the result", () => {
    expect(launcherScript("python main.py --fast")).toBe("#!/bin/sh\nexec python main.py --fast\n");
    expect(launcherScript("  ")).toBe("#!/bin/sh\nexec python main.py\n");
  });

  it("runs anything with shell syntax as written", () => {
    expect(launcherScript("pip list > pip.txt; python main.py")).toBe("#!/bin/sh\npip list > pip.txt; python main.py\n");
    expect(launcherScript("python main.py $EXTRA")).toBe("#!/bin/sh\npython main.py $EXTRA\n");
  });
});
