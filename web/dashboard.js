// SPDX-License-Identifier: GPL-2.0-only
// The macvlan-bpf dashboard. One EventSource: `topology` (sent when children come, go or change state)
// and `rates` (every tick: totals, drops by reason, per-CPU split, the busiest children in full and every
// busy child as a sparse pair). Idle children cost nothing, so hundreds of them stay cheap; the table
// shows the busiest first and at most ROW_LIMIT rows unless filtered. State is on window.mvb for tests.
'use strict';

const HISTORY = 300; // points kept per series (5 minutes at one per second)
const TOP = 8; // children drawn in the "busiest" charts
const ROW_LIMIT = 200;
const PALETTE = ['#3867d6', '#eb3b5a', '#20bf6b', '#f7b731', '#8854d0', '#0fb9b1', '#fa8231', '#4b6584', '#a5b1c2', '#2d98da'];

const mvb = (window.mvb = {
  connected: false,
  topology: { parents: [], children: [] },
  rates: null,
  ticks: 0,
  charts: {},
});

const times = [];
const totalsHist = { rx: [], tx: [], flood: [], stack: [], wire: [] };
const dropHist = {}; // reason -> []
const cpuHist = []; // cpu -> []
const childHist = new Map(); // key -> { pps: [], bps: [] }

function human(n) {
  const u = ['', 'K', 'M', 'G', 'T'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  if (i === 0) return Number.isInteger(n) || n >= 10 ? String(Math.round(n)) : n.toFixed(1);
  return n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) + u[i];
}
function push(arr, v) {
  arr.push(v);
  if (arr.length > HISTORY) arr.shift();
}
function childLabel(key) {
  const c = mvb.topology.children.find((x) => x.key === key);
  return c ? (c.netns ? `${c.name}@${c.netns}` : c.name) : `#${key}`;
}

/** Makes (or remakes, when its series change) one chart; uPlot keeps no series list of ours. */
function chart(id, labels, data, fmt) {
  const el = document.getElementById(id);
  const old = mvb.charts[id];
  const sig = labels.join('\u0000');
  if (old && old.sig === sig) {
    old.plot.setData(data);
  } else {
    if (old) old.plot.destroy();
    const plot = new uPlot({
      width: Math.max(300, el.clientWidth - 4),
      height: 200,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{}, { values: (u, v) => v.map(fmt), size: 60 }],
      series: [{}, ...labels.map((label, i) => ({ label, stroke: PALETTE[i % PALETTE.length], width: 1.5, value: (u, v) => (v == null ? '–' : fmt(v)) }))],
      legend: { live: false },
    }, data, el);
    mvb.charts[id] = { plot, sig };
  }
  mvb.charts[id].series = labels;
  mvb.charts[id].last = data.slice(1).map((s) => s[s.length - 1] ?? 0);
}

function onRates(r) {
  mvb.rates = r;
  mvb.ticks++;
  push(times, r.time / 1000);
  push(totalsHist.rx, r.totals.rxPps);
  push(totalsHist.tx, r.totals.txPps);
  push(totalsHist.flood, r.totals.floodPps);
  push(totalsHist.stack, r.totals.stackPps);
  push(totalsHist.wire, r.totals.wirePps);
  for (const [reason, v] of Object.entries(r.drops)) {
    if (!dropHist[reason]) dropHist[reason] = new Array(times.length - 1).fill(0);
    push(dropHist[reason], v);
  }
  r.cpus.forEach((v, i) => {
    if (!cpuHist[i]) cpuHist[i] = new Array(times.length - 1).fill(0);
    push(cpuHist[i], v);
  });
  // Per-child history for every child that has been busy; rates of the top N carry bytes too.
  const bytes = new Map(r.top.map((c) => [c.key, c.rxBps + c.txBps]));
  for (const k of Object.keys(r.busy).map(Number)) if (!childHist.has(k)) childHist.set(k, { pps: new Array(times.length - 1).fill(0), bps: new Array(times.length - 1).fill(0) });
  for (const [k, h] of childHist) {
    const b = r.busy[k];
    push(h.pps, b ? b[0] + b[1] : 0);
    push(h.bps, bytes.get(k) ?? 0);
  }

  setText('t-rx', `${human(r.totals.rxPps)} pps · ${human(r.totals.rxBps)}B/s`);
  setText('t-tx', `${human(r.totals.txPps)} pps · ${human(r.totals.txBps)}B/s`);
  setText('t-flood', `${human(r.totals.floodPps)} pps`);
  setText('t-stack', `${human(r.totals.stackPps)} pps`);
  setText('t-drops', `${human(r.totals.dropPps)} pps`);

  const fmtPps = (v) => human(v);
  const fmtBps = (v) => human(v) + 'B';
  chart('chart-totals', ['rx', 'tx', 'flood copies', 'to stack', 'to wire'], [times, totalsHist.rx, totalsHist.tx, totalsHist.flood, totalsHist.stack, totalsHist.wire], fmtPps);
  const top = r.top.slice(0, TOP).map((c) => c.key);
  const labels = top.length ? top.map(childLabel) : ['(no traffic)'];
  chart('chart-top-pps', labels, [times, ...(top.length ? top.map((k) => childHist.get(k).pps) : [times.map(() => 0)])], fmtPps);
  setText('others', r.others.children ? `; ${r.others.children} more busy children: ${human(r.others.rxPps + r.others.txPps)} pps` : '');
  chart('chart-top-bps', top.length ? top.map(childLabel) : ['(no traffic)'], [times, ...(top.length ? top.map((k) => childHist.get(k).bps) : [times.map(() => 0)])], fmtBps);
  const reasons = Object.keys(dropHist);
  chart('chart-drops', reasons, [times, ...reasons.map((x) => dropHist[x])], fmtPps);
  chart('chart-cpus', cpuHist.map((_, i) => `cpu${i}`), [times, ...cpuHist], fmtPps);
  renderChildren();
}

function setText(id, s) {
  document.getElementById(id).textContent = s;
}

function onTopology(t) {
  mvb.topology = t;
  const alive = new Set(t.children.map((c) => c.key));
  for (const k of childHist.keys()) if (!alive.has(k)) childHist.delete(k); // a child that is gone
  setText('t-children', `${t.children.length} (${t.children.filter((c) => c.up).length} up)`);
  const tb = document.querySelector('#parents tbody');
  tb.replaceChildren(...t.parents.map((p) => row([p.name, p.isolation + (p.fastpath === 'xdp' ? ', XDP fast path' : '') + (p.passthru ? ', passthru' : ''), p.children, p.childrenUp], { parent: p.name })));
  renderChildren();
}

function row(cells, data, cls) {
  const tr = document.createElement('tr');
  for (const [k, v] of Object.entries(data)) tr.dataset[k] = v;
  if (cls) tr.className = cls;
  for (const c of cells) {
    const td = document.createElement('td');
    if (Array.isArray(c)) {
      td.textContent = c[0];
      td.className = 'num';
      td.dataset.field = c[1];
      td.dataset.value = c[2];
    } else td.textContent = c;
    tr.append(td);
  }
  return tr;
}

function renderChildren() {
  const q = document.getElementById('filter').value.trim().toLowerCase();
  const busy = (mvb.rates && mvb.rates.busy) || {};
  const rate = (c) => (busy[c.key] ? busy[c.key][0] + busy[c.key][1] : 0);
  let list = mvb.topology.children.filter((c) => !q || [c.name, c.netns, c.mode, c.mac, c.parent].some((s) => s.toLowerCase().includes(q)));
  list = list.slice().sort((a, b) => rate(b) - rate(a) || a.name.localeCompare(b.name));
  const shown = q ? list : list.slice(0, ROW_LIMIT);
  setText('shown', shown.length < mvb.topology.children.length ? `showing ${shown.length} of ${mvb.topology.children.length}, busiest first` : `${shown.length}, busiest first`);
  const tb = document.querySelector('#children tbody');
  tb.replaceChildren(...shown.map((c) => {
    const [rx, tx] = busy[c.key] || [0, 0];
    return row([c.name, c.netns || '–', c.parent, c.mode, c.mac, c.up ? 'UP' : 'DOWN', [human(rx), 'rxPps', rx], [human(tx), 'txPps', tx]],
      { child: c.name, netns: c.netns }, (c.up ? '' : 'down') + (rx + tx > 0 ? ' busy' : ''));
  }));
}

function connect() {
  const status = document.getElementById('status');
  const es = new EventSource(`/api/v1/stream?top=${TOP}`);
  es.addEventListener('open', () => {
    mvb.connected = true;
    status.textContent = 'live';
    status.className = 'status live';
  });
  es.addEventListener('error', () => {
    mvb.connected = false;
    status.textContent = 'reconnecting…';
    status.className = 'status down';
  });
  es.addEventListener('topology', (e) => onTopology(JSON.parse(e.data)));
  es.addEventListener('rates', (e) => onRates(JSON.parse(e.data)));
}

document.getElementById('filter').addEventListener('input', renderChildren);
connect();
