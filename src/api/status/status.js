// The Cairn status page: polls the node's read-only JSON endpoints and fills in the sections
// of status.html. Each section loads on its own, so an endpoint that fails or does not exist
// marks only its section "unavailable". Text from the node (peer ids, pin names) is always
// set with textContent, never parsed as HTML. Polls never overlap: the next one is scheduled
// when the last has finished, and every request gives up after FETCH_TIMEOUT_MS.
"use strict";

const POLL_MS = 2000;
const FETCH_TIMEOUT_MS = 5000;
// Tables show the first rows only; the counts cover everything.
const MAX_ROWS = 100;
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

function fillRows(tbodyId, items, cells, attrs) {
  const rows = items.slice(0, MAX_ROWS).map((item) => {
    const tr = document.createElement("tr");
    Object.assign(tr.dataset, attrs(item));
    for (const cell of cells(item)) tr.insertCell().textContent = String(cell ?? "");
    return tr;
  });
  $(tbodyId).replaceChildren(...rows);
}

function showMore(id, total) {
  const el = $(id);
  const hidden = Math.max(0, total - MAX_ROWS);
  el.dataset.value = String(hidden);
  el.hidden = hidden === 0;
  el.textContent = `and ${hidden} more`;
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
  showMore("pin-more", pins.length);
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
  showMore("deal-more", deals.length);
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
  setFigure("earned-total", total("earned"));
  setFigure("spent-total", total("spent"));
  setFigure("owed-total", total("owed_to_us"));
  setFigure("owing-total", total("we_owe"));
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
  const cells = (c) => [short(c.id), c.role, short(c.peer), c.state, c.deposit, c.paid,
    c.remaining, c.pending];
  fillRows("channel-list", channels, cells, (c) => ({ channelId: c.id, state: c.state }));
}

// CIDs the keeper keeps at a number of replicas: healthy replicas of those wanted.
async function loadKeeper() {
  const { keeps } = await getJson("/api/v1/keeps");
  setFigure("keep-count", keeps.length);
  countBy("keep-statuses", keeps, "status");
  const cells = (k) => [k.cid, k.status, `${k.healthy} of ${k.policy?.replicas ?? "?"}`,
    k.at_risk, k.shortfall, k.paid];
  fillRows("keep-list", keeps, cells, (k) => ({ keepId: k.id, cid: k.cid, status: k.status }));
  showMore("keep-more", keeps.length);
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
  await Promise.all([...others, proofs]);
  polls += 1;
  setFigure("updated", Date.now(), `Updated ${time(Date.now())}.`);
  $("updated").dataset.polls = String(polls);
  setTimeout(poll, POLL_MS);
}

poll();
