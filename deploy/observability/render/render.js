// Draws a Grafana dashboard (the JSON in ../dashboards) from Prometheus's
// HTTP API as SVG: timeseries panels as lines (stacked when the panel
// says so), stat panels as coloured boxes, rows as headings, laid out on
// the dashboard's own 24-column grid. Enough of Grafana to show what the
// panels show; no library, no build step.

const params = new URLSearchParams(location.search);
const prometheus = (params.get("prometheus") || "http://127.0.0.1:9090").replace(/\/$/, "");
const dashboardUrl = params.get("dashboard") || "../dashboards/tiermail-mail-flow.json";
const minutes = Number(params.get("minutes") || 15);
// Grafana's $__rate_interval is max(4 x scrape interval, step + scrape
// interval); the page cannot know the scrape interval, so it is a parameter.
const scrape = Number(params.get("scrape") || 15);
const rateOverride = params.get("rate");

const PALETTE = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9",
  "#8ab8ff", "#fade2a", "#96d98d", "#ffa6b0", "#56a64b", "#e0b400"];
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function si(v, digits = 3) {
  const a = Math.abs(v);
  for (const [d, s] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (a >= d) return `${+(v / d).toPrecision(digits)}${s}`;
  }
  if (a === 0) return "0";
  return `${+v.toPrecision(digits)}`;
}

function format(v, unit) {
  if (!Number.isFinite(v)) return "-";
  switch (unit) {
    case "s": {
      const a = Math.abs(v);
      if (a === 0) return "0 s";
      if (a < 1e-3) return `${+(v * 1e6).toPrecision(3)} µs`;
      if (a < 1) return `${+(v * 1e3).toPrecision(3)} ms`;
      if (a < 120) return `${+v.toPrecision(3)} s`;
      if (a < 7200) return `${+(v / 60).toPrecision(3)} min`;
      return `${+(v / 3600).toPrecision(3)} h`;
    }
    case "ops": return `${si(v)}/s`;
    case "percentunit": return `${+(v * 100).toPrecision(3)}%`;
    default: return si(v);
  }
}

function legend(fmt, metric) {
  if (!fmt) return JSON.stringify(metric);
  return fmt.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) => metric[k] ?? "");
}

async function api(path) {
  const r = await fetch(`${prometheus}${path}`);
  const j = await r.json();
  if (j.status !== "success") throw new Error(j.error || `HTTP ${r.status}`);
  return j.data;
}

function expand(expr, step) {
  const rate = rateOverride || `${Math.max(4 * scrape, step + scrape)}s`;
  return expr.replaceAll("$__rate_interval", rate).replaceAll("$__interval", `${step}s`);
}

async function seriesOf(panel, range) {
  const out = [];
  for (const t of panel.targets || []) {
    const q = new URLSearchParams({
      query: expand(t.expr, range.step), start: range.start, end: range.end, step: range.step,
    });
    const data = await api(`/api/v1/query_range?${q}`);
    for (const s of data.result) {
      const points = s.values.map(([ts, v]) => [Number(ts), Number(v)])
        .filter(([, v]) => Number.isFinite(v));
      if (points.length) out.push({ name: legend(t.legendFormat, s.metric), points });
    }
  }
  out.sort((a, b) => a.name.localeCompare(b.name));
  return out;
}

function stack(series) {
  const base = new Map();
  return series.map((s) => ({
    ...s,
    last: s.points[s.points.length - 1][1],
    points: s.points.map(([t, v]) => {
      const y = (base.get(t) || 0) + v;
      base.set(t, y);
      return [t, y];
    }),
  }));
}

function drawChart(body, panel, series, range) {
  const defaults = panel.fieldConfig?.defaults || {};
  const unit = defaults.unit || "short";
  const stacked = defaults.custom?.stacking?.mode === "normal";
  const shown = stacked ? stack(series)
    : series.map((s) => ({ ...s, last: s.points[s.points.length - 1][1] }));
  const svg = el("svg:svg");
  body.append(svg);
  const leg = el("div", { class: "legend" });
  body.append(leg);
  const { width: W, height: H } = svg.getBoundingClientRect();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const left = 58, right = 8, top = 6, bottom = 16;
  const ys = shown.flatMap((s) => s.points.map(([, v]) => v));
  let lo = defaults.min ?? Math.min(0, ...ys);
  let hi = defaults.max ?? Math.max(...ys, 0);
  if (defaults.max === undefined) hi = hi > lo ? hi * 1.1 : lo + 1;
  const x = (t) => left + ((t - range.start) / (range.end - range.start)) * (W - left - right);
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (H - top - bottom);
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    svg.append(el("svg:line", { x1: left, x2: W - right, y1: y(v), y2: y(v), stroke: "#2a2d33" }));
    svg.append(el("svg:text", { x: left - 4, y: y(v) + 3, "text-anchor": "end" }, format(v, unit)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = range.start + ((range.end - range.start) * i) / 4;
    const label = new Date(t * 1000).toISOString().slice(11, 16);
    svg.append(el("svg:text", { x: x(t), y: H - 3, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, label));
  }
  shown.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length];
    // A gap in the data (a series that started late) stays a gap.
    let d = "";
    let prev = null;
    for (const [t, v] of s.points) {
      d += `${prev !== null && t - prev <= range.step * 1.5 ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      prev = t;
    }
    if (stacked) {
      svg.append(el("svg:path", { d, fill: "none", stroke: c, "stroke-width": 1.5, "stroke-opacity": 0.9 }));
    } else {
      svg.append(el("svg:path", { d, fill: "none", stroke: c, "stroke-width": 1.5 }));
    }
    const item = el("span", { style: `--c:${c}` }, s.name);
    item.append(el("b", {}, format(s.last, unit)));
    leg.append(item);
  });
}

async function drawStat(body, panel) {
  const box = el("div", { class: "stats" });
  body.append(box);
  for (const t of panel.targets || []) {
    const data = await api(`/api/v1/query?${new URLSearchParams({ query: t.expr })}`);
    const items = data.result.map((s) => ({ name: legend(t.legendFormat, s.metric), v: Number(s.value[1]) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const s of items) {
      box.append(el("div", { class: `stat ${s.v >= 1 ? "up" : "down"}` }, `${s.name}: ${s.v >= 1 ? "up" : "down"}`));
    }
  }
}

async function main() {
  const dash = await (await fetch(dashboardUrl)).json();
  document.title = dash.title;
  document.getElementById("title").textContent = dash.title;
  const end = Math.floor(Date.now() / 1000);
  const start = end - minutes * 60;
  const step = Math.max(1, Math.round((end - start) / 240));
  const range = { start, end, step };
  document.getElementById("range").textContent =
    `${new Date(start * 1000).toISOString().slice(0, 16).replace("T", " ")} to ` +
    `${new Date(end * 1000).toISOString().slice(11, 16)} UTC · ${prometheus}`;
  const grid = document.getElementById("grid");
  const panels = [...dash.panels].sort((a, b) => a.gridPos.y - b.gridPos.y || a.gridPos.x - b.gridPos.x);
  let failed = 0;
  const jobs = [];
  for (const p of panels) {
    const g = p.gridPos;
    const place = `grid-column: ${g.x + 1} / span ${g.w}; grid-row: ${g.y + 1} / span ${g.h};`;
    if (p.type === "row") {
      grid.append(el("div", { class: "row", style: place }, p.title));
      continue;
    }
    const box = el("section", { class: "panel", style: place });
    box.append(el("h2", { title: p.description || "" }, p.title));
    const body = el("div", { class: "body" });
    box.append(body);
    grid.append(box);
    jobs.push((async () => {
      try {
        if (p.type === "stat") {
          await drawStat(body, p);
        } else {
          const series = await seriesOf(p, range);
          if (series.length) drawChart(body, p, series, range);
          else body.append(el("div", { class: "empty" }, "no data in this range"));
        }
      } catch (e) {
        failed += 1;
        body.append(el("div", { class: "error" }, String(e.message || e)));
      }
    })());
  }
  await Promise.all(jobs);
  document.body.dataset.failed = String(failed);
  document.body.dataset.ready = "1";
}

main().catch((e) => {
  document.getElementById("grid").append(el("div", { class: "error" }, String(e)));
  document.body.dataset.failed = "all";
  document.body.dataset.ready = "1";
});
