// The map: H3 hexes from /v1/map (the node computes their boundaries) over an offline base map
// (/ui/basemap.json, a hand-simplified outline of the devnet's region, plus a graticule that works
// anywhere). Web Mercator in SVG; zoom with the wheel, buttons or +/-; drag to pan; click or
// press Enter on a hex to list its devices.

import { h, api, num, bytes, link, cls } from "/ui/app.js";

const CLASSES = ["hotspot", "storage", "compute", "sensor", "energy"];
const COLORS = { hotspot: "#d0661f", storage: "#2a66b0", compute: "#7b3fa6", sensor: "#2f8f6a", energy: "#b38a00" };
/** Projected world width in SVG units. */
const WORLD = 1000;

function project([lat, lng]) {
  const phi = (Math.max(-85, Math.min(85, lat)) * Math.PI) / 180;
  return [((lng + 180) / 360) * WORLD, ((1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2) * WORLD];
}

/** Resolution for a view `span` (SVG units across): about 8-40 hexes across the view. */
function resolutionFor(span) {
  const degrees = (span / WORLD) * 360;
  const table = [[20, 3], [6, 4], [2.5, 5], [0.9, 6], [0.35, 7], [0.13, 8], [0.05, 9], [0, 10]];
  return table.find(([d]) => degrees >= d)[1];
}

let basemap = null;
async function loadBasemap() {
  if (!basemap) basemap = await api("/ui/basemap.json");
  return basemap;
}

/** "62.5 %" or "40 – 100 %" from { min, max } in parts per million. */
function scaleText(scale) {
  const pct = (ppm) => `${(ppm / 10000).toFixed(1).replace(/\.0$/, "")}`;
  return scale.min === scale.max ? `${pct(scale.min)} %` : `${pct(scale.min)} – ${pct(scale.max)} %`;
}

/** Red (heavily scaled down: a crowded hex) to green (full rewards) by the lowest scale. */
function scaleColor(scale) {
  if (!scale) return "#999";
  const t = Math.max(0, Math.min(1, scale.min / 1000000));
  return `hsl(${Math.round(120 * t)}, 60%, 45%)`;
}

function dominant(devices) {
  return CLASSES.reduce((best, c) => (devices[c] > (devices[best] ?? 0) ? c : best), "hotspot");
}

/** The map widget. `params` may carry `class` and `res`; `opts.compact` makes it smaller. */
export async function mapView(params, opts) {
  const state = { class: params.get("class") || "", res: params.get("res") ? Number(params.get("res")) : null, view: null, selected: null };
  const svg = h("svg", { svg: true, role: "group", "aria-label": "Map of devices by H3 hex", id: "map-svg" });
  const panel = h("aside", { class: "card", id: "hex-panel", "aria-live": "polite" }, h("p", { class: "muted" }, "Select a hex to see its devices."));
  const summary = h("p", { class: "muted", id: "map-summary" });
  const classSelect = h("select", { "aria-label": "Layer", id: "map-layer", onchange: () => { state.class = classSelect.value; refresh(); } },
    h("option", { value: "" }, "All devices"), CLASSES.map((c) => h("option", { value: c, selected: state.class === c }, c)),
    h("option", { value: "scale", selected: state.class === "scale" }, "coverage scale (HIP-17)"));
  const resLabel = h("span", { class: "muted" });
  const zoom = (f) => { const v = state.view; const cx = v.x + v.w / 2, cy = v.y + v.h / 2; setView({ x: cx - (v.w * f) / 2, y: cy - (v.h * f) / 2, w: v.w * f, h: v.h * f }, true); };
  const tools = h("div", { class: "map-tools" }, classSelect,
    h("button", { type: "button", onclick: () => zoom(0.5), "aria-label": "Zoom in" }, "+"),
    h("button", { type: "button", onclick: () => zoom(2), "aria-label": "Zoom out" }, "−"),
    h("button", { type: "button", onclick: () => { state.view = null; refresh(); } }, "Fit"), resLabel);
  const legend = h("p", { class: "legend" }, CLASSES.map((c) => h("span", { style: `--c: ${COLORS[c]}` }, c)), h("span", { class: "muted" }, "· darker = more devices · coverage scale layer: green = full rewards, red = a crowded hex scaled down"));
  const layers = { base: h("g", { svg: true }), grid: h("g", { svg: true }), hexes: h("g", { svg: true, id: "hexes" }) };
  svg.append(layers.base, layers.grid, layers.hexes);

  let cells = [];
  let loadedRes = null;
  let scaleEpoch = null;
  // The scale layer shows hotspots only.
  const apiClass = () => (state.class === "scale" ? "hotspot" : state.class);

  function setView(v, refetch) {
    state.view = v;
    svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
    drawGrid();
    if (refetch && !state.res && resolutionFor(v.w) !== loadedRes) load(resolutionFor(v.w));
  }

  function drawGrid() {
    const v = state.view;
    const degrees = (v.w / WORLD) * 360;
    const step = [10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01].find((s) => degrees / s >= 4) ?? 0.01;
    // The box may be wider or taller than the viewBox (it is scaled to fit): cover a margin.
    const [x0, x1, y0, y1] = [v.x - v.w, v.x + 2 * v.w, v.y - v.h, v.y + 2 * v.h];
    const lines = [];
    for (let lng = -180; lng <= 180; lng += step) {
      const [x] = project([0, lng]);
      if (x >= x0 && x <= x1) lines.push(h("line", { svg: true, class: "grid", x1: x, x2: x, y1: y0, y2: y1 }));
    }
    for (let lat = -80; lat <= 80; lat += step) {
      const [, y] = project([lat, 0]);
      if (y >= y0 && y <= y1) lines.push(h("line", { svg: true, class: "grid", y1: y, y2: y, x1: x0, x2: x1 }));
    }
    layers.grid.replaceChildren(...lines.slice(0, 400));
  }

  function fit() {
    const pts = cells.flatMap((c) => c.boundary.map(project));
    if (!pts.length) { const [x, y] = project([37.75, -122.4]); return { x: x - 2, y: y - 1.5, w: 4, h: 3 }; }
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const w = Math.max(x1 - x0, 0.02) * 1.3, hh = Math.max(y1 - y0, 0.015) * 1.3;
    const side = Math.max(w, hh * 4 / 3);
    return { x: (x0 + x1) / 2 - side / 2, y: (y0 + y1) / 2 - (side * 3 / 4) / 2, w: side, h: side * 3 / 4 };
  }

  async function select(cell, el) {
    for (const s of layers.hexes.querySelectorAll(".selected")) s.classList.remove("selected");
    el.classList.add("selected");
    state.selected = cell.cell;
    const q = new URLSearchParams({ cell: cell.cell, limit: "50" });
    if (state.class) q.set("class", apiClass());
    const list = await api(`/v1/devices?${q}`);
    // replaceChildren would print a null as "null": drop the absent parts first.
    panel.replaceChildren(...[
      h("h2", {}, `Hex `, h("code", {}, cell.cell)),
      h("ul", {}, CLASSES.filter((c) => cell.devices[c]).map((c) => h("li", {}, cls(c), ` ${num(cell.devices[c])}`))),
      cell.storage_capacity_bytes ? h("p", {}, `Storage capacity: ${bytes(cell.storage_capacity_bytes)}`) : null,
      cell.compute_slots ? h("p", {}, `Compute slots: ${num(cell.compute_slots)}`) : null,
      cell.coverage_scale_ppm ? h("p", { id: "hex-scale" }, `Coverage scale (epoch ${scaleEpoch}): ${scaleText(cell.coverage_scale_ppm)}`) : null,
      h("h3", {}, "Devices"),
      h("ul", { id: "hex-devices" }, list.devices.map((d) => h("li", {}, cls(d.class), " ", link.device(d.address)))),
      list.next ? h("p", {}, h("a", { href: `/devices?cell=${cell.cell}` }, "All devices in this hex →")) : null,
    ].filter(Boolean));
  }

  function drawHexes() {
    const max = Math.max(1, ...cells.map((c) => c.total));
    layers.hexes.replaceChildren(...cells.map((c) => {
      const pts = c.boundary.map(project).map(([x, y]) => `${x},${y}`).join(" ");
      const scale = c.coverage_scale_ppm;
      const byScale = state.class === "scale";
      const kind = byScale ? "hotspot" : state.class || dominant(c.devices);
      const fill = byScale ? scaleColor(scale) : COLORS[kind];
      const opacity = byScale ? 0.8 : 0.25 + 0.65 * (c.total / max);
      const el = h("polygon", { svg: true, class: "hex", points: pts, fill, "fill-opacity": opacity.toFixed(2),
        tabindex: 0, role: "button", "data-cell": c.cell, "data-scale": scale ? scale.min : undefined,
        "aria-label": `hex ${c.cell}: ${c.total} devices${scale ? `, coverage scale ${scaleText(scale)}` : ""}` },
      h("title", { svg: true }, `${c.cell}: ${CLASSES.filter((k) => c.devices[k]).map((k) => `${c.devices[k]} ${k}`).join(", ")}`));
      el.addEventListener("click", () => select(c, el));
      el.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(c, el); } });
      return el;
    }));
    const total = cells.reduce((t, c) => t + c.total, 0);
    summary.textContent = cells.length ? `${num(total)} located devices in ${num(cells.length)} hexes at resolution ${loadedRes}.` : "No located devices yet: devices appear once they assert a location.";
    if (state.class === "scale") {
      summary.textContent += scaleEpoch === null || scaleEpoch === undefined ? " No reward epoch archived yet: no coverage scale."
        : ` Coverage scale from epoch ${scaleEpoch}.`;
    }
    resLabel.textContent = `H3 resolution ${loadedRes}`;
  }

  async function load(res) {
    const q = new URLSearchParams({ res: String(res) });
    if (state.class) q.set("class", apiClass());
    const m = await api(`/v1/map?${q}`);
    cells = m.cells;
    scaleEpoch = m.scale_epoch;
    loadedRes = m.resolution;
    drawHexes();
  }

  async function refresh() {
    await load(state.res ?? loadedRes ?? 7);
    if (!state.view) {
      setView(fit(), false);
      const want = state.res ?? resolutionFor(state.view.w);
      if (want !== loadedRes) { await load(want); }
    }
  }

  const base = await loadBasemap();
  layers.base.replaceChildren(...base.features.map((f) =>
    h("polygon", { svg: true, class: f.kind, points: f.coords.map(([lng, lat]) => project([lat, lng]).join(",")).join(" ") }, h("title", { svg: true }, f.name))));
  await refresh();

  // Pointer panning and wheel zoom.
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => { if (ev.target.classList.contains("hex")) return; drag = { x: ev.clientX, y: ev.clientY, v: { ...state.view } }; svg.setPointerCapture(ev.pointerId); });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const k = drag.v.w / svg.clientWidth;
    setView({ ...drag.v, x: drag.v.x - (ev.clientX - drag.x) * k, y: drag.v.y - (ev.clientY - drag.y) * k }, false);
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(ev.deltaY > 0 ? 1.25 : 0.8); }, { passive: false });
  svg.addEventListener("keydown", (ev) => { if (ev.key === "+" || ev.key === "=") zoom(0.5); if (ev.key === "-") zoom(2); });

  return h("div", { class: "map" }, tools,
    h("div", { class: opts.compact ? "" : "map-layout" },
      h("div", { class: "map-box" }, svg), opts.compact ? null : panel),
    opts.compact ? h("p", {}, h("a", { href: "/map" }, "Open the full map →")) : null,
    summary, legend);
}
