// The dashboard page. It polls /api/state and redraws what changed. Every string from the run
// (mechanism names, reasons, prompts, answers, logs) reaches the DOM through text nodes only:
// `el` never parses markup, and the charts get those strings HTML-escaped (Plotly reads a few tags).
"use strict";

const POLL_MS = 1500;
const QUERY = new URLSearchParams(location.search);
const RUN = QUERY.get("run");  // in an ablation: the run opened from its runs table
const STATUS_COLORS = {
  accepted: "#2f9e44", "rejected-static": "#e03131", "rejected-smoke": "#e03131", "rolled-back": "#f08c00",
  dead: "#ae3ec9",
};
const MARKER_COLORS = { injection: "#2f9e44", rollback: "#e03131", config: "#adb5bd" };

const ui = {
  version: null, data: null,
  trialSort: { key: "step", desc: false }, statusFilter: "all", openStep: null, openTrialFiles: null,
  openMechanism: null, mechanismDetail: null,
};

// ---- DOM helpers: text only -----------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "onclick") node.addEventListener("click", value);
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function replace(id, ...children) {
  const node = document.getElementById(id);
  if (node) node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

function plotlyText(value) {  // Plotly renders <b>, <br>, <a> in its labels: escape everything
  return String(value ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function num(value, digits = 6) {  // like Python's .6g: significant digits, no trailing zeros
  return value === null || value === undefined ? "—" : String(Number(Number(value).toPrecision(digits)));
}

function short(id) { return String(id || "").slice(0, 12); }
function statusSpan(status) { return el("span", { class: `status status-${status}` }, status); }
function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v instanceof Node ? v : String(v))]));
}
function pre(text, cls) { return el("pre", { class: cls }, text ?? ""); }
function json(value) { return JSON.stringify(value, null, 2); }
function card(key, value, id) {
  return el("div", { class: "card" }, el("div", { class: "k" }, key), el("div", { class: "v", id }, value));
}

function section(id, title, ...body) {
  return el("section", { id }, el("h2", {}, title), ...body);
}

// ---- polling --------------------------------------------------------------------------------------
async function fetchJSON(path, params) {
  const query = new URLSearchParams(params || {});
  if (RUN) query.set("run", RUN);
  const response = await fetch(`${path}?${query}`, { cache: "no-store", credentials: "same-origin" });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function showError(text) {
  const box = document.getElementById("error");
  box.hidden = !text;
  box.textContent = text || "";
}

async function poll() {
  try {
    const data = await fetchJSON("/api/state", ui.version ? { since: ui.version } : {});
    showError("");
    if (!data.unchanged) {
      ui.version = data.version;
      ui.data = data;
      render(data);
    }
  } catch (error) {
    showError(`cannot read the dashboard's data: ${error.message}`);
  }
  setTimeout(poll, POLL_MS);
}

function render(data) {
  if (data.kind === "run") renderRun(data);
  else if (data.kind === "ablation") renderAblation(data);
  else renderArchive(data);
  document.body.dataset.version = data.version;  // tests wait on it: a render has finished
}

function layoutOnce(kind, sections) {  // build the page's skeleton once; later renders fill it in
  const main = document.getElementById("main");
  if (main.dataset.kind === kind) return;
  main.dataset.kind = kind;
  main.replaceChildren(...sections);
  replace("nav", sections.map((s) => el("a", { href: `#${s.id}` }, s.querySelector("h2").textContent)));
}

// ---- a run ---------------------------------------------------------------------------------------
function renderRun(data) {
  const run = data.run;
  document.title = `${run.run_id} — Bilevel Evolve`;
  replace("title", `run ${run.run_id}`);
  const badge = document.getElementById("live");
  badge.textContent = run.live ? "running / not finished" : run.status;
  badge.className = run.live ? "badge live" : "badge";
  const back = document.getElementById("back");
  back.hidden = !data.ablation_run;
  layoutOnce("run", [
    section("overview", "Overview", el("div", { id: "summary", class: "cards" }),
      el("div", { id: "best-params", class: "muted" }),
      el("div", { class: "grid" }, el("div", { id: "curve", class: "chart" }),
        el("div", { id: "lineage", class: "chart" }))),
    section("trials", "Trials", el("div", { class: "toolbar" }, el("label", { for: "status-filter" }, "status"),
      el("select", { id: "status-filter" }), el("span", { id: "trial-count", class: "muted" })),
    el("div", { class: "scroll" }, el("table", { id: "trials-table" })), el("div", { id: "trial-detail" })),
    section("mechanisms", "Mechanisms", el("div", { id: "archive-note", class: "muted" }),
      el("table", { id: "mechanisms-table" }), el("div", { id: "mechanism-detail" })),
    section("sessions", "Research sessions", el("div", { id: "sessions-list" })),
  ]);
  const counts = Object.entries(run.status_counts).map(([k, v]) => `${k} ${v}`).join(", ");
  replace("summary", card("domain", run.domain), card("agent", run.agent), card("levels", run.levels.join(",")),
    card("status", run.live ? "running" : run.status, "run-status"), card("trials", `${run.trials} (${counts})`,
      "trial-total"), card("kept", run.kept), card("baseline", run.baseline_text, "baseline-value"),
    card(`best (${run.direction === "minimize" ? "min" : "max"})`, run.best_text, "best-value"),
    card("change vs baseline", run.change_text));
  replace("best-params", run.best_params ? `best params (step ${run.best_step}): ` +
    Object.entries(run.best_params).map(([k, v]) => `${k}=${v}`).join(", ") : "");
  drawCurve(data);
  drawLineage(data.archive.lineage);
  renderTrials(data.trials);
  renderMechanisms(data);
  renderSessions(data.sessions);
}

function drawCurve(data) {
  const trials = data.trials;
  const ok = trials.filter((t) => t.value !== null && !t.kept);
  const kept = trials.filter((t) => t.value !== null && t.kept);
  const hover = (t) => [`step ${t.step} · ${t.source} · ${t.status}`, `${t.value_text}${t.kept ? " (kept)" : ""}`,
    t.reason].map(plotlyText).join("<br>");
  const traces = [
    { x: ok.map((t) => t.step), y: ok.map((t) => t.value), mode: "markers", name: "trial",
      marker: { color: "#9aa5b1", size: 7 }, hovertext: ok.map(hover), hoverinfo: "text" },
    { x: kept.map((t) => t.step), y: kept.map((t) => t.value), mode: "markers", name: "kept",
      marker: { color: "#2f9e44", size: 9 }, hovertext: kept.map(hover), hoverinfo: "text" },
    { x: trials.map((t) => t.step), y: trials.map((t) => t.best_so_far), mode: "lines", name: "best so far",
      line: { color: "#1c7ed6", shape: "hv", width: 2 }, hoverinfo: "y" },
  ];
  const failed = trials.filter((t) => t.status !== "ok");
  const shapes = failed.map((t) => ({ type: "line", x0: t.step, x1: t.step, yref: "paper", y0: 0, y1: 1,
    line: { color: "rgba(250,82,82,0.25)", width: 1 } }));
  const annotations = [];
  data.markers.forEach((m, i) => {
    const color = MARKER_COLORS[m.kind];
    shapes.push({ type: "line", x0: m.step - 0.5, x1: m.step - 0.5, yref: "paper", y0: 0, y1: 1,
      line: { color, width: 1.5, dash: m.kind === "config" ? "dot" : "dash" } });
    if (m.kind === "config") return;
    annotations.push({ x: m.step - 0.4, y: 1 - 0.07 * (i % 6), yref: "paper", xanchor: "left", showarrow: false,
      text: plotlyText(`${m.kind === "injection" ? "+" : "×"} ${m.name}`), font: { size: 10, color },
      hovertext: plotlyText(m.reason || m.kind) });
  });
  const layout = { margin: { l: 55, r: 10, t: 30, b: 40 }, title: { text: "value over trials", font: { size: 13 }, x: 0.02 },
    xaxis: { title: { text: "trial (step)" } }, yaxis: { title: { text: `value (${data.run.direction})` } }, shapes, annotations,
    legend: { orientation: "h", y: -0.2 }, uirevision: "curve", hovermode: "closest" };
  Plotly.react("curve", traces, layout, { displaylogo: false, responsive: true });
}

function drawLineage(nodes) {
  const box = document.getElementById("lineage");
  if (!nodes.length) {
    if (box.dataset.plotted) { Plotly.purge(box); delete box.dataset.plotted; }
    box.replaceChildren(el("p", { class: "muted", style: "padding: 8px" },
      "lineage: no mechanism archived for this run yet"));
    return;
  }
  if (!box.dataset.plotted) box.replaceChildren();
  box.dataset.plotted = "1";
  const rows = {};
  const position = {};
  for (const n of nodes) {
    rows[n.generation] = (rows[n.generation] || 0) + 1;
    position[n.id] = [n.generation, -(rows[n.generation] - 1)];
  }
  const edgeX = [];
  const edgeY = [];
  for (const n of nodes) {
    for (const p of n.parents) {
      if (!position[p]) continue;
      edgeX.push(position[p][0], position[n.id][0], null);
      edgeY.push(position[p][1], position[n.id][1], null);
    }
  }
  const traces = [
    { x: edgeX, y: edgeY, mode: "lines", line: { color: "#adb5bd", width: 1.5 }, hoverinfo: "skip",
      showlegend: false },
    { x: nodes.map((n) => position[n.id][0]), y: nodes.map((n) => position[n.id][1]), mode: "markers+text",
      text: nodes.map((n) => plotlyText(n.name)), textposition: "top center", customdata: nodes.map((n) => n.id),
      marker: { size: 16, color: nodes.map((n) => STATUS_COLORS[n.status] || "#495057"),
        line: { width: nodes.map((n) => (n.in_run ? 2 : 0)), color: "#212529" } },
      hovertext: nodes.map((n) => plotlyText(`${n.name} ${short(n.id)} · ${n.status} · ${n.origin}`)),
      hoverinfo: "text", showlegend: false },
  ];
  const generations = Math.max(...nodes.map((n) => n.generation));
  const deepest = Math.max(...Object.values(rows));
  const layout = { margin: { l: 20, r: 20, t: 30, b: 40 }, title: { text: "lineage (click a mechanism)",
    font: { size: 13 }, x: 0.02 }, xaxis: { title: { text: "generation" }, dtick: 1, zeroline: false,
    range: [-0.6, generations + 0.6] }, yaxis: { visible: false, range: [-deepest + 0.5, 0.6] },
  uirevision: "lineage", hovermode: "closest" };
  Plotly.react(box, traces, layout, { displaylogo: false, responsive: true });
  if (!box.dataset.clicks) {
    box.dataset.clicks = "1";
    box.on("plotly_click", (event) => {
      const id = event.points[0] && event.points[0].customdata;
      if (id) openMechanism(id);
    });
  }
}

// ---- the trials table -----------------------------------------------------------------------------
const TRIAL_COLUMNS = [
  ["step", "step", true], ["iteration", "iter", true], ["source", "source"], ["status", "status"],
  ["value", "value", true], ["best_so_far", "best so far", true], ["kept", "kept"], ["reason", "decision"],
  ["message", "message"], ["duration_s", "seconds", true],
];

function renderTrials(trials) {
  const select = document.getElementById("status-filter");
  const statuses = ["all", ...new Set(trials.map((t) => t.status))];
  if (select.dataset.options !== statuses.join()) {
    select.dataset.options = statuses.join();
    select.replaceChildren(...statuses.map((s) => el("option", { value: s }, s)));
    select.onchange = () => { ui.statusFilter = select.value; renderTrials(ui.data.trials); };
  }
  select.value = statuses.includes(ui.statusFilter) ? ui.statusFilter : "all";
  const shown = trials.filter((t) => ui.statusFilter === "all" || t.status === ui.statusFilter);
  const { key, desc } = ui.trialSort;
  shown.sort((a, b) => compare(a[key], b[key], desc) || a.step - b.step);
  replace("trial-count", `${shown.length} of ${trials.length} trials`);
  const head = el("tr", {}, TRIAL_COLUMNS.map(([k, label]) => el("th", {
    class: `sortable${k === key ? (desc ? " sorted-desc" : " sorted-asc") : ""}`, "data-key": k,
    onclick: () => { ui.trialSort = { key: k, desc: k === key ? !desc : false }; renderTrials(ui.data.trials); },
  }, label)));
  const rows = [];
  for (const t of shown) {
    rows.push(el("tr", { class: `clickable${t.step === ui.openStep ? " selected" : ""}`, "data-step": t.step,
      onclick: () => openTrial(t.step) },
    el("td", { class: "num" }, t.step), el("td", { class: "num" }, t.iteration), el("td", {}, t.source),
    el("td", {}, statusSpan(t.status)), el("td", { class: "num" }, t.value_text),
    el("td", { class: "num" }, num(t.best_so_far)), el("td", {}, t.kept ? "kept" : ""), el("td", {}, t.reason),
    el("td", {}, t.message), el("td", { class: "num" }, t.duration_s)));
  }
  replace("trials-table", el("thead", {}, head), el("tbody", {}, rows));
  renderTrialDetail();
}

function compare(a, b, desc) {  // missing values (a failed trial's value) last in either direction
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  const order = typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
  return desc ? -order : order;
}

async function openTrial(step) {
  ui.openStep = step;
  ui.openTrialFiles = null;
  renderTrials(ui.data.trials);
  try {
    ui.openTrialFiles = await fetchJSON("/api/trial", { step });
  } catch (error) {
    ui.openTrialFiles = { error: error.message, files: [] };
  }
  if (ui.openStep === step) renderTrialDetail();
}

function renderTrialDetail() {
  const t = ui.data.trials.find((x) => x.step === ui.openStep);
  if (!t) { replace("trial-detail"); return; }
  const files = ui.openTrialFiles;
  let logs;
  if (!files) logs = el("p", { class: "muted" }, "reading the trial folder…");
  else if (files.error) logs = el("p", { class: "error" }, files.error);
  else if (!files.files.length) logs = el("p", { class: "muted", id: "trial-logs" }, `no files in ${files.folder}`);
  else {
    logs = el("div", { id: "trial-logs" }, files.files.map((f) => [
      el("h3", {}, `${f.name} (${f.bytes} bytes${f.truncated ? ", last 8 KiB" : ""})`),
      f.tail === null ? el("p", { class: "muted" }, "not a text file") : pre(f.tail),
    ]));
  }
  replace("trial-detail", el("div", { class: "panel" }, el("h3", {}, `trial ${t.step} (iteration ${t.iteration})`),
    kv([["status", statusSpan(t.status)], ["value", t.value_text], ["decision", t.reason],
      ["overridden by", t.overridden_by], ["message", t.message], ["proposal rationale", t.rationale],
      ["proposal problem", t.problem], ["params", json(t.params)],
      ["metrics", Object.keys(t.metrics).length ? json(t.metrics) : ""], ["recovered", t.recovered ? "yes" : ""]]),
    el("h3", {}, "trial folder"), logs));
}

// ---- mechanisms -----------------------------------------------------------------------------------
function renderMechanisms(data) {
  replace("archive-note", data.archive.available ? `archive: ${data.archive.path}` : data.archive.note);
  const head = el("tr", {}, ["id", "name", "session", "status", "hook calls", "changed", "Δ best in its window",
    "per hook", "reason"].map((h) => el("th", {}, h)));
  const rows = data.mechanisms.map((m) => {
    const delta = m.effect && m.effect.delta;
    const effect = delta === undefined || delta === null ? "—" : `${num(delta, 4)} (${m.effect.verdict})`;
    const hooks = Object.entries(m.hooks).map(([h, c]) => `${h} ${c.changed}/${c.calls}`).join(", ");
    return el("tr", { class: `clickable${m.id === ui.openMechanism ? " selected" : ""}`, "data-id": m.id,
      onclick: () => openMechanism(m.id) },
    el("td", {}, el("code", {}, short(m.id))), el("td", { class: "mech-name" }, m.name),
    el("td", {}, m.session.split("/").pop()), el("td", {}, statusSpan(m.status)), el("td", { class: "num" }, m.calls),
    el("td", { class: "num" }, m.changed), el("td", {}, effect), el("td", {}, hooks), el("td", {}, m.reason));
  });
  replace("mechanisms-table", el("thead", {}, head),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 9, class: "muted" },
      "no mechanism in this run (Level 2 not on, or no research session yet)"))));
}

async function openMechanism(id) {
  ui.openMechanism = id;
  ui.mechanismDetail = null;
  replace("mechanism-detail", el("div", { class: "panel muted" }, "reading the archive…"));
  document.querySelectorAll("#mechanisms-table tr[data-id]").forEach((tr) => {
    tr.classList.toggle("selected", tr.dataset.id === id);
  });
  let detail;
  try {
    detail = await fetchJSON("/api/mechanism", { id });
  } catch (error) {
    detail = { error: error.message };
  }
  if (ui.openMechanism !== id) return;
  ui.mechanismDetail = detail;
  replace("mechanism-detail", mechanismPanel(detail));
  document.getElementById("mechanism-detail").scrollIntoView({ block: "nearest" });
}

function mechanismLink(id, label) {
  return el("a", { class: "mech", onclick: () => openMechanism(id) }, label || short(id));
}

function mechanismPanel(m) {
  if (m.error) return el("div", { class: "panel error" }, m.error);
  const diffs = m.diffs.length ? m.diffs.map((d) => [
    el("h3", {}, "diff against parent ", mechanismLink(d.parent, `${d.parent_name} ${short(d.parent)}`)),
    el("pre", { class: "diff", "data-parent": d.parent }, d.lines.map((line) => el("span", {
      class: line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add"
        : line.startsWith("-") && !line.startsWith("---") ? "del" : "same" }, line || " "))),
  ]) : el("p", { class: "muted" }, "no parent: written from scratch");
  const session = m.session || {};
  const prompts = session.prompts ? Object.entries(session.prompts).map(([k, v]) =>
    el("details", {}, el("summary", {}, `prompt: ${k}`), pre(v))) : [];
  return el("div", { class: "panel", id: "mechanism-panel" },
    el("h3", {}, el("span", { id: "mechanism-name" }, m.name), ` ${short(m.id)}`),
    kv([["status", statusSpan(m.status)], ["reason", m.reason], ["origin", m.origin], ["class", m.class_name],
      ["first run", m.first_run], ["created", m.created],
      ["parents", m.parents.length ? el("span", {}, m.parents.map((p) => [mechanismLink(p), " "])) : "none"],
      ["children", m.children.length ? el("span", {}, m.children.map((c) => [mechanismLink(c), " "])) : "none"],
      ["status by run", Object.entries(m.status_by_run).map(([r, s]) => `${r}: ${s}`).join(", ")],
      ["hypothesis", session.hypothesis ? `${session.hypothesis.bottleneck}: ${session.hypothesis.idea}`
        : session.description]]),
    diffs,
    Object.keys(m.effects).length ? [el("h3", {}, "effect per run"), pre(json(m.effects))] : null,
    Object.keys(m.hook_stats).length ? [el("h3", {}, "hook calls per run"), pre(json(m.hook_stats))] : null,
    prompts,
    el("details", {}, el("summary", {}, "source"), pre(m.source)),
    el("details", {}, el("summary", {}, "gate and smoke-test reports"),
      pre(json({ gate: m.gate_report, box: m.box_report }))),
    el("details", {}, el("summary", {}, `archive history (${m.history.length} events)`), pre(json(m.history))));
}

// ---- research sessions ----------------------------------------------------------------------------
function renderSessions(sessions) {
  if (!sessions.length) {
    replace("sessions-list", el("p", { class: "muted" }, "no research session yet"));
    return;
  }
  const open = new Set([...document.querySelectorAll("#sessions-list details[open]")].map((d) => d.dataset.key));
  const keep = (node, key) => { node.dataset.key = key; if (open.has(key)) node.open = true; return node; };
  replace("sessions-list", sessions.map((s, i) => {
    const bottlenecks = (s.diagnosis.bottlenecks || []).map((b) => `${b.name} (${num(b.severity, 2)}): ${b.evidence}`);
    const hypotheses = el("table", {}, el("thead", {}, el("tr", {}, ["bottleneck", "idea", "evidence", "impact",
      "feasibility", "complexity", "score"].map((h) => el("th", {}, h)))),
    el("tbody", {}, s.hypotheses.map((h) => el("tr", {}, el("td", {}, h.bottleneck), el("td", {}, h.idea),
      el("td", {}, h.evidence), el("td", { class: "num" }, h.impact), el("td", { class: "num" }, h.feasibility),
      el("td", { class: "num" }, h.complexity), el("td", { class: "num" }, h.score ?? "")))));
    const candidates = s.candidates.map((c) => el("li", {}, mechanismLink(c.id, `${c.name} ${short(c.id)}`), " ",
      statusSpan(c.status), c.reason ? ` — ${c.reason}` : "",
      (c.parents || []).length ? [" (repair of ", c.parents.map((p) => mechanismLink(p)), ")"] : ""));
    const exchanges = s.exchanges.map((x) => keep(el("details", { class: "exchange" },
      el("summary", {}, `#${x.seq} ${x.purpose} · ${x.model} · ${num(x.latency_s, 3)} s`),
      x.messages.map((msg) => [el("h3", {}, `prompt (${msg.role})`), pre(msg.content)]),
      el("h3", {}, "answer"), pre(x.response)), `${i}:${x.seq}`));
    return el("div", { class: "session", "data-session": s.session_id },
      el("h3", {}, `${s.session_id}`, s.step !== null ? ` · step ${s.step}` : "", ` · ${s.source}`),
      kv([["chosen bottleneck", s.chosen], ["diagnosis", bottlenecks.join("; ")]]),
      s.hypotheses.length ? hypotheses : null,
      candidates.length ? [el("h3", {}, "candidates"), el("ul", {}, candidates)] : null,
      exchanges.length ? [el("h3", {}, `prompts and answers (${exchanges.length})`), exchanges]
        : s.source === "llm" ? el("p", { class: "muted" }, "no cassette entries for this session") : null);
  }));
}

// ---- an ablation ----------------------------------------------------------------------------------
function renderAblation(data) {
  const a = data.ablation;
  document.title = `ablation ${a.domain} — Bilevel Evolve`;
  replace("title", `ablation: ${a.domain}`);
  const finished = data.runs.filter((r) => r.finished).length;
  const badge = document.getElementById("live");
  badge.textContent = `${finished}/${data.runs.length} runs finished`;
  badge.className = finished < data.runs.length ? "badge live" : "badge";
  layoutOnce("ablation", [
    section("ablation-overview", "Groups", el("div", { id: "ablation-summary", class: "cards" }),
      el("div", { id: "ablation-curves", class: "chart" })),
    section("report", "Report table", el("div", { class: "scroll" }, el("table", { id: "ablation-table" }))),
    section("runs", "Runs", el("div", { class: "scroll" }, el("table", { id: "ablation-runs" }))),
  ]);
  replace("ablation-summary", card("domain", a.domain), card("groups", [...a.groups, ...a.baselines].join(", ")),
    card("repeats", a.repeats), card("iterations", a.iterations), card("agent", a.agent),
    card("direction", a.direction || "?"));
  const traces = [];
  for (const g of data.groups) {
    if (!g.band) continue;
    const b = g.band;
    const name = `${g.label} (${g.levels})`;
    traces.push({ x: b.steps, y: b.mean.map((m, i) => m - b.sd[i]), mode: "lines", line: { width: 0, shape: "hv" },
      hoverinfo: "skip", showlegend: false, legendgroup: g.label });
    traces.push({ x: b.steps, y: b.mean.map((m, i) => m + b.sd[i]), mode: "lines", fill: "tonexty",
      fillcolor: translucent(g.color), line: { width: 0, shape: "hv" }, hoverinfo: "skip", showlegend: false,
      legendgroup: g.label });
    traces.push({ x: b.steps, y: b.mean, mode: "lines", name: plotlyText(`${name}, ${b.runs} run(s)`),
      line: { color: g.color, width: 2, shape: "hv" }, legendgroup: g.label });
  }
  Plotly.react("ablation-curves", traces, { margin: { l: 55, r: 10, t: 30, b: 40 },
    title: { text: "best so far: mean ± sd over the repeats", font: { size: 13 } },
    xaxis: { title: { text: "trial (step 0 = the baseline)" } }, yaxis: { title: { text: a.direction || "" } },
    uirevision: "ablation" }, { displaylogo: false, responsive: true });
  replace("ablation-table", el("thead", {}, el("tr", {}, data.table.header.map((h) => el("th", {}, h)))),
    el("tbody", {}, data.table.rows.map((row) => el("tr", {}, row.map((c) => el("td", {}, c))))));
  const head = ["run", "group", "repeat", "seed", "state", "baseline", "best", "change", "evaluations", "injected",
    "rolled back"];
  replace("ablation-runs", el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
    el("tbody", {}, data.runs.map((r) => el("tr", { "data-run": r.name },
      el("td", {}, r.started ? el("a", { href: `?run=${encodeURIComponent(r.name)}` }, r.name) : r.name),
      el("td", {}, r.label), el("td", { class: "num" }, r.repeat), el("td", { class: "num" }, r.seed),
      el("td", {}, r.state), el("td", { class: "num" }, r.baseline_text), el("td", { class: "num" }, r.best_text),
      el("td", { class: "num" }, r.change_text), el("td", { class: "num" }, r.evaluations),
      el("td", { class: "num" }, r.injected), el("td", { class: "num" }, r.rolled_back)))));
}

function translucent(hex) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},0.2)`;
}

// ---- an archive alone -----------------------------------------------------------------------------
function renderArchive(data) {
  replace("title", `archive ${data.archive.path}`);
  layoutOnce("archive", [
    section("archive-lineage", "Lineage", el("div", { id: "lineage", class: "chart" })),
    section("mechanisms", "Mechanisms", el("table", { id: "mechanisms-table" }), el("div", { id: "mechanism-detail" })),
  ]);
  const nodes = data.archive.lineage;
  drawLineage(nodes);
  const byId = Object.fromEntries(nodes.map((n) => [n.id, n]));
  const head = el("tr", {}, ["id", "name", "origin", "status", "parents", "Δ effect", "first run", "reason"]
    .map((h) => el("th", {}, h)));
  replace("mechanisms-table", el("thead", {}, head), el("tbody", {}, nodes.map((n) => el("tr", {
    class: `clickable${n.id === ui.openMechanism ? " selected" : ""}`, "data-id": n.id,
    onclick: () => openMechanism(n.id) },
  el("td", {}, el("code", {}, short(n.id))), el("td", { class: "mech-name" }, n.name), el("td", {}, n.origin),
  el("td", {}, statusSpan(n.status)), el("td", {}, n.parents.map((p) => (byId[p] ? byId[p].name : short(p))).join(", ")),
  el("td", { class: "num" }, num(n.effect_delta, 4)), el("td", {}, n.first_run), el("td", {}, n.reason)))));
}

document.addEventListener("DOMContentLoaded", poll);
