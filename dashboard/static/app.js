// DatDot dashboard: reads the chain through its public REST and RPC
// endpoints (as any block explorer would) and the local gateway's buckets
// through the devnet's /gateway/buckets. No build step, no dependencies.
'use strict';

const POLL_MS = 2000;
const MAX_ORDERS_SHOWN = 20;
const MAX_EVENTS = 200;
const EVENT_WINDOW = 400; // blocks read back at the first load
const SERIES_KEY = 'datdot-dashboard-series';

const state = {
  ep: null,            // /devnet.json
  height: 0,
  lastEventHeight: 0,
  maxOrder: 0,
  orders: new Map(),   // id -> QueryOrderResponse
  series: loadSeries(),
};

const $ = (s) => document.querySelector(s);

function loadSeries() {
  try { return JSON.parse(sessionStorage.getItem(SERIES_KEY)) || []; } catch { return []; }
}

async function getJSON(url) {
  const r = await fetch(url, { cache: 'no-store' });
  if (!r.ok) { const e = new Error(url + ': HTTP ' + r.status); e.status = r.status; throw e; }
  return r.json();
}

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
function short(addr) { return addr ? addr.slice(0, 10) + '…' + addr.slice(-4) : ''; }
function bytes(n) {
  n = Number(n || 0);
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
function dot(udot) {
  const n = BigInt(udot || 0);
  if (n > 0n && n < 1000n) return n.toString() + ' udot';
  const whole = n / 1000000n, frac = (n % 1000000n).toString().padStart(6, '0').replace(/0+$/, '');
  return whole.toLocaleString('en') + (frac ? '.' + frac.slice(0, 3) : '') + ' DOT';
}
function status(s) { return String(s || '').replace(/^(HOSTER|ORDER)_STATUS_/, ''); }

// ---- chain reads --------------------------------------------------------

async function readStatus() {
  const st = await getJSON(state.ep.rpc + '/status');
  const info = st.result.sync_info;
  const h = Number(info.latest_block_height);
  const t = new Date(info.latest_block_time);
  if (state.prevBlock && h > state.prevBlock.h) {
    const ms = (t - state.prevBlock.t) / (h - state.prevBlock.h);
    $('#block-time').textContent = '~' + Math.round(ms) + ' ms/block';
  }
  if (!state.prevBlock || h - state.prevBlock.h > 20) state.prevBlock = { h, t };
  state.height = h;
  $('#height').textContent = h.toLocaleString('en');
}

async function readHosters() {
  const all = [];
  let key = '';
  do {
    const q = new URLSearchParams({ 'pagination.limit': '200' });
    if (key) q.set('pagination.key', key);
    const r = await getJSON(state.ep.rest + '/datdot/storage/v1/hosters?' + q);
    all.push(...(r.hosters || []));
    key = r.pagination && r.pagination.next_key;
  } while (key);
  // Reputation lives in x/attest when the chain has it.
  await Promise.all(all.map(async (h) => {
    try {
      const r = await getJSON(state.ep.rest + '/datdot/attest/v1/hosters/' + h.address + '/record');
      h.reputation = (r.record || {}).reputation;
    } catch { /* chain without x/attest, or no record yet */ }
  }));
  return all;
}

// Orders have sequential ids: find new ones by probing upward, then refresh
// the latest few.
async function readOrders() {
  for (let probes = 0; probes < 50; probes++) {
    try {
      const r = await getJSON(state.ep.rest + '/datdot/storage/v1/orders/' + (state.maxOrder + 1));
      state.maxOrder++;
      state.orders.set(state.maxOrder, r);
    } catch (e) {
      if (e.status === 404 || e.status === 400 || e.status === 500) break;
      throw e;
    }
  }
  const ids = [];
  for (let id = state.maxOrder; id > 0 && ids.length < MAX_ORDERS_SHOWN; id--) ids.push(id);
  await Promise.all(ids.map(async (id) => {
    try { state.orders.set(id, await getJSON(state.ep.rest + '/datdot/storage/v1/orders/' + id)); } catch { }
  }));
  return ids.map((id) => state.orders.get(id)).filter(Boolean);
}

// Events of new blocks (transactions and begin/end block), from CometBFT's
// block_results: typed events of the datdot modules only.
async function readEvents() {
  const from = Math.max(state.lastEventHeight + 1, state.height - EVENT_WINDOW + 1, 1);
  const found = [];
  for (let start = from; start <= state.height; start += 20) {
    const hs = [];
    for (let h = start; h < start + 20 && h <= state.height; h++) hs.push(h);
    const results = await Promise.all(hs.map((h) => getJSON(state.ep.rpc + '/block_results?height=' + h)));
    results.forEach((r, i) => {
      const res = r.result || {};
      const evs = [...(res.finalize_block_events || [])];
      for (const tx of res.txs_results || []) evs.push(...(tx.events || []));
      for (const e of evs) {
        if (!e.type.startsWith('datdot.')) continue;
        const attrs = {};
        for (const a of e.attributes || []) {
          if (a.key === 'mode' || a.key === 'msg_index') continue;
          let v = a.value;
          try { v = JSON.parse(v); } catch { }
          attrs[a.key] = v;
        }
        found.push({ height: hs[i], type: e.type, attrs });
      }
    });
    state.lastEventHeight = hs[hs.length - 1];
  }
  return found;
}

// ---- rendering ----------------------------------------------------------

function renderHosters(hosters) {
  const active = hosters.filter((h) => status(h.status) === 'ACTIVE').length;
  $('#n-hosters').textContent = hosters.length;
  $('#n-hosters-active').textContent = active + ' active';
  let cap = 0, used = 0, passes = 0, faults = 0;
  for (const h of hosters) { cap += Number(h.capacity); used += Number(h.used); passes += Number(h.passes || 0); faults += Number(h.faults || 0); }
  $('#stored').textContent = bytes(used);
  $('#capacity').textContent = 'of ' + bytes(cap) + ' offered';
  $('#challenges').textContent = (passes + faults).toLocaleString('en');
  $('#challenges-sub').textContent = passes + ' passed · ' + faults + ' failed';
  const tb = $('#hosters tbody');
  if (!hosters.length) { tb.innerHTML = '<tr class="empty"><td colspan="11">no hoster registered yet</td></tr>'; return { used, passes, faults }; }
  tb.innerHTML = hosters.map((h) => `<tr data-address="${esc(h.address)}">
    <td class="mono" title="${esc(h.address)}">${esc(short(h.address))}</td>
    <td><span class="st ${esc(status(h.status))}">${esc(status(h.status))}</span></td>
    <td>${esc(h.region)}</td><td class="mono">${esc(h.endpoint)}</td>
    <td class="num">${esc(dot(h.stake))}</td><td class="num">${esc(bytes(h.capacity))}</td><td class="num">${esc(bytes(h.used))}</td>
    <td class="num">${esc(h.assignments || 0)}</td><td class="num">${esc(h.passes || 0)}</td><td class="num">${esc(h.faults || 0)}</td>
    <td class="num">${h.reputation === undefined ? '—' : esc(h.reputation)}</td></tr>`).join('');
  return { used, passes, faults };
}

function renderOrders(orders) {
  $('#n-orders').textContent = state.maxOrder;
  $('#n-orders-active').textContent = orders.filter((o) => status(o.order.status) === 'ACTIVE').length + ' active of the latest ' + orders.length;
  let paid = 0n, escrow = 0n;
  for (const o of state.orders.values()) { paid += BigInt(o.order.paid || 0); escrow += BigInt(o.order.escrow || 0); }
  $('#paid').textContent = dot(paid);
  $('#escrow').textContent = dot(escrow) + ' in escrow';
  const tb = $('#orders tbody');
  if (!orders.length) { tb.innerHTML = '<tr class="empty"><td colspan="9">no order yet</td></tr>'; return; }
  tb.innerHTML = orders.map(({ order: o, assignments, accrued }) => {
    const size = (o.cores || []).reduce((s, c) => s + Number(c.byte_length || 0), 0);
    const shape = Number(o.erasure_n) > 0 ? `erasure ${o.erasure_k}-of-${o.erasure_n}` : `${(o.cores || []).length} core × ${o.replicas} replicas`;
    const slots = (assignments || []).map(({ assignment: a }) =>
      `<span class="slot" title="core ${esc(a.core_index)} replica ${esc(a.replica)} · ${esc(a.hoster)}">#${esc(a.core_index)}.${esc(a.replica)} <span class="mono">${esc(short(a.hoster))}</span> · ${esc(a.committed_length || 0)} · ${esc(a.passes || 0)}/${esc(a.faults || 0)}</span>`).join('');
    const gw = state.ep.gateway_account && o.owner === state.ep.gateway_account;
    return `<tr data-order="${esc(o.id)}"${gw ? ' data-gateway="1" class="gw"' : ''}><td>#${esc(o.id)}</td><td><span class="st ${esc(status(o.status))}">${esc(status(o.status))}</span></td>
      <td class="mono" title="${esc(o.owner)}">${gw ? '<span class="tag">gateway</span> ' : ''}${esc(short(o.owner))}</td><td>${esc(shape)}</td><td class="num">${esc(bytes(size))}</td>
      <td class="num">${esc(dot(o.escrow))}</td><td class="num">${esc(dot(o.paid))}</td><td class="num">${esc(dot(accrued))}</td><td>${slots}</td></tr>`;
  }).join('');
}

function describe(e) {
  const a = e.attrs;
  const name = e.type.replace(/^datdot\.\w+\.v\d+\.Event/, '');
  const bits = [];
  for (const k of ['order_id', 'challenge_id', 'check_id', 'core_index', 'replica', 'hoster', 'owner', 'length', 'amount', 'deposit', 'reason']) {
    if (a[k] === undefined || a[k] === '') continue;
    const v = typeof a[k] === 'string' && a[k].startsWith('datdot1') ? short(a[k]) : (typeof a[k] === 'object' ? JSON.stringify(a[k]) : a[k]);
    bits.push(k.replace('_id', '') + ' ' + v);
  }
  let cls = '';
  if (/Pass/.test(name)) cls = 'pass';
  else if (/Fault|Fail/.test(name)) cls = 'fault';
  else if (/Slash/.test(name)) cls = 'slash';
  return { name, cls, text: bits.join(' · ') };
}

function renderEvents(events) {
  if (!events.length) return;
  const ul = $('#events');
  ul.querySelector('.empty')?.remove();
  for (const e of events) {
    const d = describe(e);
    const li = document.createElement('li');
    li.className = d.cls;
    li.dataset.type = e.type;
    if (e.attrs.order_id !== undefined) li.dataset.order = String(e.attrs.order_id);
    li.innerHTML = `<span class="h">${e.height}</span><span class="t">${esc(d.name)}</span>${esc(d.text)}`;
    ul.prepend(li);
  }
  while (ul.children.length > MAX_EVENTS) ul.lastChild.remove();
}

async function renderBuckets() {
  const tb = $('#buckets tbody');
  try {
    const r = await getJSON('gateway/buckets');
    tb.innerHTML = r.buckets.length ? r.buckets.map((b) => `<tr data-bucket="${esc(b.name)}"><td>${esc(b.name)}</td><td class="num">${esc(b.objects)}${b.more ? '+' : ''}</td><td class="num">${esc(bytes(b.bytes))}</td><td>${esc(new Date(b.created).toLocaleString())}</td></tr>`).join('')
      : '<tr class="empty"><td colspan="4">no bucket</td></tr>';
  } catch (e) {
    tb.innerHTML = `<tr class="empty"><td colspan="4">gateway unreachable: ${esc(e.message)}</td></tr>`;
  }
}

function renderChart() {
  const s = state.series;
  const svg = $('#chart');
  if (s.length < 2) { svg.innerHTML = '<text x="10" y="20" fill="#6b7385" font-size="12">collecting…</text>'; return; }
  const W = 800, H = 160, pad = 6, top = 22;
  const t0 = s[0].t, t1 = s[s.length - 1].t || t0 + 1;
  const x = (t) => pad + (W - 2 * pad) * (t - t0) / Math.max(1, t1 - t0);
  const line = (key, max, color) => {
    const y = (v) => H - pad - (H - pad - top) * (max ? v / max : 0);
    return `<polyline fill="none" stroke="${color}" stroke-width="2" vector-effect="non-scaling-stroke" points="${s.map((p) => x(p.t).toFixed(1) + ',' + y(p[key]).toFixed(1)).join(' ')}"/>`;
  };
  const topB = Math.max(...s.map((p) => p.bytes)), topC = Math.max(...s.map((p) => p.passes + p.faults));
  const maxB = Math.max(topB, 1), maxC = Math.max(topC, 1);
  svg.innerHTML = line('bytes', maxB, '#3b5bdb') + line('passes', maxC, '#2f9e44') + line('faults', maxC, '#e03131') +
    `<text x="${W - 8}" y="14" text-anchor="end" fill="#6b7385" font-size="11">top: ${esc(bytes(topB))} stored · ${topC} challenges · since ${esc(new Date(t0).toLocaleTimeString())}</text>`;
}

// Open challenges, when the chain has x/attest: the total and the first
// MAX_LIVE of them.
const MAX_LIVE = 50;
async function readOpenChallenges() {
  try {
    const r = await getJSON(state.ep.rest + '/datdot/attest/v1/challenges?pagination.count_total=true&pagination.limit=' + MAX_LIVE);
    return { total: Number((r.pagination || {}).total || 0), list: r.challenges || [] };
  } catch { return null; }
}

function renderLiveChallenges(open) {
  const tb = $('#live tbody');
  if (open === null) { tb.innerHTML = '<tr class="empty"><td colspan="6">this chain has no x/attest</td></tr>'; return; }
  if (!open.list.length) { tb.innerHTML = '<tr class="empty"><td colspan="6">no open challenge right now</td></tr>'; return; }
  tb.innerHTML = open.list.map((c) => {
    const o = state.orders.get(Number(c.order_id));
    const gw = o && state.ep.gateway_account && o.order.owner === state.ep.gateway_account;
    return `<tr data-challenge="${esc(c.id)}" data-order="${esc(c.order_id)}"${gw ? ' data-gateway="1" class="gw"' : ''}>
      <td>#${esc(c.id)}</td><td>#${esc(c.order_id)}${gw ? ' <span class="tag">gateway</span>' : ''}</td><td>core ${esc(c.core_index)}.${esc(c.replica || 0)}</td>
      <td class="mono" title="${esc(c.hoster)}">${esc(short(c.hoster))}</td><td class="num">${esc((c.indices || []).join(', '))} of ${esc(c.length)}</td>
      <td class="num">${esc(c.issued_height)} → ${esc(c.deadline_height)}</td></tr>`;
  }).join('') + (open.total > open.list.length ? `<tr class="empty"><td colspan="6">and ${open.total - open.list.length} more</td></tr>` : '');
}

async function tick() {
  try {
    await readStatus();
    const [hosters, orders, events, open] = await Promise.all([readHosters(), readOrders(), readEvents(), readOpenChallenges()]);
    const totals = renderHosters(hosters);
    if (open !== null) $('#challenges-sub').textContent += ' · ' + open.total + ' open';
    renderOrders(orders);
    renderLiveChallenges(open);
    renderEvents(events);
    state.series.push({ t: Date.now(), h: state.height, bytes: totals.used, passes: totals.passes, faults: totals.faults });
    if (state.series.length > 600) state.series.shift();
    sessionStorage.setItem(SERIES_KEY, JSON.stringify(state.series));
    renderChart();
    await renderBuckets();
    const c = $('#conn'); c.textContent = 'live'; c.className = 'badge live';
  } catch (e) {
    const c = $('#conn'); c.textContent = 'chain unreachable'; c.className = 'badge down'; c.title = e.message;
    console.error(e);
  }
  setTimeout(tick, POLL_MS);
}

async function main() {
  state.ep = await getJSON('devnet.json');
  $('#chain-id').textContent = state.ep.chain_id;
  $('#backend').textContent = state.ep.backend === 'network'
    ? 'network backend: its volumes are the orders marked "gateway"' : (state.ep.backend ? state.ep.backend + ' backend: objects stay on the gateway' : '');
  $('#endpoints').innerHTML = `REST ${esc(state.ep.rest)} · RPC ${esc(state.ep.rpc)} · gRPC ${esc(state.ep.grpc)} · S3 ${esc(state.ep.gateway)}`;
  tick();
}

main().catch((e) => { $('#conn').textContent = 'error: ' + e.message; $('#conn').className = 'badge down'; });
