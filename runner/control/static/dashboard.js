// The botrunner dashboard: every bot as a table row kept live by one server-sent event stream
// (a snapshot, then changed cells only), and the selected bot's charts, trades and journal.
// No build step: plain script, uPlot (vendored) for the charts.
"use strict";

const TOKEN_KEY = "botrunner-token";
const DETAIL_REFRESH_MS = 2000;       // the selected bot's charts and tables, at most this often
// Rows are grid rows of fixed column widths with `content-visibility: auto`: the browser lays
// out and paints only the rows in view, so a second's update of a thousand bots costs little.
// (An HTML table re-laid out every row on each update: 45 ms a second per open page.)
const COLUMNS = [                     // [field, heading, format, numeric, width]
  ["id", "bot", String, false, "12em"],
  ["state", "state", String, false, "6em"],
  ["mode", "mode", String, false, "4.5em"],
  ["symbol", "symbol", String, false, "7em"],
  ["strategy", "strategy", String, false, "10em"],
  ["position", "position", v => formatNumber(v, 6), true, "7em"],
  ["equity", "equity", v => formatNumber(v, 2), true, "8em"],
  ["pnl", "pnl", v => formatNumber(v, 2), true, "7em"],
  ["last_candle_ts_ms", "last candle", v => (v === null ? "" : formatMs(v).slice(0, 16)), false, "10.5em"],
  ["trades", "trades", String, true, "4.5em"],
  ["errors", "errors", String, true, "4.5em"],
  ["problem", "kill reason / last error", String, false, "16em"],
];

const view = {
  fields: [], at: {}, bots: new Map(),          // id -> {row, tr, cells}
  selected: null, filter: "", refreshTimer: null, lastRefresh: 0, charts: {},
};
const $ = id => document.getElementById(id);

// -- the token: from the URL fragment (never sent to the server) or asked for, kept per tab --

function takeTokenFromFragment() {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search);   // out of the address bar
}

function token() {
  let value = sessionStorage.getItem(TOKEN_KEY);
  if (!value) {
    value = (window.prompt("Token for actions (the daemon's BOTRUNNER_TOKEN):") || "").trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
  }
  return value;
}

// -- formatting --

function formatNumber(value, digits) {
  if (value === null || value === undefined) return "";
  return Number(value).toLocaleString("en-US", {minimumFractionDigits: digits > 2 ? 0 : digits, maximumFractionDigits: digits});
}

function formatIso(value) {
  return value ? value.replace("T", " ").replace(/:\d\dZ$/, "") : "";
}

function formatMs(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

function say(text, isError) {
  const message = $("message");
  message.textContent = text;
  message.className = isError ? "error" : "";
}

// -- the table --

function buildHead() {
  $("bots").style.setProperty("--columns", COLUMNS.map(c => c[4]).join(" "));
  const head = $("bots-head");
  for (const [, heading, , numeric] of COLUMNS) {
    const th = document.createElement("span");
    th.setAttribute("role", "columnheader");
    th.textContent = heading;
    if (numeric) th.className = "num";
    head.appendChild(th);
  }
}

function newRow(row) {
  const tr = document.createElement("div");
  tr.className = "bot-row";
  tr.setAttribute("role", "row");
  const cells = {};
  for (const [field, , , numeric] of COLUMNS) {
    const td = document.createElement("span");
    td.setAttribute("role", "cell");
    if (numeric) td.className = "num";
    if (field === "problem") td.className = "problem";
    cells[field] = td;
    tr.appendChild(td);
  }
  const bot = {row, tr, cells};
  tr.dataset.bot = row[view.at.id];
  for (const [field] of COLUMNS) paint(bot, field);
  tr.hidden = !matchesFilter(bot);
  return bot;
}

function paint(bot, field) {
  const column = COLUMNS.find(c => c[0] === field);
  if (!column) return;
  const value = bot.row[view.at[field]];
  const td = bot.cells[field];
  td.textContent = column[2](value);
  if (field === "state") td.className = "state-" + value;
  if (field === "pnl") td.className = "num" + (value < 0 ? " neg" : "");
  if (field === "problem") td.title = value || "";
}

function onSnapshot(message) {
  view.fields = message.fields;
  view.at = Object.fromEntries(message.fields.map((name, i) => [name, i]));
  view.bots.clear();
  const body = $("bots-body");
  const rows = document.createDocumentFragment();
  for (const row of message.rows) {
    const bot = newRow(row);
    view.bots.set(row[view.at.id], bot);
    rows.appendChild(bot.tr);
  }
  body.replaceChildren(rows);
  if (view.selected && view.bots.has(view.selected)) view.bots.get(view.selected).tr.classList.add("selected");
  summarize();
  document.body.dataset.bots = String(view.bots.size);     // for tests and scripts: the table is drawn
  if (!performance.getEntriesByName("bots-drawn").length) performance.mark("bots-drawn");   // bench/dashboard.py
}

function onDelta(message) {
  let selectedChanged = false;
  for (const [id, cells] of Object.entries(message.changed)) {
    let bot = view.bots.get(id);
    if (!bot) {
      const row = new Array(view.fields.length).fill(null);
      for (const [i, value] of cells) row[i] = value;
      bot = newRow(row);
      view.bots.set(id, bot);
      $("bots-body").appendChild(bot.tr);
    } else {
      for (const [i, value] of cells) {
        bot.row[i] = value;
        paint(bot, view.fields[i]);
      }
    }
    if (id === view.selected) selectedChanged = true;
  }
  for (const id of message.removed) {
    const bot = view.bots.get(id);
    if (bot) bot.tr.remove();
    view.bots.delete(id);
  }
  summarize();
  if (selectedChanged) scheduleDetailRefresh();
}

function summarize() {
  const counts = {};
  let equity = 0, pnl = 0;
  for (const bot of view.bots.values()) {
    const state = bot.row[view.at.state];
    counts[state] = (counts[state] || 0) + 1;
    equity += bot.row[view.at.equity] || 0;
    pnl += bot.row[view.at.pnl] || 0;
  }
  const states = Object.entries(counts).sort().map(([s, n]) => `${n} ${s}`).join(", ");
  $("summary").textContent = `${view.bots.size} bots (${states}) · equity ${formatNumber(equity, 2)} · pnl ${formatNumber(pnl, 2)}`;
}

function matchesFilter(bot) {
  if (!view.filter) return true;
  return ["id", "state", "mode", "symbol", "strategy"].some(f => String(bot.row[view.at[f]]).toLowerCase().includes(view.filter));
}

// -- the selected bot --

function select(id) {
  if (view.selected && view.bots.has(view.selected)) view.bots.get(view.selected).tr.classList.remove("selected");
  view.selected = id;
  view.bots.get(id)?.tr.classList.add("selected");
  $("detail").hidden = false;
  $("detail-title").textContent = id;
  for (const chart of Object.values(view.charts)) chart.destroy();
  view.charts = {};
  refreshDetail();
}

function scheduleDetailRefresh() {
  if (view.refreshTimer) return;
  const wait = Math.max(0, view.lastRefresh + DETAIL_REFRESH_MS - Date.now());
  view.refreshTimer = setTimeout(() => { view.refreshTimer = null; refreshDetail(); }, wait);
}

async function getJson(path) {
  const response = await fetch(path, {headers: {Accept: "application/json"}});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function refreshDetail() {
  const id = view.selected;
  if (!id) return;
  view.lastRefresh = Date.now();
  const base = "bots/" + encodeURIComponent(id);
  try {
    const [status, history, trades, events] = await Promise.all([
      getJson(base), getJson(base + "/history?points=600"), getJson(base + "/journal?kinds=fill&limit=50"),
      getJson(base + "/journal?kinds=order,cancel,kill,resume,lifecycle,error,risk&limit=50"),
    ]);
    if (id !== view.selected) return;               // another bot was picked meanwhile
    showFields(status);
    showModel(status.model);
    drawCharts(history);
    showTrades(trades);
    showEvents(events);
  } catch (error) {
    say(`could not read ${id}: ${error.message}`, true);
  }
}

function showFields(s) {
  const fields = [
    ["state", s.state + (s.kill_switch ? " (kill switch)" : "")], ["mode", s.mode],
    ["symbol", `${s.symbol} ${s.timeframe}`], ["strategy", s.strategy],
    ["position", formatNumber(s.position, 8)], ["equity", formatNumber(s.equity, 2)],
    ["pnl", `${formatNumber(s.pnl, 2)} (realized ${formatNumber(s.realized_pnl, 2)})`],
    ["fees", formatNumber(s.fees, 2)], ["candles", s.bars.toLocaleString("en-US")],
    ["last candle", formatIso(s.last_candle_time)], ["orders / fills", `${s.orders} / ${s.fills}`],
    ["errors / restarts", `${s.errors} / ${s.restarts}`],
    ["kill reason", s.kill_reason], ["last error", s.last_error],
  ];
  const list = $("detail-fields");
  list.replaceChildren(...fields.filter(([, v]) => v !== "" && v !== null).flatMap(([k, v]) => {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    return [dt, dd];
  }));
}

function showModel(model) {
  if (!model) { $("model").textContent = "no model"; return; }
  const rate = model.hit_rate === null ? "no directional forecast scored yet" : `hit rate ${(100 * model.hit_rate).toFixed(1)}%`;
  const error = model.mean_abs_pct_error === null ? "" : `, mean abs error ${(100 * model.mean_abs_pct_error).toFixed(2)}%`;
  $("model").textContent = `${model.name}: ${rate} over ${model.scored} scored forecasts${error}; ` +
    `${model.calls} calls, ${model.failures} failed, breaker ${model.breaker}${model.available ? "" : " (unavailable)"}`;
}

function drawCharts(history) {
  const seconds = history.ts_ms.map(ms => ms / 1000);
  const drawdownPct = history.drawdown.map(d => 100 * d);
  const width = Math.max(300, $("detail").clientWidth - 30);
  if (!view.charts.equity) {
    const axes = [{}, {size: 70}];            // room for "10,000.00" on the value axis
    view.charts.equity = new uPlot({width, height: 160, legend: {show: false}, axes,
      series: [{}, {label: "equity", stroke: "#2458c6", width: 1.5}]}, [seconds, history.equity], $("equity-chart"));
    view.charts.drawdown = new uPlot({width, height: 120, legend: {show: false}, axes,
      series: [{}, {label: "drawdown %", stroke: "#b3261e", fill: "rgba(179,38,30,0.15)", width: 1}]},
      [seconds, drawdownPct], $("drawdown-chart"));
  } else {
    view.charts.equity.setData([seconds, history.equity]);
    view.charts.drawdown.setData([seconds, drawdownPct]);
  }
  $("equity-chart").dataset.points = String(seconds.length);
}

function cellsRow(values) {
  const tr = document.createElement("tr");
  for (const value of values) {
    const td = document.createElement("td");
    td.textContent = value;
    tr.appendChild(td);
  }
  return tr;
}

function showTrades(fills) {
  $("trades").replaceChildren(...fills.map(e => cellsRow([formatMs(e.ts_ms), e.data.side, formatNumber(e.data.quantity, 8),
    formatNumber(e.data.price, 2), formatNumber(e.data.fee, 4), e.data.reason || ""])));
}

function showEvents(events) {
  $("events").replaceChildren(...events.map(e => cellsRow([formatMs(e.ts_ms), e.kind, describe(e)])));
}

function describe(event) {
  const d = event.data;
  if (event.kind === "order") return `${d.side || ""} ${d.quantity ?? ""} ${d.type || ""} ${d.client_order_id || ""}`.trim();
  if (event.kind === "kill") return d.reason || JSON.stringify(d);
  if (event.kind === "lifecycle") return `${d.state}${d.detail ? ": " + d.detail : ""}`;
  return JSON.stringify(d);
}

// -- actions: the token in a header, JSON bodies only (the server refuses anything else) --

async function act(path, body) {
  const secret = token();
  if (!secret) { say("no token given: nothing done", true); return null; }
  const response = await fetch(path, {
    method: "POST", headers: {"Content-Type": "application/json", Authorization: "Bearer " + secret},
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) sessionStorage.removeItem(TOKEN_KEY);   // asked again next time
  if (!response.ok) { say(`${path}: ${answer.error || response.statusText}`, true); return null; }
  return answer;
}

async function onAction(action) {
  const id = view.selected;
  if (!id) return;
  let body = null;
  if (action === "kill") {
    const reason = $("kill-reason").value.trim() || "killed from the dashboard";
    if (!window.confirm(`Kill ${id}? Its orders are cancelled and its position closed.`)) return;
    body = {reason};
  }
  const answer = await act(`bots/${encodeURIComponent(id)}/${action}`, body);
  if (answer) {
    say(`${id}: ${action} done, now ${answer.state}${answer.kill_reason ? " (" + answer.kill_reason + ")" : ""}`);
    refreshDetail();
  }
}

async function onKillAll() {
  const reason = $("kill-reason").value.trim() || "killed from the dashboard";
  if (!window.confirm(`Kill every bot (${view.bots.size})? Their orders are cancelled and positions closed.`)) return;
  const answer = await act("kill", {reason});
  if (answer) say(`kill all: ${answer.filter(s => s.state === "killed").length} bots killed`);
}

// -- start --

function connect() {
  const source = new EventSource("events");
  source.addEventListener("snapshot", e => onSnapshot(JSON.parse(e.data)));
  source.addEventListener("delta", e => onDelta(JSON.parse(e.data)));
  source.onopen = () => { $("connection").textContent = "live"; $("connection").className = "connection live"; };
  source.onerror = () => { $("connection").textContent = "reconnecting…"; $("connection").className = "connection"; };
}

takeTokenFromFragment();
buildHead();
$("bots-body").addEventListener("click", e => { const row = e.target.closest(".bot-row"); if (row) select(row.dataset.bot); });
$("filter").addEventListener("input", e => {
  view.filter = e.target.value.trim().toLowerCase();
  for (const bot of view.bots.values()) bot.tr.hidden = !matchesFilter(bot);
});
for (const button of document.querySelectorAll("[data-action]")) button.addEventListener("click", () => onAction(button.dataset.action));
$("kill-all").addEventListener("click", onKillAll);
connect();
