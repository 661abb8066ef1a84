// The atomiton web page: runs, stored Blueprints, and a live graph of one run.
// Plain JS, no build step; talks to the native API with the token from the URL fragment.
"use strict";

const state = { token: "", run: null, socket: null, nodes: {}, graph: null };
const $ = (id) => document.getElementById(id);
const FINAL = new Set(["succeeded", "failed", "cancelled", "interrupted"]);
const KIND_STATE = {
  "node.queued": "queued", "node.started": "running", "node.retrying": "retrying",
  "node.succeeded": "succeeded", "node.failed": "failed", "node.skipped": "skipped",
  "node.cancelled": "cancelled", "node.abandoned": "abandoned",
};

function readToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem("atomiton-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
  }
  state.token = sessionStorage.getItem("atomiton-token") || "";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) { $("token-form").hidden = false; throw new Error("token needed"); }
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") node.addEventListener("click", v); else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function loadFlows() {
  const flows = await api("GET", "/api/v1/flows");
  $("flows").replaceChildren(...flows.map((f) => el("li", { "data-testid": "flow-item", "data-flow-id": f.id },
    el("span", {}, `${f.name} (${f.nodeCount})`),
    el("button", { "data-testid": "start-flow", onclick: (e) => { e.stopPropagation(); startFlow(f.id); } }, "Start"))));
}

async function loadRuns() {
  const runs = await api("GET", "/api/v1/runs?limit=30");
  $("runs").replaceChildren(...runs.map((r) => el("li", {
    "data-testid": "run-item", "data-run-id": r.run_id,
    class: r.run_id === state.run ? "selected" : "", onclick: () => openRun(r.run_id),
  }, el("span", {}, `${r.blueprint_name} · ${r.run_id.slice(-8)}`),
     el("span", { class: "badge", "data-state": r.status }, r.status))));
  $("connection").textContent = "connected";
}

async function startFlow(flowId) {
  const started = await api("POST", "/api/v1/runs", { flow_id: flowId });
  await openRun(started.run_id);
  loadRuns();
}

async function openRun(runId) {
  if (state.socket) state.socket.close();
  const record = await api("GET", `/api/v1/runs/${runId}`);
  state.run = runId;
  state.graph = record.graph || { nodes: Object.keys(record.nodes).filter((k) => !k.includes("/")).map((id) => ({ id, name: id })), edges: [] };
  state.nodes = {};
  for (const n of state.graph.nodes) state.nodes[n.id] = { state: "pending", progress: 0 };
  $("welcome").hidden = true;
  $("run").hidden = false;
  $("run-title").textContent = `${record.blueprint_name || state.graph.name || ""} · ${runId}`;
  setStatus(record.status === "running" ? "running" : record.status);
  render();
  follow(runId, 0);
}

function follow(runId, after) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/api/v1/runs/${encodeURIComponent(runId)}/events?after=${after}&token=${encodeURIComponent(state.token)}`;
  const socket = new WebSocket(url);
  let last = after;
  socket.onmessage = (message) => { const e = JSON.parse(message.data); last = e.seq; apply(e); };
  socket.onclose = (close) => {
    if (state.socket === socket && close.code !== 1000 && close.code !== 4404 && state.run === runId) {
      setTimeout(() => follow(runId, last), 1000);  // resume after the last event seen
    }
  };
  state.socket = socket;
}

function apply(e) {
  if (e.kind === "run.finished") { setStatus(e.payload.status); render(); loadRuns(); return; }
  if (e.kind === "run.started") { setStatus("running"); return; }
  const id = e.node_id;
  if (!id) return;
  const node = state.nodes[id] || (state.nodes[id] = { state: "pending", progress: 0 });
  if (e.kind === "node.progress") node.progress = e.payload.percent;
  else if (KIND_STATE[e.kind]) {
    node.state = KIND_STATE[e.kind];
    if (node.state === "running") { node.progress = 0; node.started = e.time; }
    if (["succeeded", "skipped"].includes(node.state)) node.progress = 100;
    if (e.payload.duration_ms != null) node.duration = e.payload.duration_ms;
    if (e.payload.error) node.error = e.payload.error.message;
    if (e.payload.reason) node.error = node.error || e.payload.reason;
    if (e.payload.outputs) node.outputs = e.payload.outputs;
  }
  render();
}

function setStatus(status) {
  $("run-status").textContent = status;
  $("run-status").setAttribute("data-state", status);
  $("cancel").disabled = FINAL.has(status);
}

function layout(graph) {
  const level = {};
  const incoming = {};
  for (const n of graph.nodes) incoming[n.id] = [];
  for (const e of graph.edges) if (incoming[e.to]) incoming[e.to].push(e.from);
  const depth = (id, seen = new Set()) => {
    if (level[id] !== undefined) return level[id];
    if (seen.has(id)) return 0;
    seen.add(id);
    level[id] = Math.max(-1, ...incoming[id].filter((p) => p in incoming).map((p) => depth(p, seen))) + 1;
    return level[id];
  };
  const columns = [];
  for (const n of graph.nodes) (columns[depth(n.id)] ||= []).push(n);
  const pos = {};
  columns.forEach((col, x) => col.forEach((n, y) => { pos[n.id] = { x: 20 + x * 210, y: 20 + y * 80 }; }));
  return { pos, width: columns.length * 210 + 20, height: Math.max(...columns.map((c) => c.length)) * 80 + 20 };
}

function render() {
  const graph = state.graph;
  if (!graph) return;
  const { pos, width, height } = layout(graph);
  const svg = $("graph");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.style.height = `${height}px`;
  const defs = el("svg:defs", {}, el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto" },
    el("svg:path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa3ad" })));
  const edges = graph.edges.filter((e) => pos[e.from] && pos[e.to]).map((e) => {
    const a = pos[e.from]; const b = pos[e.to];
    return el("svg:path", { class: "edge", d: `M${a.x + 170},${a.y + 28} C${a.x + 190},${a.y + 28} ${b.x - 20},${b.y + 28} ${b.x},${b.y + 28}` });
  });
  const boxes = graph.nodes.map((n) => {
    const s = state.nodes[n.id] || { state: "pending", progress: 0 };
    const p = pos[n.id];
    return el("svg:g", { class: "node", "data-testid": "graph-node", "data-node-id": n.id, "data-state": s.state, transform: `translate(${p.x},${p.y})` },
      el("svg:rect", { class: "box", width: "170", height: "56", rx: "8" }),
      el("svg:rect", { class: "bar", x: "0", y: "52", height: "4", width: String(1.7 * (s.progress || 0)) }),
      el("svg:text", { x: "10", y: "22" }, (n.name || n.id).slice(0, 22)),
      el("svg:text", { class: "state", x: "10", y: "40" }, `${n.type || ""} · ${s.state}${s.duration != null ? ` · ${Math.round(s.duration)} ms` : ""}`));
  });
  svg.replaceChildren(defs, ...edges, ...boxes);
  $("nodes").replaceChildren(...Object.entries(state.nodes).map(([id, s]) => el("tr", { "data-state": s.state },
    el("td", {}, id), el("td", {}, el("span", { class: "badge", "data-state": s.state }, s.state)),
    el("td", {}, `${Math.round(s.progress || 0)} %`),
    el("td", {}, s.duration != null ? `${Math.round(s.duration)} ms` : ""),
    el("td", {}, el("pre", {}, s.error || (s.outputs ? JSON.stringify(s.outputs, null, 1).slice(0, 400) : ""))))));
}

$("cancel").addEventListener("click", async () => {
  if (state.run) await api("POST", `/api/v1/runs/${state.run}/cancel`);
});
$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("atomiton-token", $("token-input").value.trim());
  location.reload();
});

readToken();
loadFlows().then(loadRuns).catch((err) => { $("connection").textContent = String(err.message); });
setInterval(() => { if (state.token) loadRuns().catch(() => {}); }, 3000);
