// The Cairn status page: polls the node's read-only JSON endpoints and fills in the sections
// of status.html. Each section loads on its own, so an endpoint that fails or does not exist
// marks only its section "unavailable". Text from the node (peer ids, pin names) is always
// set with textContent, never parsed as HTML. Polls never overlap: the next one is scheduled
// when the last has finished, and every request gives up after FETCH_TIMEOUT_MS.
"use strict";

const POLL_MS = 2000;
const FETCH_TIMEOUT_MS = 5000;
const PAGE_ROWS = 10;
const UNIT = "base units";
const MAX_BARS = 8;
const PASSED = new Set(["passed", "answered"]);
const SVG_NS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

async function getJson(path) {
  const signal = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const response = await fetch(path, { cache: "no-store", signal });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

function bytes(value) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  const n = Number(value) || 0;
  const i = Math.max(0, Math.min(units.length - 1, Math.floor(Math.log2(n) / 10)));
  return i === 0 ? `${n} B` : `${(n / 1024 ** i).toFixed(1)} ${units[i]}`;
}

const time = (ms) =>
  ms ? new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19) : "";

const short = (s = "") => (s.length > 20 ? `${s.slice(0, 8)}…${s.slice(-6)}` : s);

const amount = (v) => Number(v ?? 0);
// An amount as shown: with its unit.
const money = (v) => `${amount(v)} ${UNIT}`;
const percent = (r) => (r === null || r === undefined ? "-" : `${(r * 100).toFixed(1)} %`);

function duration(ms) {
  const s = Math.floor(Number(ms) / 1000);
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

// Sets a figure's text and its raw value (data-value), which is what tests read.
function setFigure(id, value, text) {
  const el = $(id);
  el.dataset.value = value === null || value === undefined ? "" : String(value);
  el.textContent = text === undefined ? String(value) : text;
}

function setStatus(sectionId, status, why) {
  const section = $(sectionId);
  section.dataset.status = status;
  section.querySelector(".unavailable").textContent =
    status === "unavailable" ? `unavailable (${why})` : "";
}

// Tables show one page of PAGE_ROWS rows at a time, with a pager under them; the counts
// cover everything. The page shown survives each poll (clamped when the rows shrink). Each
// cell carries its column's name (data-label), which narrow screens show beside it.
const pages = new Map();

function fillRows(tbodyId, items, cells, attrs) {
  const tbody = $(tbodyId);
  const heads = [...(tbody.closest("table")?.querySelectorAll("thead th") ?? [])];
  const names = heads.map((th) => th.textContent);
  const count = Math.max(1, Math.ceil(items.length / PAGE_ROWS));
  const page = Math.min(pages.get(tbodyId) ?? 1, count);
  pages.set(tbodyId, page);
  const rows = items.slice((page - 1) * PAGE_ROWS, page * PAGE_ROWS).map((item) => {
    const tr = document.createElement("tr");
    Object.assign(tr.dataset, attrs(item));
    cells(item).forEach((cell, i) => {
      const td = tr.insertCell();
      td.textContent = String(cell ?? "");
      if (names[i]) td.dataset.label = names[i];
    });
    return tr;
  });
  tbody.replaceChildren(...rows);
  drawPager(tbodyId, page, count, items.length, () => fillRows(tbodyId, items, cells, attrs));
}

function drawPager(tbodyId, page, count, total, redraw) {
  const nav = $(`${tbodyId}-pager`);
  if (!nav) return;
  nav.dataset.value = String(count);
  nav.dataset.page = String(page);
  nav.dataset.rows = String(total);
  nav.hidden = count <= 1;
  const button = (text, to, disabled) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.disabled = disabled;
    b.addEventListener("click", () => {
      pages.set(tbodyId, to);
      redraw();
    });
    return b;
  };
  const where = document.createElement("span");
  where.textContent = `page ${page} of ${count} (${total} rows)`;
  nav.replaceChildren(button("‹ prev", page - 1, page <= 1), where,
    button("next ›", page + 1, page >= count));
}

function listItem(text, attrs = {}) {
  const li = document.createElement("li");
  Object.assign(li.dataset, attrs);
  li.textContent = text;
  return li;
}

// One chip per distinct value of `key`, with its count: `data-<key>` and `data-value`.
function countBy(ulId, items, key) {
  const counts = new Map();
  for (const item of items) counts.set(item[key], (counts.get(item[key]) ?? 0) + 1);
  const chip = ([k, n]) => listItem(`${k}: ${n}`, { [key]: k, value: String(n) });
  $(ulId).replaceChildren(...[...counts.entries()].sort().map(chip));
}

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

const label = (x, y, text, anchor = "start") =>
  svgEl("text", { x, y, "text-anchor": anchor, class: "label" }, text);

async function loadNode() {
  const id = await getJson("/api/v1/id");
  setFigure("node-id", id.id);
  setFigure("node-agent", id.agent ?? "");
  setFigure("node-gateway", id.gateway ?? "", id.gateway ?? "none");
  const addresses = id.addresses ?? [];
  setFigure("address-count", addresses.length);
  $("node-addresses").replaceChildren(...addresses.map((a) => listItem(a, { addr: a })));
}

async function loadPeers() {
  const { peers } = await getJson("/api/v1/swarm/peers");
  setFigure("peer-count", new Set(peers.map((p) => p.id)).size);
  fillRows("peer-list", peers, (p) => [p.id, p.addr], (p) => ({ peer: p.id }));
}

async function loadPins() {
  const { pins } = await getJson("/api/v1/pins");
  setFigure("pin-count", pins.length);
  const cells = (p) => [p.cid, p.name ?? "", time(p.created_at)];
  fillRows("pin-list", pins, cells, (p) => ({ cid: p.cid }));
}

async function loadCapacity() {
  const { storage, provider } = await getJson("/api/v1/status");
  setFigure("stored-bytes", storage.stored_bytes, bytes(storage.stored_bytes));
  const blocks = storage.blocks;
  setFigure("stored-blocks", blocks, `${blocks} block${blocks === 1 ? "" : "s"}`);
  const quota = storage.quota_bytes;
  setFigure("quota-bytes", quota ?? "", quota == null ? "none" : bytes(quota));
  const meter = $("capacity-meter");
  if (provider) {
    setFigure("capacity-offered", provider.offered, bytes(provider.offered));
    setFigure("capacity-used", provider.reserved, bytes(provider.reserved));
    setFigure("capacity-free", provider.free, bytes(provider.free));
    meter.value = provider.offered > 0 ? provider.reserved / provider.offered : 0;
  } else {
    setFigure("capacity-offered", "", "not a provider");
    setFigure("capacity-used", "", "-");
    setFigure("capacity-free", "", "-");
    meter.value = 0;
  }
  meter.dataset.value = String(meter.value);
}

async function loadDeals() {
  const [client, provider] = await Promise.all([
    getJson("/api/v1/deals?role=client"),
    getJson("/api/v1/deals?role=provider"),
  ]);
  const deals = [...client.deals, ...provider.deals].sort((a, b) => b.updated_at - a.updated_at);
  setFigure("deal-count", deals.length);
  countBy("deal-states", deals, "state");
  const cells = (d) => [short(d.id), d.role, short(d.peer), d.state, bytes(d.piece_size),
    d.proofs_passed, d.proofs_failed];
  fillRows("deal-list", deals, cells, (d) => ({ dealId: d.id, role: d.role, state: d.state }));
  return deals;
}

// Passed and failed challenges, counted up over time: as a client this node's challenges to
// its providers, as a provider the challenges it answered. The chart draws the challenges the
// deals list (at most 100 per deal); the figures are the database's totals (`totals`, from
// /api/v1/status), so they never freeze at that cap.
function drawProofs(deals, totals) {
  const unique = new Map();
  for (const d of deals) {
    for (const c of d.challenges ?? []) unique.set(`${c.role}/${c.peer}/${c.id}`, c);
  }
  const challenges = [...unique.values()].sort((a, b) => a.issued_at - b.issued_at);
  let [passed, failed] = [0, 0];
  const points = challenges.map((c) => {
    if (PASSED.has(c.outcome)) passed += 1;
    else failed += 1;
    return { t: c.issued_at, passed, failed };
  });
  setFigure("proofs-passed", totals?.passed ?? passed);
  setFigure("proofs-failed", totals?.failed ?? failed);

  const svg = $("proof-chart");
  svg.dataset.points = String(points.length);
  const [W, H, L, R, T, B] = [600, 160, 36, 10, 10, 22];
  const kids = [svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" })];
  if (points.length === 0) {
    svg.replaceChildren(...kids, label(W / 2, H / 2, "no challenges yet", "middle"));
    return;
  }
  const t0 = points[0].t;
  const t1 = Math.max(Date.now(), points[points.length - 1].t, t0 + 1);
  // The lines run on, flat, from the last challenge to now.
  points.push({ t: t1, passed, failed });
  const top = Math.max(1, passed, failed);
  const x = (t) => (L + ((t - t0) / (t1 - t0)) * (W - L - R)).toFixed(1);
  const y = (v) => (H - B - (v / top) * (H - T - B)).toFixed(1);
  // Steps: each challenge lifts its line where it was issued.
  for (const [series, cls] of [["passed", "pass"], ["failed", "fail"]]) {
    const before = (i) => (i ? points[i - 1][series] : 0);
    const step = (p, i) => `${x(p.t)},${y(before(i))} ${x(p.t)},${y(p[series])}`;
    const line = points.map(step).join(" ");
    kids.push(svgEl("polyline", { points: line, class: `line ${cls}`, "data-series": series }));
  }
  kids.push(
    label(L - 4, T + 4, String(top), "end"),
    label(L - 4, H - B, "0", "end"),
    label(L, H - 4, time(t0)),
    label(W - R, H - 4, "now", "end"),
  );
  svg.replaceChildren(...kids);
}

async function loadEarnings() {
  const { peers } = await getJson("/api/v1/pay/balance");
  const total = (key) => peers.reduce((sum, p) => sum + amount(p[key]), 0);
  setFigure("earned-total", total("earned"), money(total("earned")));
  setFigure("spent-total", total("spent"), money(total("spent")));
  setFigure("owed-total", total("owed_to_us"), money(total("owed_to_us")));
  setFigure("owing-total", total("we_owe"), money(total("we_owe")));
  drawBars(peers);
}

// Earned (upper bar) and spent (lower bar) per peer, the busiest peers first.
function drawBars(peers) {
  const svg = $("earnings-chart");
  svg.dataset.peers = String(peers.length);
  const volume = (p) => amount(p.earned) + amount(p.spent);
  const rows = [...peers].sort((a, b) => volume(b) - volume(a)).slice(0, MAX_BARS);
  const [W, L, R, ROW, T] = [600, 130, 10, 26, 6];
  const H = Math.max(40, 2 * T + rows.length * ROW);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (rows.length === 0) {
    svg.replaceChildren(label(W / 2, H / 2, "no payments yet", "middle"));
    return;
  }
  const top = Math.max(1, ...rows.flatMap((p) => [amount(p.earned), amount(p.spent)]));
  const width = (v) => ((amount(v) / top) * (W - L - R)).toFixed(1);
  const kids = [];
  rows.forEach((p, i) => {
    const y = T + i * ROW;
    kids.push(
      label(L - 6, y + 15, short(p.peer), "end"),
      svgEl("rect", { x: L, y, width: width(p.earned), height: 10, class: "bar pass",
        "data-peer": p.peer, "data-earned": amount(p.earned) }),
      svgEl("rect", { x: L, y: y + 11, width: width(p.spent), height: 10, class: "bar fail",
        "data-peer": p.peer, "data-spent": amount(p.spent) }),
    );
  });
  svg.replaceChildren(...kids);
}

async function loadChannels() {
  const { channels } = await getJson("/api/v1/pay/channels");
  setFigure("channel-count", channels.length);
  const cells = (c) => [short(c.id), c.role, short(c.peer), c.state, money(c.deposit),
    money(c.paid), money(c.remaining), money(c.pending)];
  fillRows("channel-list", channels, cells, (c) => ({ channelId: c.id, state: c.state }));
}

// CIDs the keeper keeps at a number of replicas: healthy replicas of those wanted.
async function loadKeeper() {
  const { keeps } = await getJson("/api/v1/keeps");
  setFigure("keep-count", keeps.length);
  countBy("keep-statuses", keeps, "status");
  const cells = (k) => [k.name ?? "", k.id, short(k.cid), k.status, `${k.healthy} of ${k.policy?.replicas ?? "?"}`,
    k.at_risk, k.shortfall, money(k.paid)];
  fillRows("keep-list", keeps, cells, (k) => ({ keepId: k.id, cid: k.cid, status: k.status }));
  drawScores(keeps);
}

// The dashboard's series (/api/v1/status/history): one request per poll feeds the overview,
// earnings, payouts, bandwidth, disk and spending sections. Every figure is the node's own
// database total; the page only draws them.
const HISTORY_DAYS = 30;

function sumOf(series, key) {
  return series.reduce((sum, d) => sum + amount(d[key]), 0);
}

function thisMonth(history) {
  const month = history.months[history.months.length - 1];
  return month ?? { earned: 0, spent: 0 };
}

async function loadOverview(history, ask) {
  const n = history.node;
  setFigure("node-online", n.online, n.online ? "online" : "offline");
  $("node-online").className = n.online ? "pass" : "fail";
  setFigure("node-peers", n.peers ?? "", n.peers == null ? "network stopped" :
    `${n.peers} peer${n.peers === 1 ? "" : "s"}`);
  setFigure("node-uptime", n.uptime_ms ?? "", n.uptime_ms == null ? "-" : duration(n.uptime_ms));
  if (ask) {
    setFigure("ask-price", ask.price_per_gib_month,
      `${ask.price_per_gib_month} ${UNIT} per GiB-month, ${bytes(ask.free_capacity)} free to deals`);
    setFigure("ask-retrieval", ask.retrieval_price_per_gib ?? 0,
      `${ask.retrieval_price_per_gib ?? 0} ${UNIT} per GiB`);
  } else {
    setFigure("ask-price", "", "not a provider");
    setFigure("ask-retrieval", "", "-");
  }
  const p = history.provider;
  setFigure("provider-pass-rate", p.pass_rate ?? "", percent(p.pass_rate));
  setFigure("provider-uptime", p.uptime ?? "", p.uptime == null ? "no challenges yet" :
    `${percent(p.uptime)} (${p.hours_answered} of ${p.hours} hours answered)`);
  setFigure("provider-answered", history.totals.answered);
  setFigure("provider-rejected", history.totals.rejected);
}

function loadIncome(history) {
  const today = history.series[history.series.length - 1] ?? {};
  setFigure("earned-today", amount(today.earned), money(today.earned));
  setFigure("earned-month", thisMonth(history).earned, money(thisMonth(history).earned));
  setFigure("earned-all", history.totals.earned, money(history.totals.earned));
  drawDays("earned-chart", history.series, [["earned", "pass"]], money);
  const months = [...history.months].reverse();
  fillRows("month-list", months, (m) => [m.month, money(m.earned), money(m.spent)],
    (m) => ({ month: m.month, earned: String(m.earned), spent: String(m.spent) }));
}

function loadSpending(history) {
  const today = history.series[history.series.length - 1] ?? {};
  setFigure("spent-today", amount(today.spent), money(today.spent));
  setFigure("spent-month", thisMonth(history).spent, money(thisMonth(history).spent));
  setFigure("spent-all", history.totals.spent, money(history.totals.spent));
  drawDays("spent-chart", history.series, [["spent", "fail"]], money);
}

function loadPayouts(history) {
  const p = history.payouts;
  setFigure("payout-count", p.count);
  setFigure("payout-kind", p.kind, p.kind === "claim" ? "Claims on chain" : "Ledger settlements");
  setFigure("payout-total", p.total, money(p.total));
  const cells = (x) => [time(x.at), x.kind, short(x.channel), money(x.amount), short(x.tx ?? "")];
  fillRows("payout-list", p.recent, cells, (x) => ({ channelId: x.channel, amount: String(x.amount) }));
}

function loadBandwidth(history) {
  const today = history.series[history.series.length - 1] ?? {};
  setFigure("bytes-in-today", amount(today.bytes_in), bytes(today.bytes_in));
  setFigure("bytes-out-today", amount(today.bytes_out), bytes(today.bytes_out));
  setFigure("bytes-in-all", history.totals.bytes_in, bytes(history.totals.bytes_in));
  setFigure("bytes-out-all", history.totals.bytes_out, bytes(history.totals.bytes_out));
  drawDays("bandwidth-chart", history.series, [["bytes_in", "pass"], ["bytes_out", "fail"]], bytes);
}

function loadDisk(history) {
  const n = history.node;
  setFigure("disk-used", n.disk_used, bytes(n.disk_used));
  setFigure("disk-free", n.disk_free ?? "", n.disk_free == null ? "not a local disk" : bytes(n.disk_free));
  setFigure("disk-capacity", n.capacity ?? "", n.capacity == null ? "not a provider" : bytes(n.capacity));
  drawDisk(history.series, n);
}

// Bars per day, one per key side by side; each bar carries data-day and data-<key>.
function drawDays(svgId, series, keys, format) {
  const svg = $(svgId);
  svg.dataset.days = String(series.length);
  const [W, H, L, R, T, B] = [600, 160, 24, 10, 10, 22];
  const top = Math.max(1, ...series.flatMap((d) => keys.map(([k]) => amount(d[k]))));
  const slot = (W - L - R) / Math.max(1, series.length);
  const bar = Math.max(1, (slot - 2) / keys.length);
  const kids = [svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" })];
  series.forEach((d, i) => {
    keys.forEach(([key, cls], j) => {
      const h = (amount(d[key]) / top) * (H - T - B);
      kids.push(svgEl("rect", { x: (L + i * slot + j * bar).toFixed(1), y: (H - B - h).toFixed(1),
        width: bar.toFixed(1), height: h.toFixed(1), class: `bar ${cls}`, "data-day": d.date,
        [`data-${key.replace("_", "-")}`]: amount(d[key]) }));
    });
  });
  kids.push(
    label(L + 4, T + 8, format(top)),
    label(L - 4, H - B, "0", "end"),
    label(L, H - 4, series[0]?.date ?? ""),
    label(W - R, H - 4, series[series.length - 1]?.date ?? "", "end"),
  );
  svg.replaceChildren(...kids);
}

// Disk used per day against the capacity offered and the disk (used + free), as lines over
// the days that have a sample; today's point is the live figure.
function drawDisk(series, now) {
  const svg = $("disk-chart");
  const days = series.map((d) => ({ ...d }));
  const last = days[days.length - 1];
  if (last) Object.assign(last, { disk_used: now.disk_used, disk_free: now.disk_free,
    capacity: now.capacity });
  const sampled = days.map((d, i) => ({ ...d, i })).filter((d) => d.disk_used != null);
  svg.dataset.days = String(sampled.length);
  const [W, H, L, R, T, B] = [600, 160, 24, 10, 10, 22];
  const disk = (d) => (d.disk_free == null ? null : amount(d.disk_used) + amount(d.disk_free));
  const top = Math.max(1, ...sampled.flatMap((d) => [amount(d.disk_used), amount(d.capacity),
    disk(d) ?? 0]));
  const x = (i) => (L + (i / Math.max(1, days.length - 1)) * (W - L - R)).toFixed(1);
  const y = (v) => (H - B - (v / top) * (H - T - B)).toFixed(1);
  const kids = [svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" })];
  for (const [series_, cls, value] of [["used", "pass", (d) => amount(d.disk_used)],
    ["capacity", "cap", (d) => (d.capacity == null ? null : amount(d.capacity))],
    ["disk", "fail", disk]]) {
    const known = sampled.filter((d) => value(d) != null);
    // A single day's sample is drawn across the chart, as a level.
    const points = known.length === 1 ? [`${L},${y(value(known[0]))}`, `${W - R},${y(value(known[0]))}`]
      : known.map((d) => `${x(d.i)},${y(value(d))}`);
    if (points.length) {
      kids.push(svgEl("polyline", { points: points.join(" "), class: `line ${cls}`,
        "data-series": series_ }));
    }
  }
  kids.push(
    label(L + 4, T + 8, bytes(top)),
    label(L - 4, H - B, "0", "end"),
    label(L, H - 4, days[0]?.date ?? ""),
    label(W - R, H - 4, series[series.length - 1]?.date ?? "", "end"),
  );
  svg.replaceChildren(...kids);
}

// Each provider once, with the score the keeper gives it (its best across keeps' replicas).
function drawScores(keeps) {
  const best = new Map();
  for (const k of keeps) {
    for (const r of [...(k.providers ?? []), ...(k.slots ?? [])]) {
      if (!r.peer || !r.score) continue;
      const seen = best.get(r.peer);
      if (!seen || r.score.value > seen.value) best.set(r.peer, r.score);
    }
  }
  const scores = [...best.entries()].sort((a, b) => b[1].value - a[1].value);
  setFigure("score-count", scores.length);
  const cells = ([peer, s]) => [short(peer), s.value.toFixed(2), percent(s.pass_rate),
    percent(s.uptime), s.challenges];
  fillRows("score-list", scores, cells, ([peer, s]) => ({ peer, score: String(s.value) }));
  setStatus("scores", "ok");
}

async function pollHistory() {
  const history = guard("overview", async () => {
    const [h, ask] = await Promise.all([
      getJson(`/api/v1/status/history?days=${HISTORY_DAYS}`),
      getJson("/api/v1/provider/ask").catch(() => null),
    ]);
    await loadOverview(h, ask);
    return h;
  });
  const parts = { income: loadIncome, spending: loadSpending, payouts: loadPayouts,
    bandwidth: loadBandwidth, disk: loadDisk };
  return Promise.all(Object.entries(parts).map(([id, load]) =>
    history.then((h) => guard(id, async () => {
      if (!h) throw new Error("history unavailable");
      load(h);
    }))));
}

// What sticks out furthest to the right, when something does (for whoever debugs a layout).
function widest() {
  let [far, what] = [0, ""];
  for (const el of document.body.querySelectorAll("*")) {
    const right = el.getBoundingClientRect().right;
    if (right > far) [far, what] = [right, `${el.tagName.toLowerCase()}#${el.id}.${el.className}`];
  }
  return `${what} ${Math.round(far)}`;
}

async function guard(sectionId, load) {
  try {
    const result = await load();
    setStatus(sectionId, "ok");
    return result;
  } catch (e) {
    setStatus(sectionId, "unavailable", e.message);
    return null;
  }
}

const SECTIONS = { node: loadNode, peers: loadPeers, pins: loadPins, capacity: loadCapacity,
  keeper: loadKeeper, earnings: loadEarnings, channels: loadChannels };

let polls = 0;

async function poll() {
  const deals = guard("deals", loadDeals);
  const proofs = deals.then((list) =>
    guard("proofs", async () => {
      if (!list) throw new Error("deals unavailable");
      const { proofs: totals } = await getJson("/api/v1/status");
      drawProofs(list, totals);
    }),
  );
  const others = Object.entries(SECTIONS).map(([id, load]) => guard(id, load));
  await Promise.all([...others, proofs, pollHistory()]);
  // What a test reads to check nothing overflows sideways (the page at 420 px).
  const width = document.documentElement.scrollWidth;
  $("updated").dataset.scrollWidth = String(width);
  $("updated").dataset.viewport = String(window.innerWidth);
  $("updated").dataset.widest = width > window.innerWidth ? widest() : "";
  polls += 1;
  setFigure("updated", Date.now(), `Updated ${time(Date.now())}.`);
  $("updated").dataset.polls = String(polls);
  setTimeout(poll, POLL_MS);
}

poll();
