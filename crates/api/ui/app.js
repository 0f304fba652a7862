// The explorer's shell: routing, API access, formatting, the live block stream.
// Every number on every page is read from the node's documented JSON API (/openapi.json).
// Elements are built with the DOM (never innerHTML with data), so nothing from the chain is
// ever interpreted as markup.

import { views, notFound } from "/ui/views.js";

/** Base units per TRL (amounts in the API are strings of base units). */
const UNITS_PER_TRL = 100000000n;

/** Builds an element: h("a", { href: "/x", class: "y" }, "text", child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(
    attrs.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "svg" || v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An API error with its HTTP status and the API's machine-readable code. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GET `path` from the API; throws ApiError with the API's own message on a non-2xx. */
export async function api(path) {
  let res;
  try {
    res = await fetch(path, { headers: { accept: "application/json" } });
  } catch (e) {
    throw new ApiError(0, "unreachable", `the node did not answer (${e.message})`);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(res.status, "bad_body", `${path} did not return JSON`);
  }
  if (!res.ok) {
    const err = body && body.error ? body.error : { code: "error", message: res.statusText };
    throw new ApiError(res.status, err.code, err.message);
  }
  return body;
}

/** Like api(), but a 404 is `null` (for things that may legitimately not exist). */
export async function maybe(path) {
  try {
    return await api(path);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** "12.34500000" → "12.345 TRL": exact, from the base-unit string, no floating point. */
export function trl(units) {
  if (units === null || units === undefined) return "—";
  const u = BigInt(units);
  const neg = u < 0n;
  const a = neg ? -u : u;
  const whole = a / UNITS_PER_TRL;
  let frac = (a % UNITS_PER_TRL).toString().padStart(8, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole.toLocaleString("en-US")}${frac ? "." + frac : ""} TRL`;
}

/** An amount as a cell: formatted text, exact base units in data-units and the tooltip. */
export function amount(units, tag = "td") {
  return h(tag, { class: "num", "data-units": units ?? "", title: units == null ? "" : `${units} base units` }, trl(units));
}

export function num(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

export function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = Number(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function short(id) {
  const s = String(id);
  return s.length > 20 ? `${s.slice(0, 10)}…${s.slice(-6)}` : s;
}

export function when(ms) {
  return ms ? new Date(Number(ms)).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "—";
}

/** Links to the explorer's pages. */
export const link = {
  device: (a) => h("a", { href: `/devices/${a}`, class: "mono", title: a }, short(a)),
  account: (a) => h("a", { href: `/accounts/${a}`, class: "mono", title: a }, short(a)),
  block: (n) => h("a", { href: `/blocks/${n}` }, `#${num(n)}`),
  tx: (id) => h("a", { href: `/txs/${id}`, class: "mono", title: id }, short(id)),
  epoch: (n) => h("a", { href: `/epochs/${n}` }, `epoch ${n}`),
  job: (id) => h("a", { href: `/jobs/${id}`, class: "mono", title: id }, short(id)),
};

export function cls(c) {
  return h("span", { class: `tag ${c}` }, c);
}

/** A table: headers (a string ending in "#" is right-aligned) and rows of cells. */
export function table(headers, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const head = h("tr", {}, headers.map((t) =>
    h("th", { scope: "col", class: t.endsWith("#") ? "num" : undefined }, t.replace(/#$/, ""))));
  const body = rows.map((r) => h("tr", {}, r.map((c) => (c instanceof Node && /^T[DH]$/.test(c.tagName) ? c : h("td", {}, c)))));
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

export function cards(pairs) {
  return h("div", { class: "cards" }, pairs.map(([k, v, attrs]) =>
    h("div", { class: "card", ...(attrs || {}) }, h("div", { class: "k" }, k), h("div", { class: "v" }, v))));
}

// ---- Live updates -------------------------------------------------------------------------

/** The latest status and subscribers to new blocks (the current view re-renders cheaply). */
export const live = { status: null, listeners: new Set() };

function showLive(ok, text) {
  const el = document.getElementById("live");
  el.className = ok ? "on" : "off";
  document.getElementById("live-text").textContent = text;
}

function connectLive() {
  const source = new EventSource("/v1/events/blocks");
  source.addEventListener("block", (ev) => {
    let block;
    try { block = JSON.parse(ev.data); } catch { return; }
    const height = block.height ?? block.header?.height;
    showLive(true, `live · block #${num(height)}`);
    for (const f of live.listeners) f(block);
  });
  source.onerror = () => showLive(false, "reconnecting…");
  source.onopen = () => showLive(true, "live");
  // A page kept in the back/forward cache would keep its stream open, and a browser allows
  // only a few connections per host (six over HTTP/1.1): a handful of navigations would leave
  // no connection for the next page's requests. Close on leaving, reopen on coming back.
  window.addEventListener("pagehide", () => source.close(), { once: true });
}

window.addEventListener("pageshow", (ev) => { if (ev.persisted) connectLive(); });

// ---- Routing ------------------------------------------------------------------------------

const routes = [
  [/^\/$/, "home"], [/^\/map$/, "map"], [/^\/devices$/, "devices"], [/^\/devices\/([^/]+)$/, "device"],
  [/^\/accounts\/([^/]+)$/, "account"], [/^\/blocks$/, "blocks"], [/^\/blocks\/([^/]+)$/, "block"],
  [/^\/txs\/([^/]+)$/, "tx"], [/^\/epochs$/, "epochs"], [/^\/epochs\/([^/]+)$/, "epoch"],
  [/^\/economy$/, "economy"], [/^\/storage$/, "storage"], [/^\/compute$/, "compute"], [/^\/jobs\/([^/]+)$/, "job"],
];

let generation = 0;

async function render() {
  const my = ++generation;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const view = document.getElementById("view");
  live.listeners.clear();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "/" + path.split("/")[1]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const match = routes.map(([re, name]) => [path.match(re), name]).find(([m]) => m);
  const params = new URLSearchParams(location.search);
  let content;
  try {
    content = match
      ? await views[match[1]](decodeURIComponent(match[0][1] ?? ""), params, () => my === generation)
      : notFound("No such page", `There is no page at ${path}.`);
  } catch (e) {
    content = e instanceof ApiError && (e.status === 404 || e.status === 400)
      ? notFound(e.status === 404 ? "Not found" : "Not a valid id", e.message)
      : h("div", { class: "error", role: "alert" }, h("h1", {}, "Something went wrong"), h("p", {}, e.message));
  }
  if (my !== generation) return;
  view.replaceChildren(content);
  document.title = `${view.querySelector("h1")?.textContent ?? "Trellis"} · Trellis explorer`;
}

export function go(href) {
  history.pushState({}, "", href);
  render();
  window.scrollTo(0, 0);
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest && ev.target.closest("a[href]");
  if (!a || a.target || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/v1/") || url.pathname.endsWith(".json")) return;
  ev.preventDefault();
  go(url.pathname + url.search);
});
window.addEventListener("popstate", render);

/** Search: a device or account address, a block height, or a 64-hex id (tx, then job). */
async function search(q) {
  q = q.trim();
  if (!q) return;
  if (/^trd1/.test(q)) return go(`/devices/${q}`);
  if (/^tr1/.test(q)) return go(`/accounts/${q}`);
  if (/^\d+$/.test(q)) return go(`/blocks/${q}`);
  if (/^[0-9a-f]{64}$/i.test(q)) {
    const tx = await maybe(`/v1/txs/${q}`);
    if (tx && tx.status !== "unknown") return go(`/txs/${q}`);
    if (await maybe(`/v1/jobs/${q}`)) return go(`/jobs/${q}`);
    return go(`/txs/${q}`);
  }
  go(`/devices/${encodeURIComponent(q)}`);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search(document.getElementById("q").value);
  });
  connectLive();
  render();
});
