// kanaria dashboard: polls the JSON API once a second and draws the list or one canary.
// Plain DOM and hand-made SVG; no library, nothing loaded from elsewhere.

const POLL_MS = 1000;
const TOKEN_KEY = "kanaria.apiToken";
const SVG_NS = "http://www.w3.org/2000/svg";
const body = document.body;
const page = body.dataset.page;

// ---- DOM helpers (text is always set as text, never parsed as HTML) ---------------------------

function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

function s(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ---- time -------------------------------------------------------------------------------------

function parseTime(text) {
  if (!text) return null;
  const value = Date.parse(text);
  return Number.isNaN(value) ? null : value;
}

function ago(text, now) {
  const then = parseTime(text);
  if (then === null) return "–";
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours}h` : `${Math.floor(hours / 24)}d`;
}

function clockTime(ms) {
  const date = new Date(ms);
  return [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    .map((part) => String(part).padStart(2, "0"))
    .join(":");
}

// ---- the API token ----------------------------------------------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function showTokenState() {
  const state = document.getElementById("token-state");
  state.textContent = token() ? "token set" : "no token";
  state.className = token() ? "token-state set" : "token-state";
}

function setupToken() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    showTokenState();
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
  });
  showTokenState();
}

// ---- fetching -------------------------------------------------------------------------------

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function live(ok, now) {
  const marker = document.getElementById("live");
  marker.className = ok ? "live" : "live stale";
  marker.textContent = ok
    ? `live · updated ${clockTime(now)} UTC`
    : "not updating: the dashboard cannot reach its server";
}

function poll(url, render) {
  let busy = false;
  const once = async () => {
    if (busy) return;
    busy = true;
    try {
      const data = await getJSON(url);
      render(data);
      live(true, parseTime(data.now) ?? Date.now());
    } catch (error) {
      live(false, Date.now());
      console.warn(error);
    } finally {
      busy = false;
    }
  };
  once();
  setInterval(once, POLL_MS);
}

// ---- small pieces ---------------------------------------------------------------------------

function badge(phase, paused) {
  return h("span", { class: `badge ${paused ? "paused" : phase}`, "data-phase": phase },
    paused ? `${phase} · paused` : phase || "Unknown");
}

function weightBar(weight, width = 120) {
  const canaryWidth = Math.round((width * Math.max(0, Math.min(100, weight))) / 100);
  return s("svg", { class: "bar", width, height: 10, viewBox: `0 0 ${width} 10`, role: "img",
    "aria-label": `canary weight ${weight}%` },
    s("rect", { class: "primary", x: 0, y: 0, width, height: 10, rx: 2 }),
    s("rect", { class: "canary", x: 0, y: 0, width: canaryWidth, height: 10, rx: 2 }));
}

function fact(label, value, small = false, id = undefined) {
  return h("div", { class: "fact" },
    h("div", { class: "label" }, label),
    h("div", { class: small ? "value small" : "value", id }, value));
}

function describeBounds(check) {
  const parts = [];
  if (check.min !== null && check.min !== undefined) parts.push(`≥ ${check.min}`);
  if (check.max !== null && check.max !== undefined) parts.push(`≤ ${check.max}`);
  return parts.join(" and ") || "any value";
}

function formatValue(value) {
  if (value === null || value === undefined) return "no value";
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toFixed(2);
}

// ---- charts -----------------------------------------------------------------------------------

const CHART = { width: 560, height: 210, left: 46, right: 14, top: 12, bottom: 26 };

function niceTicks(low, high, count = 5) {
  if (low === high) { low -= 1; high += 1; }
  const raw = (high - low) / (count - 1);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((m) => m >= raw);
  const start = Math.floor(low / step) * step;
  const ticks = [];
  for (let tick = start; tick <= high + step * 0.5 && ticks.length < 12; tick += step) {
    ticks.push(Number(tick.toFixed(6)));
  }
  return ticks;
}

function frame(times, yTicks, yFormat = (v) => String(v)) {
  const { width, height, left, right, top, bottom } = CHART;
  const [t0, t1] = times;
  const yLow = yTicks[0];
  const yHigh = yTicks[yTicks.length - 1];
  const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (width - left - right);
  const y = (v) => top + (1 - (v - yLow) / Math.max(1e-9, yHigh - yLow)) * (height - top - bottom);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  for (const tick of yTicks) {
    svg.append(s("line", { class: "grid", x1: left, x2: width - right, y1: y(tick), y2: y(tick) }));
    svg.append(s("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, yFormat(tick)));
  }
  for (let index = 0; index <= 4; index += 1) {
    const t = t0 + ((t1 - t0) * index) / 4;
    const anchor = index === 0 ? "start" : index === 4 ? "end" : "middle";
    svg.append(s("text", { x: x(t), y: height - 8, "text-anchor": anchor }, clockTime(t)));
  }
  svg.append(s("line", { class: "axis", x1: left, x2: width - right, y1: y(yLow), y2: y(yLow) }));
  return { svg, x, y, yLow, yHigh };
}

function weightChart(points, maxWeight, times) {
  const { svg, x, y } = frame(times, [0, 25, 50, 75, 100], (v) => `${v}%`);
  svg.setAttribute("aria-label", "canary weight over time");
  svg.id = "weight-chart";
  if (maxWeight) {
    svg.append(s("line", { class: "limit", x1: x(times[0]), x2: x(times[1]), y1: y(maxWeight), y2: y(maxWeight) }));
    svg.append(s("text", { x: x(times[1]) - 4, y: y(maxWeight) - 5, "text-anchor": "end" }, `max ${maxWeight}%`));
  }
  if (!points.length) return svg;
  let path = "";
  let previous = null;
  for (const [time, weight] of points) {
    const px = x(Math.max(times[0], parseTime(time)));
    path += previous === null ? `M${px},${y(weight)}` : `H${px}V${y(weight)}`;
    previous = weight;
  }
  path += `H${x(times[1])}`;
  const area = `${path}V${y(0)}H${x(Math.max(times[0], parseTime(points[0][0])))}Z`;
  svg.append(s("path", { class: "weight-area", d: area }));
  svg.append(s("path", { class: "weight-line", d: path }));
  return svg;
}

function checkChart(check, points, times) {
  const values = points.map((p) => p[1]).filter((v) => v !== null && v !== undefined);
  const bounds = [check.min, check.max].filter((v) => v !== null && v !== undefined);
  const all = values.concat(bounds);
  const low = all.length ? Math.min(...all) : 0;
  const high = all.length ? Math.max(...all) : 1;
  const pad = (high - low) * 0.15 || Math.abs(high) * 0.1 || 1;
  const { svg, x, y, yLow, yHigh } = frame(times, niceTicks(low - pad, high + pad));
  svg.setAttribute("aria-label", `${check.name} over time`);
  svg.dataset.check = check.name;
  const [left, right] = [x(times[0]), x(times[1])];
  if (check.min !== null && check.min !== undefined) {
    svg.append(s("rect", { class: "failing", x: left, width: right - left, y: y(check.min), height: Math.max(0, y(yLow) - y(check.min)) }));
    svg.append(s("line", { class: "bound", x1: left, x2: right, y1: y(check.min), y2: y(check.min) }));
  }
  if (check.max !== null && check.max !== undefined) {
    svg.append(s("rect", { class: "failing", x: left, width: right - left, y: y(yHigh), height: Math.max(0, y(check.max) - y(yHigh)) }));
    svg.append(s("line", { class: "bound", x1: left, x2: right, y1: y(check.max), y2: y(check.max) }));
  }
  const measured = points.filter((p) => p[1] !== null && p[1] !== undefined);
  if (measured.length > 1) {
    const d = measured.map(([t, v], i) => `${i ? "L" : "M"}${x(parseTime(t))},${y(v)}`).join("");
    svg.append(s("path", { class: "value-line", d }));
  }
  for (const [time, value, verdict] of points) {
    const cy = value === null || value === undefined ? y(yLow) : y(value);
    svg.append(s("circle", { class: `pt-${verdict}`, cx: x(parseTime(time)), cy, r: 3.6 },
      s("title", {}, `${clockTime(parseTime(time))} ${formatValue(value)} (${verdict})`)));
  }
  if (!points.length) {
    svg.append(s("text", { class: "empty", x: (left + right) / 2, y: CHART.height / 2, "text-anchor": "middle" }, "not measured yet"));
  }
  return svg;
}

function timeRange(canary, now) {
  const stamps = [];
  for (const [time] of canary.history.weight) stamps.push(parseTime(time));
  for (const points of Object.values(canary.history.checks)) {
    for (const [time] of points) stamps.push(parseTime(time));
  }
  const known = stamps.filter((t) => t !== null);
  const start = known.length ? Math.min(...known) : now - 60_000;
  return [Math.min(start, now - 10_000), now];
}

// ---- the list page --------------------------------------------------------------------------

function renderList(data) {
  const now = parseTime(data.now) ?? Date.now();
  const main = document.getElementById("main");
  if (!data.canaries.length) {
    main.replaceChildren(h("div", { class: "panel" },
      h("p", {}, "No canaries yet. Apply a Canary (kanaria apply -f canary.yaml) and it shows up here.")));
    return;
  }
  const rows = data.canaries.map((c) => h("tr", { "data-canary": `${c.namespace}/${c.name}` },
    h("td", {}, c.namespace),
    h("td", {}, h("a", { href: `canary/${encodeURIComponent(c.namespace)}/${encodeURIComponent(c.name)}` }, c.name)),
    h("td", {}, badge(c.phase, c.paused)),
    h("td", { class: "weight" }, weightBar(c.weight), h("span", { class: "num", "data-weight": c.weight }, `${c.weight}%`)),
    h("td", { class: "num" }, c.threshold ? `${c.failedChecks}/${c.threshold}` : String(c.failedChecks)),
    h("td", { title: c.lastTransitionTime || "" }, c.lastTransitionTime ? `${ago(c.lastTransitionTime, now)} ago` : "–"),
    h("td", { class: "muted" }, c.message || "")));
  main.replaceChildren(h("table", { class: "canaries panel" },
    h("thead", {}, h("tr", {}, ["Namespace", "Name", "Phase", "Weight", "Failed checks", "Last transition", "Message"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows)));
}

// ---- the canary page ------------------------------------------------------------------------

const ARM_MS = 4000;

function notice(text, kind) {
  const area = document.getElementById("notice");
  area.textContent = text;
  area.className = `notice ${kind}`;
}

async function act(action) {
  const { namespace, name } = body.dataset;
  const url = `api/canaries/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${action}`;
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  notice(`${action}: sending…`, "info");
  try {
    const response = await fetch(url, { method: "POST", headers });
    const data = await response.json();
    if (response.status === 401) {
      notice(`${action} refused — 401 Unauthorized: paste the API token in the box at the top right and try again.`, "error");
    } else if (response.status === 403) {
      notice(`${action} refused — ${data.message}`, "error");
    } else {
      notice(`${action}: ${data.message}`, data.ok ? "ok" : "error");
    }
  } catch (error) {
    notice(`${action} failed: ${error.message}`, "error");
  }
}

function actionButton(action, label) {
  let armed = 0;
  const button = h("button", { type: "button", class: action, id: `${action}-button` }, label);
  button.addEventListener("click", () => {
    // Two clicks: the first arms the button for a few seconds, the second acts.
    if (!armed) {
      armed = setTimeout(() => { armed = 0; button.textContent = label; button.classList.remove("armed"); }, ARM_MS);
      button.textContent = `Confirm ${action}`;
      button.classList.add("armed");
      return;
    }
    clearTimeout(armed);
    armed = 0;
    button.textContent = label;
    button.classList.remove("armed");
    act(action);
  });
  return button;
}

function canarySkeleton() {
  const { namespace, name } = body.dataset;
  document.getElementById("crumbs").replaceChildren(
    h("a", { href: "./" }, "canaries"), " / ", `${namespace} / ${name}`);
  document.title = `${name}.${namespace} · kanaria`;
  const main = document.getElementById("main");
  main.replaceChildren(
    h("div", { class: "head" },
      h("h1", {}, `${name}.${namespace}`, h("span", { id: "phase" })),
      h("div", { class: "actions" },
        actionButton("promote", "Promote"),
        actionButton("abort", "Abort"))),
    h("div", { id: "notice", class: "notice", role: "status" }),
    h("div", { id: "detail" }, h("p", { class: "muted" }, "Loading…")));
}

function renderCanary(data) {
  const canary = data.canary;
  const now = parseTime(data.now) ?? Date.now();
  document.getElementById("phase").replaceChildren(badge(canary.phase, canary.paused));
  for (const id of ["promote-button", "abort-button"]) {
    const button = document.getElementById(id);
    button.disabled = Boolean(data.actionsOff);
    button.title = data.actionsOff || "";
  }
  const times = timeRange(canary, now);
  const checks = canary.checks.map((check) => {
    const points = canary.history.checks[check.name] || [];
    const verdict = check.verdict || "";
    return h("section", { class: "panel" },
      h("div", { class: "chart-title" },
        h("h2", {}, check.name),
        h("span", { class: "last" },
          check.verdict ? [`last ${formatValue(check.value)} · threshold ${describeBounds(check)} · `,
            h("span", { class: `verdict ${verdict}` }, verdict)] : `threshold ${describeBounds(check)}`)),
      checkChart(check, points, times));
  });
  const events = [...canary.events].reverse().map((event) => h("li", {},
    h("span", { class: "age" }, ago(event.lastTimestamp, now)),
    h("span", { class: `type ${event.type}` }, event.type),
    h("span", {}, event.message, event.count > 1 ? h("span", { class: "count" }, `×${event.count}`) : null)));
  const failed = canary.threshold ? `${canary.failedChecks}/${canary.threshold}` : String(canary.failedChecks);
  document.getElementById("detail").replaceChildren(...[
    h("div", { class: "facts panel" },
      fact("Canary weight", h("span", { id: "weight", "data-weight": canary.weight }, `${canary.weight}%`)),
      fact("Primary weight", `${100 - canary.weight}%`),
      fact("Failed checks", failed),
      fact("Step / max", `${canary.stepWeight ?? (canary.stepWeights || []).join(",")} / ${canary.maxWeight ?? "–"}%`, true),
      fact("Target", canary.target || "–", true),
      fact("Last transition", canary.lastTransitionTime ? `${ago(canary.lastTransitionTime, now)} ago` : "–", true)),
    canary.message ? h("p", { class: "panel muted" }, canary.message) : null,
    h("div", { class: "charts" },
      h("section", { class: "panel" },
        h("div", { class: "chart-title" }, h("h2", {}, "Canary weight"),
          h("span", { class: "last" }, `now ${canary.weight}% of requests`)),
        weightChart(canary.history.weight, canary.maxWeight, times)),
      checks),
    h("section", { class: "panel" }, h("h2", {}, "Events"),
      events.length ? h("ol", { class: "timeline", id: "events" }, events) : h("p", { class: "muted" }, "No events yet.")),
  ].filter(Boolean));
}

// ---- start ----------------------------------------------------------------------------------

setupToken();
if (page === "canary") {
  canarySkeleton();
  const { namespace, name } = body.dataset;
  poll(`api/canaries/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`, renderCanary);
} else {
  document.getElementById("crumbs").replaceChildren("canaries");
  poll("api/canaries", renderList);
}
