// The mlzero dashboard: plain browser JavaScript, no build step. Every piece
// of task data reaches the page through textContent or an attribute, never as
// HTML. The bearer token, when the gateway asks for one, is kept in this tab's
// sessionStorage and sent only in the Authorization header.

const TOKEN_KEY = "mlzero-token";
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
/** Lines of a log the tail shows. */
const LOG_LINES = 200;
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

/** A failed API call: its HTTP status and the gateway's code and message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A request of the dashboard's API, with the token if there is one; an ApiError unless it succeeded. */
async function request(path, signal) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal, cache: "no-store" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(response.status, body.error?.code ?? "", body.error?.message ?? `HTTP ${response.status}`);
  }
  return response;
}

const getJson = async (path, signal) => (await request(path, signal)).json();
const taskPath = (taskId) => `api/tasks/${encodeURIComponent(taskId)}`;

/** An element with attributes and children (strings become text nodes). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  node.append(...children.filter((child) => child !== undefined && child !== null));
  return node;
}

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

// ---- formatting: the protobuf JSON of the gateway's messages ----

/** "TASK_STATE_SUCCEEDED" -> "succeeded"; "VERDICT_GIVE_UP" -> "give up". */
const enumText = (value, prefix) => (value ?? "").replace(prefix, "").replaceAll("_", " ").toLowerCase();
const stateOf = (task) => enumText(task.state, "TASK_STATE_") || "unknown";
const isTerminal = (task) => TERMINAL.has(stateOf(task));
const pad = (number) => String(number).padStart(2, "0");

function timeText(iso) {
  if (!iso) return "";
  const time = new Date(iso);
  return `${time.getFullYear()}-${pad(time.getMonth() + 1)}-${pad(time.getDate())} ${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}`;
}

function secondsText(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${Math.round(seconds % 60)} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A Duration's JSON ("12.5s") as text. */
const durationText = (duration) => (duration ? secondsText(parseFloat(duration)) : "");
const scoreText = (score) => (typeof score === "number" ? score.toFixed(4) : "");

function stateBadge(task) {
  const state = stateOf(task);
  return el("span", { class: `state state-${state}` }, state);
}

// ---- views ----

/** What the shown view started; aborted when another view takes over. */
let viewControl = new AbortController();

function show(viewId) {
  for (const id of ["token-view", "list-view", "task-view"]) $(id).hidden = id !== viewId;
  $("notice").hidden = true;
  $("forget-token").hidden = !sessionStorage.getItem(TOKEN_KEY);
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
}

/** What a failed call shows: the token form on 401, otherwise the gateway's message, in place of the view unless `keepView`. */
function showFailure(error, keepView = false) {
  if (error.name === "AbortError") return;
  if (error instanceof ApiError && error.status === 401) {
    show("token-view");
    const form = $("token-error");
    form.textContent = sessionStorage.getItem(TOKEN_KEY) ? error.message : "";
    form.hidden = !form.textContent;
    $("token-input").focus();
    return;
  }
  if (!keepView) show(undefined);
  notice(error instanceof ApiError ? error.message : `the gateway could not be reached: ${error.message}`);
}

function route() {
  viewControl.abort();
  viewControl = new AbortController();
  const match = /^#\/tasks\/(.+)$/.exec(location.hash);
  const shown = match ? showTask(decodeURIComponent(match[1]), viewControl.signal) : showList(viewControl.signal);
  shown.catch(showFailure);
}

// ---- the task list ----

async function showList(signal, pageToken = "") {
  const state = $("state-filter").value;
  const query = new URLSearchParams();
  if (state) query.set("state", state);
  if (pageToken) query.set("page_token", pageToken);
  const page = await getJson(`api/tasks?${query}`, signal);
  show("list-view");
  const tasks = page.tasks ?? [];
  const rows = tasks.map((task) =>
    el(
      "tr",
      { "data-task-id": task.taskId },
      el("td", {}, el("a", { class: "mono", href: `#/tasks/${encodeURIComponent(task.taskId)}` }, task.taskId)),
      el("td", {}, stateBadge(task)),
      el("td", {}, timeText(task.createdAt)),
      el("td", {}, task.tool ?? ""),
      el("td", { class: "number" }, task.bestScore === undefined ? "" : `${scoreText(task.bestScore)} ${task.metric ?? ""}`),
      el("td", { class: "number" }, String((task.iterations ?? []).length)),
      el("td", { class: "message-cell", title: task.message ?? "" }, task.message ?? ""),
    ),
  );
  if (pageToken) $("task-rows").append(...rows);
  else $("task-rows").replaceChildren(...rows);
  $("no-tasks").hidden = $("task-rows").children.length > 0;
  const more = $("more-tasks");
  more.hidden = !page.nextPageToken;
  more.onclick = () => showList(signal, page.nextPageToken).catch(showFailure);
  // The first page follows running tasks: shown again every few seconds while one is unfinished.
  if (!pageToken && tasks.some((task) => !isTerminal(task))) {
    setTimeout(() => signal.aborted || showList(signal).catch(showFailure), 5000);
  }
}

// ---- a task ----

/** The task page's state: the task as last seen, and which log the tail shows. */
const page = { task: undefined, logIteration: 0, logStream: "stdout", live: false };

async function showTask(taskId, signal) {
  const { task } = await getJson(taskPath(taskId), signal);
  Object.assign(page, { task, logIteration: task.iteration ?? 0, logStream: "stdout", live: false });
  show("task-view");
  renderTask(task);
  loadLog(signal);
  if (!isTerminal(task)) followTask(taskId, task.sequence ?? "0", signal);
}

function renderTask(task) {
  $("task-id").textContent = task.taskId;
  $("task-state").replaceWith(Object.assign(stateBadge(task), { id: "task-state" }));
  $("task-message").textContent = task.message ?? "";
  renderFacts(task);
  renderDownloads(task);
  renderTimeline(task);
  renderPlot(task);
}

function renderFacts(task) {
  const created = task.createdAt ? Date.parse(task.createdAt) : undefined;
  const ended = task.finishedAt ? Date.parse(task.finishedAt) : Date.now();
  const budget = task.spec?.budget ?? {};
  const problem = enumText(task.problemType, "PROBLEM_TYPE_");
  const facts = [
    ["Input", task.spec?.inputUri],
    ["Problem", problem && `${problem}${task.labelColumn ? `, predicting "${task.labelColumn}"` : ""}`],
    ["Metric", task.metric],
    ["Tool", task.tool],
    ["Best score", task.bestScore === undefined ? "" : scoreText(task.bestScore)],
    ["Iteration", task.iteration ? `${task.iteration}${budget.maxIterations ? ` of at most ${budget.maxIterations}` : ""}` : ""],
    ["Created", timeText(task.createdAt)],
    ["Finished", timeText(task.finishedAt)],
    ["Elapsed", created === undefined ? "" : secondsText((ended - created) / 1000)],
    ["Tenant", task.tenant],
  ];
  $("task-facts").replaceChildren(
    ...facts.filter(([, value]) => value).flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))]),
  );
}

/** Which downloads a task has: predictions and program once it succeeded, reports once it finished. */
function renderDownloads(task) {
  const state = stateOf(task);
  for (const button of document.querySelectorAll("[data-artifact]")) {
    const final = button.dataset.artifact === "predictions" || button.dataset.artifact === "program";
    button.disabled = final ? state !== "succeeded" : !isTerminal(task);
    button.title = button.disabled ? (final ? "once the task succeeded" : "once the task finished") : "";
  }
}

function renderTimeline(task) {
  const iterations = task.iterations ?? [];
  const rows = iterations.map((summary) => {
    const verdict = enumText(summary.verdict, "VERDICT_");
    const failure = enumText(summary.failure, "FAILURE_CATEGORY_");
    const outcome = el("span", { class: `verdict verdict-${verdict.replaceAll(" ", "-") || "none"}` }, verdict || "pending");
    const row = el(
      "tr",
      { "data-iteration": summary.iteration, class: summary.iteration === page.logIteration ? "selected" : undefined },
      el("td", { class: "number" }, String(summary.iteration)),
      el(
        "td",
        {},
        summary.tool ?? "",
        summary.candidateId ? el("span", { class: "muted candidate", title: summary.candidateId }, summary.candidateId) : undefined,
      ),
      el("td", {}, outcome, failure && failure !== "none" ? el("span", { class: "muted" }, ` ${failure}`) : undefined),
      el("td", { class: "number" }, durationText(summary.duration)),
      el("td", { class: "number score", "data-score": summary.score }, scoreText(summary.score)),
      el("td", { class: "analysis", title: summary.analysis ?? "" }, summary.analysis ?? ""),
    );
    // A row shows its iteration's log.
    row.addEventListener("click", () => {
      page.logIteration = summary.iteration;
      page.live = false;
      renderTimeline(page.task);
      loadLog(viewControl.signal);
    });
    return row;
  });
  $("timeline").tBodies[0].replaceChildren(...rows);
  $("no-iterations").hidden = rows.length > 0;
}

/** The scored iterations as points over their iteration numbers, the best one marked. */
function renderPlot(task) {
  const box = $("score-plot-box");
  const scored = (task.iterations ?? []).filter((summary) => typeof summary.score === "number");
  if (scored.length === 0) {
    box.replaceChildren(el("p", { class: "empty" }, "No scored iteration yet."));
    return;
  }
  const width = 480;
  const height = 240;
  const margin = { left: 58, right: 16, top: 14, bottom: 40 };
  const iterations = (task.iterations ?? []).map((summary) => summary.iteration);
  const firstIteration = Math.min(...iterations);
  const lastIteration = Math.max(...iterations, firstIteration + 1);
  const scores = scored.map((summary) => summary.score);
  let low = Math.min(...scores);
  let high = Math.max(...scores);
  const spread = high - low || Math.abs(high) * 0.1 || 0.1;
  low -= spread * 0.15;
  high += spread * 0.15;
  const x = (iteration) =>
    margin.left + ((iteration - firstIteration) / (lastIteration - firstIteration)) * (width - margin.left - margin.right);
  const y = (score) => margin.top + ((high - score) / (high - low)) * (height - margin.top - margin.bottom);
  const plot = svg("svg", {
    id: "score-plot",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": "validation score per iteration",
  });
  const bottom = height - margin.bottom;
  for (let tick = 0; tick <= 4; tick++) {
    const value = low + ((high - low) * tick) / 4;
    plot.append(
      svg("line", { class: "grid", x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value) }),
      svg("text", { class: "tick", x: margin.left - 8, y: y(value) + 4, "text-anchor": "end" }, value.toFixed(3)),
    );
  }
  for (const iteration of new Set([firstIteration, ...iterations, lastIteration])) {
    plot.append(svg("text", { class: "tick", x: x(iteration), y: bottom + 18, "text-anchor": "middle" }, String(iteration)));
  }
  plot.append(
    svg("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: bottom, y2: bottom }),
    svg("line", { class: "axis", x1: margin.left, x2: margin.left, y1: margin.top, y2: bottom }),
    svg("text", { class: "axis-label", x: (margin.left + width - margin.right) / 2, y: height - 4, "text-anchor": "middle" }, "iteration"),
    svg(
      "text",
      {
        class: "axis-label",
        x: 12,
        y: (margin.top + bottom) / 2,
        "text-anchor": "middle",
        transform: `rotate(-90 12 ${(margin.top + bottom) / 2})`,
      },
      task.metric || "score",
    ),
    svg("polyline", { class: "line", points: scored.map((summary) => `${x(summary.iteration)},${y(summary.score)}`).join(" ") }),
  );
  // The best run: the first with the task's best score (a tie goes to the earlier iteration, as in the search).
  const bestRun = scored.find((summary) => summary.score === task.bestScore);
  for (const summary of scored) {
    const best = summary === bestRun;
    plot.append(
      svg(
        "circle",
        {
          class: best ? "point best" : "point",
          cx: x(summary.iteration),
          cy: y(summary.score),
          r: best ? 6 : 4.5,
          "data-iteration": summary.iteration,
          "data-score": summary.score,
        },
        svg("title", {}, `iteration ${summary.iteration} (${summary.tool}): ${scoreText(summary.score)}`),
      ),
    );
  }
  box.replaceChildren(plot);
}

// ---- the log tail ----

function showLog(text, source) {
  const lines = text.split("\n");
  $("log-tail").textContent = lines.length > LOG_LINES ? lines.slice(-LOG_LINES).join("\n") : text;
  $("log-source").textContent = source;
  for (const button of document.querySelectorAll("[data-stream]"))
    button.classList.toggle("active", button.dataset.stream === page.logStream);
  const box = $("log-tail");
  box.hidden = !text;
  box.scrollTop = box.scrollHeight;
}

/** The chosen iteration's log as written so far (the whole of it once the task finished). */
async function loadLog(signal) {
  const { task, logIteration: iteration, logStream: stream } = page;
  if (!iteration) {
    showLog("", "no program has run yet");
    return;
  }
  const source = `iteration ${iteration} · ${stream}`;
  try {
    const response = await request(`${taskPath(task.taskId)}/artifacts/logs?iteration=${iteration}&stream=${stream}`, signal);
    const text = await response.text();
    if (!page.live) showLog(text || `(${stream} is empty)`, source);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) showLog(`(no ${stream} for iteration ${iteration} yet)`, source);
    else showFailure(error, true);
  }
}

// ---- live updates: the task's events (Server-Sent Events, read with fetch to send the token) ----

async function followTask(taskId, after, signal) {
  let sequence = after;
  while (!signal.aborted) {
    try {
      const response = await request(`${taskPath(taskId)}/events?after=${sequence}`, signal);
      for await (const event of serverSentEvents(response.body)) {
        if (event.type === "update") {
          const update = JSON.parse(event.data);
          sequence = update.sequence ?? sequence;
          if (!update.heartbeat) applyUpdate(update, signal);
        } else if (event.type === "error") {
          notice(JSON.parse(event.data).error?.message ?? "the task's updates failed");
          return;
        } else if (event.type === "end") {
          page.live = false;
          loadLog(signal);
          return;
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError) {
        showFailure(error, true);
        return;
      }
    }
    // The connection dropped: take up again after the last update seen.
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function applyUpdate(update, signal) {
  const previous = page.task;
  page.task = update.task;
  // A new iteration started: the tail follows it.
  if ((update.task.iteration ?? 0) > page.logIteration && page.logStream === "stdout") {
    page.logIteration = update.task.iteration;
    if (!update.logTail) loadLog(signal);
  }
  if (update.logTail && update.task.iteration === page.logIteration && page.logStream === "stdout") {
    page.live = true;
    showLog(update.logTail, `iteration ${page.logIteration} · live`);
  }
  if (previous?.sequence !== update.task.sequence) renderTask(update.task);
}

/** The events of a text/event-stream body: { type, data } each. */
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { type: "message", data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event.type = line.slice(7);
        else if (line.startsWith("data: ")) event.data += line.slice(6);
      }
      yield event;
    }
  }
}

// ---- downloads: fetched with the token, then saved from a blob URL (a link cannot carry a header) ----

async function download(artifact) {
  const error = $("download-error");
  error.hidden = true;
  try {
    const response = await request(`${taskPath(page.task.taskId)}/artifacts/${artifact}`, viewControl.signal);
    const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")?.[1] ?? artifact;
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: name, hidden: "" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) return showFailure(failure);
    error.textContent = failure.message;
    error.hidden = false;
  }
}

// ---- wiring ----

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  $("token-input").value = "";
  route();
});
$("forget-token").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  route();
});
$("state-filter").addEventListener("change", route);
for (const button of document.querySelectorAll("[data-artifact]")) {
  button.addEventListener("click", () => download(button.dataset.artifact));
}
for (const button of document.querySelectorAll("[data-stream]")) {
  button.addEventListener("click", () => {
    page.logStream = button.dataset.stream;
    page.live = false;
    loadLog(viewControl.signal);
  });
}
window.addEventListener("hashchange", route);
route();
