import { defineConfig } from "vitest/config";

// One runner for the whole repo: unit tests beside their source, cross-service
// tests under tests/. Workspace packages resolve to their built dist/, so
// `make test` builds first.
export default defineConfig({
  test: {
    include: ["libs/*/src/**/*.test.ts", "services/*/src/**/*.test.ts", "cli/src/**/*.test.ts", "tests/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // kafkajs arms a timer with a negative delay that Node 24 warns about; harmless noise in the output.
    execArgv: ["--disable-warning=TimeoutNegativeWarning"],
  },
});
