// The dashboard in headless Chromium, against the real agent with real traffic: 150 children, steady
// streams to and between some of them. The page must show every child in its topology table (busiest
// first), rates that match what the counters say, charts whose series are the busy children, and a
// table that follows children as they go and come. The screenshot is the README's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { Sandbox } from '../helpers/sandbox.js';
import { launchInNetns, type NetnsBrowser } from '../helpers/browser.js';
import { EXT_MAC, MIXED_CHILDREN, Topology } from '../../src/lab/topology.js';
import { buildFrame } from '../../src/frames.js';
import { inNetns } from '../../src/native.js';
import { CounterReader } from '../../src/metrics/snapshot.js';

const sb = new Sandbox('d');
const EXTRA = 144; // with the six of the lab: 150 children
const URL = 'http://127.0.0.1:9742/';
let t: Topology;
let many = '';
let browser: NetnsBrowser | undefined;
let page: Page;
let traffic: NodeJS.Timeout | undefined;
const mac = (n: string) => MIXED_CHILDREN.find((c) => c.name === n)!.mac;

// Steady streams, sent every 20 ms: 200/s external → b1, 100/s b1 → b2, 50/s external → p1.
function startTraffic(): void {
  let id = 1;
  traffic = setInterval(() => {
    for (let i = 0; i < 4; i++) t.send({ from: 'wire' }, buildFrame({ src: EXT_MAC, dst: mac('b1'), id: id++, length: 1000 }));
    for (let i = 0; i < 2; i++) t.send({ from: 'child', name: 'b1' }, buildFrame({ src: mac('b1'), dst: mac('b2'), id: id++, length: 200 }));
    t.send({ from: 'wire' }, buildFrame({ src: EXT_MAC, dst: mac('p1'), id: id++ }));
    void t.drain(0); // keep the receivers' queues short
  }, 20);
}

beforeAll(async () => {
  t = Topology.build(sb, { datapath: 'bpf', children: [...MIXED_CHILDREN], reflector: false }, 'd');
  many = sb.netns('many');
  const cfg = path.join(os.tmpdir(), `${sb.prefix}-many.yaml`);
  const hex = (i: number) => i.toString(16).padStart(2, '0');
  fs.writeFileSync(cfg, ['children:', ...Array.from({ length: EXTRA }, (_, i) => `  - { name: m${i}, parent: p0, mode: bridge, address: "02:00:00:01:${hex(i >> 8)}:${hex(i & 0xff)}", netns: ${many} }`)].join('\n') + '\n');
  try {
    t.cli(['apply', '-f', cfg]);
  } finally {
    fs.rmSync(cfg, { force: true });
  }
  startTraffic();
  browser = await launchInNetns(t.host, sb.prefix);
  page = await browser.context.newPage();
  await page.goto(URL);
}, 180_000);
afterAll(async () => {
  clearInterval(traffic);
  await browser?.close();
  t?.close();
  sb.cleanup();
});

/** The page's own state (window.mvb), read in the browser. */
const state = () => page.evaluate(() => {
  const m = (window as unknown as { mvb: { connected: boolean; ticks: number; topology: { children: unknown[] }; charts: Record<string, { series: string[]; last: number[] }> } }).mvb;
  return { connected: m.connected, ticks: m.ticks, children: m.topology.children.length, charts: Object.fromEntries(Object.entries(m.charts).map(([k, v]) => [k, { series: v.series, last: v.last }])) };
});
const cell = (child: string, field: string) => page.locator(`#children tr[data-child="${child}"] td[data-field="${field}"]`).getAttribute('data-value').then(Number);

describe('the dashboard in headless Chromium', () => {
  it('streams live rates that agree with the counters, for every child', async () => {
    await page.waitForFunction(() => (window as unknown as { mvb: { ticks: number } }).mvb.ticks >= 4, undefined, { timeout: 20_000 });
    const s = await state();
    expect(s.connected).toBe(true);
    expect(s.children).toBe(6 + EXTRA);
    expect(await page.locator('#status').textContent()).toBe('live');
    expect(await page.locator('#parents tr[data-parent="p0"] td').nth(2).textContent()).toBe(String(6 + EXTRA));
    // The table lists every child (150 is under the 200-row limit), busiest first.
    expect(await page.locator('#children tbody tr').count()).toBe(6 + EXTRA);
    expect(await page.locator('#children tbody tr').first().getAttribute('data-child')).toBe('b1');

    // The counters' own rate over two seconds, next to what the page shows.
    const reader = new CounterReader(t.pinRoot);
    try {
      const r0 = inNetns(`/run/netns/${t.host}`, () => reader.read());
      await new Promise((r) => setTimeout(r, 2000));
      const r1 = inNetns(`/run/netns/${t.host}`, () => reader.read());
      const secs = (r1.mono - r0.mono) / 1000;
      const rate = (name: string, f: 'rxPackets' | 'txPackets') =>
        (r1.children.find((c) => c.name === name)!.counters[f] - r0.children.find((c) => c.name === name)!.counters[f]) / secs;
      for (const [child, field, counterField] of [['b1', 'rxPps', 'rxPackets'], ['b1', 'txPps', 'txPackets'], ['b2', 'rxPps', 'rxPackets'], ['p1', 'rxPps', 'rxPackets']] as const) {
        const shown = await cell(child, field);
        const counted = rate(child, counterField);
        expect(counted, `${child} ${counterField}/s from the counters`).toBeGreaterThan(20);
        // One-second rates of a timer-driven sender jitter; a stale or wrong figure is far off.
        expect(shown / counted, `${child} ${field}: page ${shown}, counters ${counted.toFixed(1)}`).toBeGreaterThan(0.6);
        expect(shown / counted, `${child} ${field}: page ${shown}, counters ${counted.toFixed(1)}`).toBeLessThan(1.6);
      }
      expect(await cell('m7', 'rxPps')).toBe(0); // an idle child
    } finally {
      reader.close();
    }

    const charts = (await state()).charts;
    const ns = (n: string) => t.childNs.get(n)!;
    expect(charts['chart-top-pps']!.series).toEqual(expect.arrayContaining([`b1@${ns('b1')}`, `b2@${ns('b2')}`, `p1@${ns('p1')}`]));
    const top = charts['chart-top-pps']!;
    expect(top.last[top.series.indexOf(`b1@${ns('b1')}`)]).toBeGreaterThan(100);
    expect(charts['chart-totals']!.series[0]).toBe('rx');
    expect(charts['chart-totals']!.last[0]).toBeGreaterThan(150);
    expect(charts['chart-cpus']!.series.length).toBeGreaterThanOrEqual(1);
    expect(charts['chart-drops']!.series).toContain('mode-filter');
    expect(await page.locator('.uplot canvas').count()).toBe(5);
  });

  it('the topology table follows children as they go and come', async () => {
    t.cli(['link', 'del', 'm3', '-n', many]);
    await page.waitForFunction(() => !document.querySelector('#children tr[data-child="m3"]'), undefined, { timeout: 5000 });
    t.cli(['link', 'add', 'link', 'p0', 'name', 'late', 'netns', many, 'type', 'macvlan', 'mode', 'vepa']);
    await page.waitForSelector('#children tr[data-child="late"]', { timeout: 5000 });
    expect(await page.locator('#children tr[data-child="late"] td').nth(5).textContent()).toBe('DOWN');
    await page.fill('#filter', 'late');
    expect(await page.locator('#children tbody tr').count()).toBe(1);
    await page.fill('#filter', '');
  });

  it('takes the README\'s screenshot', async () => {
    await page.waitForTimeout(3000); // a few more points on the charts
    const file = process.env.MACVLAN_BPF_SCREENSHOT ?? path.join(os.tmpdir(), `${sb.prefix}-dashboard.png`);
    await page.screenshot({ path: file, fullPage: false });
    const png = fs.readFileSync(file);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.length).toBeGreaterThan(20_000);
    if (!process.env.MACVLAN_BPF_SCREENSHOT) fs.rmSync(file);
  });
});
