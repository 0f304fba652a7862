// The explorer's pages. Each view takes (id, query params, stillCurrent) and returns an element;
// a thrown ApiError 404/400 becomes the "not found" page (app.js).

import { h, api, maybe, amount, trl, num, bytes, short, when, link, cls, table, cards, live, ApiError } from "/ui/app.js";
import { mapView } from "/ui/map.js";

/** How many epochs (the current one and those before it) pages look back over for earnings,
 *  report verdicts and storage audits. */
const RECENT_EPOCHS = 12;

/** The epochs pages look back over, newest first. */
function recentEpochs(status) {
  const out = [];
  for (let e = status.epoch; e >= 0 && e > status.epoch - RECENT_EPOCHS; e--) out.push(e);
  return out;
}

/** The newest recent epoch for which `path(e)` exists and `keep` accepts the body: [epoch, body],
 *  or null. */
async function newestArchived(status, path, keep = () => true) {
  for (const e of recentEpochs(status)) {
    const body = await maybe(path(e));
    if (body && keep(body)) return [e, body];
  }
  return null;
}

export function notFound(title, message) {
  return h("section", { class: "notfound", role: "alert" },
    h("h1", {}, title),
    h("p", {}, message),
    h("p", {}, h("a", { href: "/" }, "Back to the overview"), " · ", h("a", { href: "/devices" }, "all devices")));
}

function section(title, ...body) {
  return h("section", { "aria-label": title }, h("h2", {}, title), ...body);
}

function kindName(kind) {
  if (typeof kind === "string") return kind;
  return kind ? Object.keys(kind)[0] : "?";
}

function json(value) {
  return h("pre", { class: "mono", style: "white-space: pre-wrap" }, JSON.stringify(value, null, 2));
}

/** Least time between two live re-renders of a view: blocks may come every few milliseconds,
 *  and a re-render costs API requests (and the browser's few connections per host). */
const LIVE_REFRESH_MS = 2000;

/** Re-renders `el`'s content with `build()` on new blocks while the view is shown, at most
 *  once per LIVE_REFRESH_MS and never two at once; the first refresh waits a full interval, so
 *  the view's own first render is not competing with it. */
function liveRefresh(el, build) {
  let busy = false;
  let last = Date.now();
  live.listeners.add(async () => {
    if (busy || Date.now() - last < LIVE_REFRESH_MS) return;
    busy = true;
    try { el.replaceChildren(await build()); } catch { /* keep the last good render */ }
    last = Date.now();
    busy = false;
  });
}

// ---- Overview ------------------------------------------------------------------------------

async function overviewCards() {
  const [status, supply, devices] = await Promise.all([api("/v1/status"), api("/v1/supply"), api("/v1/devices?limit=1000")]);
  const counts = {};
  for (const d of devices.devices) counts[d.class] = (counts[d.class] ?? 0) + 1;
  return cards([
    ["Chain", status.chain_id],
    ["Height", num(status.height), { "data-testid": "height" }],
    ["Epoch", num(status.epoch)],
    ["Circulating", trl(supply.circulating)],
    ["Burned (all time)", trl(supply.supply.burned)],
    ["Devices", `${num(devices.devices.length)}${devices.next ? "+" : ""}`],
    ...Object.entries(counts).sort().map(([c, n]) => [`${c} devices`, num(n)]),
    ["Mempool", num(status.mempool_txs)],
  ]);
}

async function home() {
  const top = h("div", {}, await overviewCards());
  liveRefresh(top, overviewCards);
  const recent = h("div", {}, await blockTable(8));
  liveRefresh(recent, () => blockTable(8));
  return h("div", {},
    h("h1", {}, "Network overview"),
    top,
    section("Where the devices are", await mapView(new URLSearchParams(), { compact: true })),
    section("Latest blocks", recent, h("p", {}, h("a", { href: "/blocks" }, "All blocks →"))));
}

// ---- Devices -------------------------------------------------------------------------------

function deviceRows(list) {
  return list.map((d) => [link.device(d.address), cls(d.class), link.account(d.owner),
    d.location ? h("code", {}, d.location) : h("span", { class: "muted" }, "not asserted"),
    amount(d.stake), d.slash_count ? h("td", { class: "bad" }, `${d.slash_count} (${trl(d.slashed)})`) : "0"]);
}

async function devices(_, params) {
  const q = new URLSearchParams();
  for (const k of ["class", "cell", "after", "owner"]) if (params.get(k)) q.set(k, params.get(k));
  q.set("limit", "100");
  const page = await api(`/v1/devices?${q}`);
  const filters = h("p", {}, "Class: ", ["all", "hotspot", "storage", "compute", "sensor", "energy"].map((c) => [
    h("a", { href: c === "all" ? "/devices" : `/devices?class=${c}`, "aria-current": (params.get("class") ?? "all") === c ? "page" : undefined }, c), " "]));
  const next = page.next ? (() => { const n = new URLSearchParams(q); n.set("after", page.next); n.delete("limit"); return h("p", { class: "pager" }, h("a", { href: `/devices?${n}` }, "Next page →")); })() : null;
  return h("div", {},
    h("h1", {}, params.get("cell") ? `Devices in hex ${params.get("cell")}` : "Devices"),
    filters,
    table(["Device", "Class", "Owner", "Location (H3)", "Stake#", "Slashes"], deviceRows(page.devices), "No devices registered (yet)."),
    next);
}

function factorList(factors) {
  if (!factors || !factors.length) return h("span", { class: "muted" }, "none");
  return h("ul", {}, factors.map(([name, v]) => h("li", {}, h("code", {}, name), ` = ${num(v)}`)));
}

function rejectedList(rejected) {
  const entries = Object.entries(rejected || {});
  if (!entries.length) return h("span", { class: "muted" }, "none");
  return h("ul", {}, entries.map(([why, n]) => h("li", { class: "bad" }, `${why}: ${num(n)}`)));
}

async function earningsSection(address, status) {
  // Each epoch's shares (why) and payouts (how much) of the device.
  const found = (await Promise.all(recentEpochs(status).map(async (e) => [e, await maybe(`/v1/rewards/${e}/devices/${address}`)])))
    .filter(([, b]) => b);
  const rows = [];
  for (const [e, b] of found) {
    for (const s of b.shares) {
      const p = b.payouts.find((x) => x.pool === s.pool);
      rows.push(h("tr", { "data-epoch": e, "data-pool": s.pool, class: "earning" },
        h("td", {}, link.epoch(e)), h("td", {}, s.pool),
        h("td", { class: "num", "data-field": "units" }, num(s.units)),
        h("td", { class: "num", "data-field": "counted" }, num(s.breakdown.counted_reports)),
        h("td", { "data-field": "rejected" }, rejectedList(s.breakdown.rejected_reports)),
        h("td", { "data-field": "factors" }, factorList(s.breakdown.factors)),
        h("td", { class: "num", "data-field": "pool_units" }, p ? num(p.pool_units) : "—"),
        p ? amount(p.pool_amount) : h("td", {}, "—"),
        h("td", { class: "num", "data-field": "share" }, p && Number(p.pool_units) ? `${((100 * Number(p.units)) / Number(p.pool_units)).toFixed(3)} %` : "0 %"),
        amount(p ? p.amount : "0")));
    }
  }
  const total = found.reduce((t, [, b]) => t + b.payouts.reduce((s, p) => s + BigInt(p.amount), 0n), 0n);
  if (!rows.length) {
    return section("Earnings", h("p", { class: "empty" },
      `No reward shares in the last ${RECENT_EPOCHS} epochs. A device earns once an epoch it took part in is settled (see /v1/rewards/{epoch}).`));
  }
  const t = h("table", { id: "earnings" },
    h("thead", {}, h("tr", {}, ["Epoch", "Pool", "Units", "Counted reports", "Rejected reports", "Multipliers", "Pool units", "Pool amount", "Share", "Paid"]
      .map((x, i) => h("th", { scope: "col", class: [2, 3, 6, 7, 8, 9].includes(i) ? "num" : undefined }, x)))),
    h("tbody", {}, rows));
  return section("Earnings",
    h("p", {}, "Paid = floor(pool amount × units ÷ pool units); units come from the counted reports and multipliers. ",
      `Total over these epochs: `, h("strong", { "data-units": total.toString() }, trl(total.toString()))),
    h("div", { class: "table-wrap" }, t));
}

async function reportsSection(address, status) {
  // The newest epoch with archived verdicts for this device.
  const found = await newestArchived(status, (e) => `/v1/rewards/${e}/devices/${address}/reports`, (r) => r.reports.length > 0);
  if (found) {
    const [e, r] = found;
    const invalid = r.reports.filter((x) => !x.verdict.valid).length;
    const rows = r.reports.slice(-200).reverse().map((x) => [
      x.kind, when(x.received_ms),
      x.beaconer ? link.device(x.beaconer) : "—",
      x.rssi_centi_dbm !== undefined ? `${(x.rssi_centi_dbm / 100).toFixed(2)} dBm` : "—",
      x.verdict.valid ? h("td", { class: "good" }, "valid")
        : h("td", { class: "bad verdict-invalid" }, "invalid: ", h("code", { class: "reason" }, String(x.verdict.reason)))]);
    return section(`Recent reports (epoch ${e})`,
      h("p", {}, `${num(r.reports.length)} reports, ${num(invalid)} rejected. Showing the newest 200.`),
      table(["Kind", "Received", "Beaconer", "RSSI", "Verdict"], rows));
  }
  return section("Recent reports", h("p", { class: "empty" }, "No verdicts archived for this device in recent epochs."));
}

async function classSection(address, device, status) {
  if (device.class === "storage") {
    const [providers, audits] = await Promise.all([api("/v1/providers"), latestAudits(status)]);
    const p = providers.providers.find((x) => x.address === address);
    if (p) return section("Storage provider", cards([["Reputation", `${(p.reputation_ppm / 10000).toFixed(2)} %`],
      ["Eligible", p.eligible ? "yes" : "no"], ["Disqualified", p.disqualified ? "yes" : "no"], ["Endpoint", p.endpoint ?? "—"]]),
      audits ? h("div", {}, h("h3", {}, `Audits (epoch ${audits.epoch})`), auditTable(audits, address)) : null);
  }
  if (device.class === "compute") {
    const p = (await api("/v1/compute/providers")).providers.find((x) => x.address === address);
    if (p) return section("Compute provider", cards([["Eligible", p.eligible ? "yes" : "no"], ["Endpoint", p.endpoint ?? "—"],
      ["Slots", p.offer ? num(p.offer.slots) : "no offer"], ["Active jobs", p.offer ? num(p.offer.active) : "—"],
      ["Score", p.offer ? num(p.offer.score) : "—"]]));
  }
  if (device.class === "sensor" || device.class === "energy") return qodSection(address);
  return null;
}

/** A sensor's or meter's quality of data in the newest scored epoch (free catalogue route). */
async function qodSection(address) {
  const r = await maybe(`/data/v1/streams/${encodeURIComponent(address)}`);
  if (!r) return section("Quality of data", h("p", { class: "empty" }, "No readings scored in the newest epoch."));
  const q = r.qod;
  const pct = (ppm) => `${(ppm / 10000).toFixed(1)} %`;
  const centi = (v) => (v === null || v === undefined ? "—" : (v / 100).toFixed(2));
  const flagged = Object.entries(q.flagged).map(([code, n]) => [h("code", { class: "reason" }, code), h("td", { class: "num" }, num(n))]);
  const items = [["Readings", `${num(q.valid)} valid of ${num(q.readings)} (${num(q.expected)} expected)`],
    ["Completeness", pct(q.completeness_ppm)],
    ["Quality of data", pct(q.qod_ppm), { class: q.qod_ppm > 0 ? "card" : "card bad" }],
    ["Device flags", q.device_flags.length ? q.device_flags.join(", ") : "none", { class: q.device_flags.length ? "card bad" : "card" }]];
  if (q.kind === "weather") {
    items.push(["Mean temperature", `${centi(q.mean_temperature_centi_c)} °C`],
      ["Neighbours' median", q.neighbour_median_temperature_centi_c === null ? `— (${num(q.neighbours)} neighbours)` : `${centi(q.neighbour_median_temperature_centi_c)} °C of ${num(q.neighbours)}`]);
  }
  return section(`Quality of data (epoch ${r.epoch})`, h("div", { id: "qod" }, cards(items)),
    table(["Flag", "Readings#"], flagged, "Every reading passed every check."),
    h("p", {}, `The readings themselves are sold for ${r.credits_per_reading} credit each: `, h("code", {}, `trellis data get --device ${address}`)));
}

async function device(address) {
  const [d, locs, status] = await Promise.all([
    api(`/v1/devices/${encodeURIComponent(address)}`), api(`/v1/devices/${encodeURIComponent(address)}/locations`), api("/v1/status")]);
  const dev = d.device;
  const locRows = locs.locations.slice().reverse().map((l) => [h("code", {}, l.location), link.block(l.height),
    l.antenna ? `${l.antenna.gain_dbi_tenths / 10} dBi, ${l.antenna.elevation_m} m` : "—"]);
  const slashRows = d.slashes.map((s) => [link.block(s.height), amount(s.amount), h("td", { class: "bad" }, s.reason), h("code", {}, short(s.evidence))]);
  const [earnings, reports, extra] = await Promise.all([earningsSection(address, status), reportsSection(address, status), classSection(address, dev, status)]);
  return h("div", {},
    h("h1", {}, "Device ", h("span", { class: "mono" }, address)),
    cards([["Class", cls(dev.class)], ["Owner", link.account(dev.owner)], ["Onboarded", link.block(dev.onboarded_height)],
      ["Location", dev.location ? dev.location.location : "not asserted"], ["Stake (collateral)", trl(dev.stake)],
      ["Slashed", trl(dev.slashed), { class: BigInt(dev.slashed) > 0n ? "card bad" : "card" }],
      ["Capabilities", dev.capabilities.map((c) => `${c.name}=${c.value}`).join(", ") || "—"]]),
    extra,
    earnings,
    reports,
    section("Location history", table(["Cell", "Asserted at", "Antenna"], locRows, "No location asserted.")),
    section("Slashes", table(["Height", "Amount#", "Reason", "Evidence"], slashRows, "Never slashed.")));
}

// ---- Accounts ------------------------------------------------------------------------------

async function account(address) {
  const [a, owned, deals, jobs] = await Promise.all([api(`/v1/accounts/${encodeURIComponent(address)}`),
    api(`/v1/accounts/${encodeURIComponent(address)}/devices?limit=1000`),
    api(`/v1/accounts/${encodeURIComponent(address)}/deals`), api(`/v1/accounts/${encodeURIComponent(address)}/jobs`)]);
  const acct = a.account;
  const unbonding = (acct.unbonding || []).map((u) => [amount(u.amount), link.device(u.device), link.block(u.release_height)]);
  return h("div", {},
    h("h1", {}, "Account ", h("span", { class: "mono" }, address)),
    cards([["Balance", trl(acct.balance)], ["Credits", num(acct.credits)], ["Nonce", num(acct.nonce)], ["Devices", num(owned.devices.length)]]),
    section("Devices owned", table(["Device", "Class", "Owner", "Location (H3)", "Stake#", "Slashes"], deviceRows(owned.devices), "This account owns no devices.")),
    unbonding.length ? section("Unbonding", table(["Amount#", "From device", "Released at"], unbonding)) : null,
    section("Storage deals", table(["Deal", "End epoch", "Escrow#"], deals.deals.map((x) => [h("code", {}, short(x.id)), num(x.end_epoch), h("td", { class: "num" }, num(x.deal.escrow))]), "No open storage deals.")),
    section("Compute jobs", table(["Job", "Entry", "Status"], jobs.jobs.map((x) => [link.job(x.id), x.job.spec.entry, jobStatus(x.job.status)]), "No compute jobs.")));
}

// ---- Blocks and transactions ---------------------------------------------------------------

async function blockTable(limit, before) {
  const page = await api(`/v1/blocks?limit=${limit}${before ? `&before=${before}` : ""}`);
  return h("div", {}, table(["Height", "Time", "Txs#", "Hash"], page.blocks.map((b) => [link.block(b.height), when(b.timestamp_ms),
    h("td", { class: "num" }, num(b.tx_count)), h("code", {}, short(b.hash))]), "No blocks."),
  page.next ? h("p", { class: "pager" }, h("a", { href: `/blocks?before=${page.next}` }, "Older →")) : null);
}

async function blocks(_, params) {
  const before = params.get("before");
  const el = h("div", {}, await blockTable(25, before));
  if (!before) liveRefresh(el, () => blockTable(25));
  return h("div", {}, h("h1", {}, "Blocks"), el);
}

async function block(height) {
  if (!/^\d+$/.test(height)) throw new ApiError(400, "invalid_parameter", `\`${height}\` is not a block height`);
  const b = await api(`/v1/blocks/${height}`);
  const rows = b.block.txs.map((tx, i) => {
    const r = b.receipts[i];
    // A receipt is { tx_id, status: "success" | "failed", code?, message? }.
    const ok = r && r.status === "success";
    const outcome = !r ? "—" : ok ? "success" : `failed: ${r.code} (${r.message})`;
    return [link.tx(b.tx_ids[i]), kindName(tx.body.kind), link.account(tx.body.signer), h("td", { class: ok ? "good" : "bad" }, outcome)];
  });
  const hd = b.block.header;
  return h("div", {},
    h("h1", {}, `Block #${num(hd.height)}`),
    cards([["Hash", h("code", {}, b.hash)], ["Time", when(hd.timestamp_ms)], ["Transactions", num(hd.tx_count)],
      ["State root", h("code", {}, hd.state_root)], ["Parent", hd.height > 0 ? link.block(hd.height - 1) : "genesis"]]),
    section("Transactions", table(["Id", "Kind", "Signer", "Outcome"], rows, "No transactions in this block.")),
    h("p", { class: "pager" }, hd.height > 0 ? h("a", { href: `/blocks/${hd.height - 1}` }, "← Previous") : null, " ",
      h("a", { href: `/blocks/${hd.height + 1}` }, "Next →")));
}

async function tx(id) {
  const t = await api(`/v1/txs/${encodeURIComponent(id)}`);
  if (t.status === "unknown") return notFound("Transaction not found", `No transaction ${id} is pending or committed on this node.`);
  return h("div", {},
    h("h1", {}, "Transaction ", h("span", { class: "mono" }, id)),
    cards([["Status", t.status], ["Block", t.height !== undefined ? link.block(t.height) : "—"], ["Position", t.index ?? "—"]]),
    t.status === "rejected" ? h("p", { class: "error" }, `${t.code}: ${t.message}`) : null,
    t.receipt ? section("Receipt", cards([["Outcome", t.receipt.status === "success" ? "success" : `failed: ${t.receipt.code}`],
      ["Message", t.receipt.message ?? "—"]]), json(t.receipt)) : null);
}

// ---- Epochs and the economy ----------------------------------------------------------------

async function epochs() {
  const e = await api("/v1/epochs?limit=100");
  return h("div", {}, h("h1", {}, "Epochs"),
    table(["Epoch", "First block", "Complete", "Minted#", "Burned#", "Claimed#", "Manifest root"], e.epochs.map((x) => [
      link.epoch(x.epoch), link.block(x.first_height), x.complete ? "yes" : "in progress",
      amount(x.minted), amount(x.burned), amount(x.claimed), x.manifest_root ? h("code", {}, short(x.manifest_root)) : "not posted"])));
}

async function epoch(n) {
  if (!/^\d+$/.test(n)) throw new ApiError(400, "invalid_parameter", `\`${n}\` is not an epoch number`);
  const [e, r] = await Promise.all([api(`/v1/epochs/${n}`), maybe(`/v1/rewards/${n}`)]);
  // The API gives pool amounts in the engine's fixed pool order.
  const names = ["coverage", "storage", "compute", "sensor_energy", "operations", "treasury"];
  const pools = r ? (Array.isArray(r.pools) ? r.pools.map((amt, i) => [names[i] ?? `pool ${i}`, amount(amt)]) : Object.entries(r.pools).map(([pool, amt]) => [pool, amount(amt)])) : [];
  const payouts = r ? r.devices.slice().sort((a, b) => (BigInt(b.amount) > BigInt(a.amount) ? 1 : -1)).slice(0, 100)
    .map((p) => [link.device(p.device), p.pool, h("td", { class: "num" }, num(p.units)), amount(p.for_credits ?? "0"), amount(p.amount)]) : [];
  return h("div", {},
    h("h1", {}, `Epoch ${n}`),
    cards([["Blocks", `${num(e.first_height)} – ${num(e.last_height)}`], ["Complete", e.complete ? "yes" : "in progress"],
      ["Burned", trl(e.burned)], ["Emission", r ? trl(r.emission) : "not settled"], ["To treasury", r ? trl(r.to_treasury) : "—"],
      ["Manifest root", e.manifest ? h("code", {}, e.manifest.root) : "not posted"],
      ["Manifest total", e.manifest ? trl(e.manifest.total) : "—"], ["Claimed", e.manifest ? trl(e.manifest.claimed) : "—"],
      ["Archive vs chain", !e.manifest || !r ? "—" : r.manifest.root === e.manifest.root
        ? h("span", { class: "good", id: "audit-status" }, "archived result matches the posted root")
        : h("span", { class: "bad", id: "audit-status" }, `MISMATCH: archive root ${short(r.manifest.root)}`)],
      ["Audit it yourself", h("code", {}, `trellis rewards audit --epoch ${n} --archive <dir>`)]]),
    section("Pools", table(["Pool", "Amount#"], pools, "This node has no archived result for the epoch yet.")),
    section("Top payouts", table(["Device", "Pool", "Units#", "For credits#", "Paid#"], payouts, "No payouts.")),
    section("Credits earned from consumers",
      h("p", { class: "muted" }, e.credit_value
        ? `Paid first from each pool at ${num(e.credit_value.credit_price_micro_usd)} µUSD per credit and ${num(e.credit_value.micro_usd_per_trl)} µUSD per TRL.`
        : "No TRL price on chain for this epoch: credits are not paid in TRL."),
      table(["Device", "Storage deals and egress#", "Compute jobs#"], earnedRows(e), "Nobody earned credits in this epoch."),
      table(["Provider", "Egress bytes#", "Egress credits#"], e.egress.map((x) => [link.device(x.device), h("td", { class: "num" }, num(x.bytes)), h("td", { class: "num" }, num(x.credits))]), "No egress claimed in this epoch.")),
    section("Compute pool",
      h("p", { class: "muted" }, "Units of replay-confirmed work: each confirmed run's credits over the chance it was replayed. The compute pool is shared out by these."),
      h("div", { id: "compute-verified" }, table(["Provider", "Units#"],
        (e.compute_verified ?? []).map((x) => [link.device(x.device), h("td", { class: "num", "data-units": String(x.units) }, num(x.units))]),
        "No replay-confirmed compute work in this epoch."))));
}

/// One row per device that earned credits: storage (deals and egress) and compute side by side.
function earnedRows(e) {
  const rows = new Map();
  for (const s of e.storage_earned) rows.set(s.device, [s.credits, "0"]);
  for (const c of e.compute_earned) rows.set(c.device, [rows.get(c.device)?.[0] ?? "0", c.credits]);
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([d, [storage, compute]]) => [link.device(d), h("td", { class: "num" }, num(storage)), h("td", { class: "num" }, num(compute))]);
}

function chart(rows) {
  // rows oldest first: { epoch, minted, burned } in base units (BigInt).
  const W = 800, H = 240, pad = 40;
  const max = rows.reduce((m, r) => (r.minted > m ? r.minted : r.burned > m ? r.burned : m), 1n);
  const scale = (v) => Number((v * BigInt(H - 2 * pad)) / max);
  const bw = Math.max(2, (W - 2 * pad) / Math.max(rows.length, 1) / 2.4);
  const x = (i) => pad + ((W - 2 * pad) * (i + 0.5)) / Math.max(rows.length, 1);
  const svg = h("svg", { svg: true, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Minted and burned TRL per epoch, with net emission" });
  svg.append(h("line", { svg: true, class: "axis", x1: pad, y1: H - pad, x2: W - pad, y2: H - pad }));
  let cum = 0n, cumMax = 1n, cumMin = 0n;
  const cums = rows.map((r) => { cum += r.minted - r.burned; if (cum > cumMax) cumMax = cum; if (cum < cumMin) cumMin = cum; return cum; });
  rows.forEach((r, i) => {
    svg.append(h("rect", { svg: true, class: "bar-minted", x: x(i) - bw, y: H - pad - scale(r.minted), width: bw, height: scale(r.minted) },
      h("title", { svg: true }, `epoch ${r.epoch}: minted ${trl(r.minted.toString())}`)));
    svg.append(h("rect", { svg: true, class: "bar-burned", x: x(i), y: H - pad - scale(r.burned), width: bw, height: scale(r.burned) },
      h("title", { svg: true }, `epoch ${r.epoch}: burned ${trl(r.burned.toString())}`)));
    if (i % Math.ceil(rows.length / 12) === 0) svg.append(h("text", { svg: true, x: x(i), y: H - pad + 14, "text-anchor": "middle" }, String(r.epoch)));
  });
  const span = cumMax - cumMin || 1n;
  const y = (v) => pad + Number(((cumMax - v) * BigInt(H - 2 * pad)) / span);
  svg.append(h("polyline", { svg: true, class: "line-net", points: cums.map((c, i) => `${x(i)},${y(c)}`).join(" ") },
    h("title", { svg: true }, "cumulative net emission")));
  svg.append(h("text", { svg: true, x: pad, y: 14 }, `bars: minted / burned per epoch (max ${trl(max.toString())}); line: cumulative net emission`));
  return h("figure", { class: "chart" }, svg,
    h("figcaption", { class: "legend" }, h("span", { style: "--c: #3c8d5f" }, "minted"), h("span", { style: "--c: #c2553f" }, "burned"),
      h("span", { style: "--c: #14311f" }, "cumulative net emission")));
}

async function economyBody() {
  const [supply, e] = await Promise.all([api("/v1/supply"), api("/v1/epochs?limit=200")]);
  const rows = e.epochs.slice().reverse().map((x) => ({ epoch: x.epoch, minted: BigInt(x.minted ?? "0"), burned: BigInt(x.burned ?? "0") }));
  const minted = rows.reduce((t, r) => t + r.minted, 0n), burned = rows.reduce((t, r) => t + r.burned, 0n);
  const s = supply.supply;
  return h("div", {},
    cards([["Issued (all time)", trl(s.issued)], ["Burned (all time)", trl(s.burned)], ["Circulating", trl(supply.circulating)],
      ["Credits minted", num(s.credits_minted)], ["Credits spent", num(s.credits_spent)],
      [`Net emission (last ${rows.length} epochs)`, trl((minted - burned).toString())]]),
    rows.length ? chart(rows) : h("p", { class: "empty" }, "No epochs yet."));
}

async function economy() {
  const el = h("div", {}, await economyBody());
  liveRefresh(el, economyBody);
  return h("div", {}, h("h1", {}, "Economy"),
    h("p", {}, "Rewards mint TRL; consumers burn TRL for fixed-price credits. Net emission is minted minus burned."), el);
}

// ---- Storage and compute -------------------------------------------------------------------

/** The newest archived storage audits among the recent epochs (null if none). */
async function latestAudits(status) {
  const found = await newestArchived(status, (e) => `/v1/storage/audits/${e}`);
  return found && found[1];
}

/** An audit verdict: `{ result: "passed" | "not_stored" | "bad_answer" | …, detail? }`. */
function auditVerdict(v) {
  if (v.result === "passed") return h("td", { class: "good" }, "passed");
  return h("td", { class: "bad verdict-invalid" }, h("code", { class: "reason" }, v.result), v.detail ? ` ${v.detail}` : "");
}

function auditTable(a, only) {
  const rows = a.pieces.filter((p) => !only || p.provider === only).map((p) => [h("code", { title: p.deal }, short(p.deal)), num(p.index),
    link.device(p.provider), num(p.chunks.length), auditVerdict(p.verdict)]);
  return table(["Deal", "Piece", "Provider", "Chunks challenged", "Verdict"], rows, "No pieces were due an audit in this epoch.");
}

async function storage() {
  const [p, d, status, moves] = await Promise.all([api("/v1/providers"), api("/v1/deals"), api("/v1/status"), api("/v1/storage/moves")]);
  const audits = await latestAudits(status);
  const cap = (x) => (x.capabilities.find((c) => c.name === "capacity_bytes") || { value: 0 }).value;
  const total = p.providers.reduce((t, x) => t + cap(x), 0);
  return h("div", {}, h("h1", {}, "Storage"),
    cards([["Providers", num(p.providers.length)], ["Declared capacity", bytes(total)], ["Open deals", num(d.total)],
      ["Stored (logical)", bytes(d.deals.reduce((t, x) => t + x.size_bytes, 0))]]),
    section("Providers", table(["Provider", "Capacity", "Reputation#", "Stake#", "Eligible", "Slashed#"], p.providers.map((x) => [
      link.device(x.address), bytes(cap(x)), h("td", { class: "num" }, `${(x.reputation_ppm / 10000).toFixed(2)} %`), amount(x.stake),
      x.disqualified ? h("td", { class: "bad" }, "disqualified") : x.eligible ? "yes" : "no", amount(x.slashed)]), "No storage providers.")),
    section("Open deals", table(["Deal", "Client", "Size", "Coding", "Epochs", "Settled#", "Escrow#", "Paid#"], d.deals.map((x) => [
      h("code", { title: x.id }, short(x.id)), link.account(x.client), bytes(x.size_bytes), `${x.data_shards}+${x.parity_shards}`,
      `${x.start_epoch}–${x.end_epoch}`, h("td", { class: "num" }, num(x.settled_epochs)), h("td", { class: "num" }, num(x.escrow)),
      h("td", { class: "num" }, num(x.paid))]), "No open deals. Store a file with `trellis store put`.")),
    section(`Repairs (piece moves since block ${num(moves.from_height)})`, table(["Block", "Deal", "Piece#", "Moved to", "Transaction"],
      moves.moves.map((m) => [link.block(m.height), h("code", { title: m.deal }, short(m.deal)), h("td", { class: "num" }, num(m.index)),
        link.device(m.provider), link.tx(m.tx_id)]), "No pieces moved in these blocks: every provider kept its pieces.")),
    audits ? section(`Audits (epoch ${audits.epoch})`, h("p", {}, `Challenges drawn from block entropy `, h("code", {}, short(audits.entropy)), ` and the auditor's signature of it`,
      `, ${audits.config.chunks_per_piece} chunks per piece.`), auditTable(audits))
      : section("Audits", h("p", { class: "empty" }, "No storage audits archived on this node in recent epochs.")));
}

/** A job's status (`{ state: "open" | "settled" | "failed", … }` in the API). */
function jobStatus(s) {
  switch (s.state) {
    case "open": return h("span", {}, "open");
    case "settled": return h("span", { class: "good" }, s.verified ? "settled, replay verified" : "settled");
    case "failed": return h("span", { class: "bad" }, "failed: ", h("code", { class: "reason" }, s.reason));
    default: return h("span", {}, String(s.state));
  }
}

async function compute() {
  const [p, j] = await Promise.all([api("/v1/compute/providers"), api("/v1/jobs?limit=200")]);
  return h("div", {}, h("h1", {}, "Compute"),
    cards([["Providers", num(p.providers.length)], ["Slots", num(p.providers.reduce((t, x) => t + (x.offer ? x.offer.slots : 0), 0))],
      ["Jobs on chain", num(j.total)], ["Replay-verified", num(j.jobs.filter((x) => x.status.state === "settled" && x.status.verified).length)]]),
    section("Providers", table(["Provider", "Slots#", "Ask / Gfuel#", "Score#", "Active#", "Stake#", "Eligible"], p.providers.map((x) => [
      link.device(x.address), h("td", { class: "num" }, x.offer ? num(x.offer.slots) : "—"),
      h("td", { class: "num" }, x.offer ? num(x.offer.price_per_gfuel) : "—"), h("td", { class: "num" }, x.offer ? num(x.offer.score) : "—"),
      h("td", { class: "num" }, x.offer ? num(x.offer.active) : "—"), amount(x.stake), x.eligible ? "yes" : "no"]), "No compute providers.")),
    section("Jobs", table(["Job", "Entry", "Posted", "Providers", "Verifications#", "Status"], j.jobs.map((x) => [
      link.job(x.id), h("code", {}, x.entry), link.block(x.posted_height), x.providers.map((d) => [link.device(d), " "]),
      h("td", { class: "num" }, num(x.verifications)), jobStatus(x.status)]), "No jobs yet. Render a frame with `trellis compute render`.")));
}

/** The u32s of a render tile's input header ("TRT1", then width, height, x, y, tile width,
 *  tile height, samples, depth, little-endian). */
function tileHeader(bytes) {
  if (bytes.length < 44 || String.fromCharCode(...bytes.slice(0, 4)) !== "TRT1") return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  const [width, height, x, y, tw, th] = [4, 8, 12, 16, 20, 24].map((o) => v.getUint32(o, true));
  return { width, height, x, y, tw, th };
}

function hexBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A settled render job's tile, read from the provider that ran it (outputs are not on chain):
 *  its run record (whose commitment must be the settled one) and the tile's input header. */
async function renderedTile(id, job) {
  const settled = job.status.state === "settled" ? job.status.commitment : null;
  const run = job.runs.find((r) => r.claim && r.claim.commitment === settled);
  if (job.spec.entry !== "render" || !run) return null;
  const providers = await api("/v1/compute/providers");
  const endpoint = (providers.providers.find((p) => p.address === run.provider) || {}).endpoint;
  if (!endpoint) return h("p", { class: "empty" }, "The provider that ran this tile publishes no endpoint.");
  let record, input;
  try {
    const [r, i] = await Promise.all([fetch(`${endpoint}/v1/jobs/${id}/result`), fetch(`${endpoint}/v1/blobs/${job.spec.input}`)]);
    if (!r.ok || !i.ok) throw new Error(`HTTP ${r.status} / ${i.status}`);
    record = await r.json();
    input = new Uint8Array(await i.arrayBuffer());
  } catch (e) {
    return h("p", { class: "error" }, `The provider at ${endpoint} did not serve the tile (${e.message}).`);
  }
  const head = tileHeader(input);
  if (!head || record.outcome.kind !== "output") return h("p", { class: "empty" }, "The job's input is not a render tile.");
  if (record.commitment !== settled) {
    return h("p", { class: "error" }, `The provider's record commits to ${short(record.commitment)}, not the settled ${short(settled)}: not shown.`);
  }
  const px = hexBytes(record.outcome.bytes);
  if (px.length !== head.tw * head.th * 3) return h("p", { class: "error" }, "The tile's output has the wrong size.");
  const canvas = h("canvas", { id: "tile", width: head.tw, height: head.th, "data-commitment": record.commitment,
    style: `width: ${Math.min(8 * head.tw, 640)}px; image-rendering: pixelated`, role: "img",
    "aria-label": `rendered tile at ${head.x},${head.y}, ${head.tw}×${head.th} pixels` });
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(head.tw, head.th);
  for (let i = 0; i < head.tw * head.th; i++) img.data.set([px[3 * i], px[3 * i + 1], px[3 * i + 2], 255], 4 * i);
  ctx.putImageData(img, 0, 0);
  return h("figure", {}, canvas, h("figcaption", { class: "muted" },
    `Tile at (${head.x}, ${head.y}), ${head.tw}×${head.th} of a ${head.width}×${head.height} frame, as served by `, link.device(run.provider),
    `; its run record commits to the settled commitment `, h("code", {}, short(settled)), "."));
}

async function job(id) {
  const j = await api(`/v1/jobs/${encodeURIComponent(id)}`);
  const job = j.job;
  const tile = await renderedTile(id, job);
  return h("div", {}, h("h1", {}, "Job ", h("span", { class: "mono" }, id)),
    cards([["Client", link.account(job.client)], ["Entry", job.spec.entry], ["Status", jobStatus(job.status)],
      ["Posted", link.block(job.posted_height)], ["Fuel limit", num(job.spec.fuel)], ["Replicas", num(job.spec.replicas)],
      ["Drawn for replay", job.verifications.length ? "yes, replayed" : j.drawn === null || j.drawn === undefined ? "not yet known" : j.drawn ? "yes" : "no"],
      ["Escrow (credits)", num(job.escrow)], ["Paid (credits)", num(job.paid)]]),
    section("Runs", table(["Provider", "Price / Gfuel#", "Commitment", "Fuel used#"], job.runs.map((r) => [link.device(r.provider),
      h("td", { class: "num" }, num(r.price_per_gfuel)), r.claim ? h("code", { title: r.claim.commitment }, short(r.claim.commitment)) : h("span", { class: "muted" }, "not committed"),
      h("td", { class: "num" }, r.claim ? num(r.claim.fuel_used) : "—")]))),
    section("Verification", table(["Verifier", "Commitment", "Fuel used#"], job.verifications.map(([v, c]) => [link.device(v),
      h("code", { title: c.commitment }, short(c.commitment)), h("td", { class: "num" }, num(c.fuel_used))]), "Not replayed (yet).")),
    tile ? section("Rendered tile", tile) : null);
}

export const views = {
  home, map: (_, params) => mapView(params, {}).then((m) => h("div", {}, h("h1", {}, "Map"), m)),
  devices, device, account, blocks, block, tx, epochs, epoch, economy, storage, compute, job,
};
