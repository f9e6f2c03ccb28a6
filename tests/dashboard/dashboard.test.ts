import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { startEmbeddedSystem, type EmbeddedSystem } from "@mlzero/cli";
import { openBearerTokenFile, startDashboardServer, type DashboardServer } from "@mlzero/gateway";
import { createSilentLogger } from "@mlzero/logging";
import { FailureCategory, TaskState, Verdict, type Task } from "@mlzero/proto";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateChurnTask } from "../support/generate-tasks.js";
import { REPO_ROOT } from "../support/run-cli.js";

// The dashboard as a person sees it: Debian's Chromium (scripts/chromium.sh
// installs it; `make test` runs that), driven headless by playwright-core,
// against the dashboard of an embedded system with two tenants' tokens, while
// a real task runs: a small churn table, the offline planner, programs in the
// Python runtime. The sklearn program succeeds, then one improvement round
// runs it again (MLZERO_SEARCH_IMPROVE_ROUNDS=1): two scored iterations, one
// after the other, each in seconds on an idle machine.

const CHROMIUM = "/usr/bin/chromium";
// The network is closed: no background connections, no component updates, no first-run pages.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOT = path.join(REPO_ROOT, "out", "dashboard", "task-page.png");
const ACME_TOKEN = `acme-${randomBytes(16).toString("hex")}`;
const GLOBEX_TOKEN = `globex-${randomBytes(16).toString("hex")}`;
const asAcme = { metadata: { authorization: `Bearer ${ACME_TOKEN}` } };
const asGlobex = { metadata: { authorization: `Bearer ${GLOBEX_TOKEN}` } };
const RUN_TIMEOUT_MS = 240_000;

let root: string;
let system: EmbeddedSystem;
let dashboard: DashboardServer;
let browser: Browser;

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
/** The first scored iteration with the task's best score. */
const bestOf = (scored: Task["iterations"], task: Task) => scored.find((summary) => summary.score === task.bestScore);
/** Each iteration's tool, outcome and time, for messages. */
const runs = (task: Task) =>
  task.iterations
    .map(
      (run) =>
        `${run.tool} ${Verdict[run.verdict]} ${FailureCategory[run.failure]} ${(durationMs(run.duration ?? durationFromMs(0)) / 1000).toFixed(1)} s`,
    )
    .join(", ");

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/chromium.sh install (make test does)`);
  root = await mkdtemp(path.join(os.tmpdir(), "mlzero-dashboard-"));
  await writeFile(path.join(root, "tokens"), `${ACME_TOKEN} acme\n${GLOBEX_TOKEN} globex\n`);
  const logger = createSilentLogger();
  system = await startEmbeddedSystem({
    workspaceRoot: path.join(root, "workspace"),
    pythonBin: path.join(REPO_ROOT, ".venv", "bin", "python"),
    logger,
    defaults: { maxIterations: 5, timeLimitSeconds: 600, iterationTimeLimitSeconds: 240, memoryLimitBytes: 6 * 1024 ** 3 },
    authenticator: await openBearerTokenFile({ file: path.join(root, "tokens"), logger }),
    env: { MLZERO_SEARCH_IMPROVE_ROUNDS: "1" },
  });
  dashboard = await startDashboardServer({ host: "127.0.0.1", port: 0, tasks: system.tasks, logger });
  // Launched without a user-data dir of ours: Playwright gives each launch a fresh, empty one.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await system?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/**
 * A new tab with its own storage, collecting every script error or CSP violation it reports; not
 * Chromium's note of each answer that is no 2xx (a 401 before the token, a log not written yet),
 * which the page handles itself.
 */
async function openTab(problems: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource:")) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  return page;
}

/** The bytes a download button saves. */
async function downloaded(page: Page, artifact: string): Promise<{ name: string; bytes: Buffer }> {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(`[data-artifact="${artifact}"]`)]);
  return { name: download.suggestedFilename(), bytes: await readFile((await download.path())!) };
}

describe("the dashboard in headless Chromium", () => {
  it(
    "follows a real task live, then shows its timeline, scores, log tail and downloads, and only the tenant's own tasks",
    async () => {
      const started = performance.now();
      // 1500 rows: enough for sklearn's early stopping.
      const data = await generateChurnTask(root, 31, 1500);
      const budget = { toolHint: "sklearn", timeLimit: durationFromMs(RUN_TIMEOUT_MS) };
      const { task: submitted } = await system.tasks.submit({ spec: { inputUri: data.inputDir, budget } }, asAcme);
      const taskId = submitted!.taskId;
      // Another tenant's task, ended at once: acme's page must never show it.
      const { task: theirs } = await system.tasks.submit({ spec: { inputUri: data.inputDir } }, asGlobex);
      await system.tasks.cancel({ taskId: theirs!.taskId }, asGlobex);

      const problems: string[] = [];
      const page = await openTab(problems);
      const eventStreams: string[] = [];
      page.on("request", (request) => request.url().includes("/events") && eventStreams.push(request.url()));
      await page.goto(`${dashboard.url}#/tasks/${taskId}`);

      // The gateway has tokens: the page asks for one, and says when it is refused.
      await page.waitForSelector("#token-view:not([hidden])");
      await page.fill("#token-input", `acme-${randomBytes(16).toString("hex")}`);
      await page.click("#token-form button");
      await page.waitForSelector("#token-error:not([hidden])");
      expect(await page.textContent("#token-error")).toBe("the bearer token is not valid");
      await page.fill("#token-input", ACME_TOKEN);
      await page.click("#token-form button");
      await page.waitForSelector("#task-view:not([hidden])");
      expect(await page.textContent("#task-id")).toBe(taskId);

      // Live: the page follows the task to its end over its event stream, never reloaded.
      const states: string[] = [];
      for (;;) {
        const state = (await page.textContent("#task-state")) ?? "";
        if (states.at(-1) !== state) states.push(state);
        if (state === "succeeded" || state === "failed" || state === "cancelled") break;
        if (performance.now() - started > RUN_TIMEOUT_MS) throw new Error(`the page still shows ${state} after ${seconds(started)}`);
        await page.waitForTimeout(200);
      }
      const ranFor = seconds(started);
      const task: Task = (await system.tasks.get({ taskId }, asAcme)).task!;
      expect(task.state, task.message).toBe(TaskState.SUCCEEDED);
      expect(await page.textContent("#task-state")).toBe("succeeded");
      expect(states.length, states.join(" → ")).toBeGreaterThan(1);
      expect(eventStreams.length).toBeGreaterThan(0);

      // The timeline: one row per iteration, with its tool and score as Get tells them.
      expect(task.iterations.length).toBeGreaterThanOrEqual(2);
      await expect.poll(() => page.locator("#timeline tbody tr").count()).toBe(task.iterations.length);
      const rows = await page.$$eval("#timeline tbody tr", (trs) =>
        trs.map((tr) => ({
          iteration: Number(tr.getAttribute("data-iteration")),
          tool: tr.children[1]!.firstChild!.textContent,
          score: tr.querySelector(".score")!.getAttribute("data-score"),
          shown: tr.querySelector(".score")!.textContent,
        })),
      );
      expect(rows).toEqual(
        task.iterations.map((summary) => ({
          iteration: summary.iteration,
          tool: summary.tool,
          score: summary.score === undefined ? null : String(summary.score),
          shown: summary.score === undefined ? "" : summary.score.toFixed(4),
        })),
      );

      // The plot: one point per scored iteration, the best one marked.
      const scored = task.iterations.filter((summary) => summary.score !== undefined);
      expect(scored.length, runs(task)).toBeGreaterThanOrEqual(2);
      const points = await page.$$eval("#score-plot circle.point", (circles) =>
        circles.map((circle) => ({
          iteration: Number(circle.getAttribute("data-iteration")),
          score: Number(circle.getAttribute("data-score")),
          best: circle.classList.contains("best"),
        })),
      );
      expect(points).toEqual(
        // A tie goes to the earlier iteration, as in the search.
        scored.map((summary) => ({ iteration: summary.iteration, score: summary.score, best: summary === bestOf(scored, task) })),
      );

      // The log tail: the end of the shown iteration's stdout, as the program wrote it.
      const source = await page.textContent("#log-source");
      const shownIteration = Number(/^iteration (\d+) · stdout$/.exec(source ?? "")?.[1]);
      expect(shownIteration, source ?? "").toBe(task.iteration);
      const stdout = await readFile(
        path.join(task.outputDir, "iterations", `iter-${String(shownIteration).padStart(3, "0")}`, "stdout.log"),
        "utf8",
      );
      const tail = (await page.textContent("#log-tail")) ?? "";
      expect(tail).toMatch(/^mlzero: /m);
      expect(stdout.endsWith(tail)).toBe(true);

      // Downloads: the same bytes as the files in the task's output folder.
      const predictions = await downloaded(page, "predictions");
      expect(predictions.name).toBe(task.predictionsFile);
      expect(predictions.bytes.equals(await readFile(path.join(task.outputDir, task.predictionsFile)))).toBe(true);
      const program = await downloaded(page, "program");
      expect(program.name).toBe("program.py");
      expect(program.bytes.equals(await readFile(path.join(task.outputDir, "program.py")))).toBe(true);

      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // The list: the tenant's task with its state, and not the other tenant's.
      await page.goto(`${dashboard.url}#/`);
      await page.waitForSelector(`#task-rows tr[data-task-id="${taskId}"]`);
      await page.screenshot({ path: path.join(path.dirname(SCREENSHOT), "task-list.png"), fullPage: true });
      expect(await page.textContent(`#task-rows tr[data-task-id="${taskId}"] .state`)).toBe("succeeded");
      expect(await page.$$eval("#task-rows tr", (trs) => trs.map((tr) => tr.getAttribute("data-task-id")))).toEqual([taskId]);
      // Its page, asked for by id, is not found, as a task that does not exist.
      await page.goto(`${dashboard.url}#/tasks/${theirs!.taskId}`);
      await page.waitForSelector("#notice:not([hidden])");
      expect(await page.textContent("#notice")).toBe(`task ${theirs!.taskId} not found`);
      expect(await page.isHidden("#task-view")).toBe(true);

      expect(problems, problems.join("\n")).toEqual([]);
      console.info(`dashboard: task succeeded and shown in ${ranFor} (runs: ${runs(task)}); whole test ${seconds(started)}`);
    },
    RUN_TIMEOUT_MS + 60_000,
  );
});
