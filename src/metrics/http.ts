// The agent's HTTP side: the dashboard (static files, uPlot served from our own node_modules, no CDN),
// /metrics for Prometheus, a JSON API with the counters and the topology, and a Server-Sent Events
// stream of rates. Bound to 127.0.0.1 by default: it has no authentication, like node_exporter's default.
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { projectRoot } from '../native.js';
import { MetricsExporter } from './prometheus.js';
import { computeRates, topologyOf, type Rates } from './rates.js';
import { withoutPerCpu, type Snapshot } from './snapshot.js';

export const DEFAULT_LISTEN = '127.0.0.1:9742';

/** The HTTP server could not listen where asked. */
export class ListenError extends Error {}

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses "HOST:PORT", "[V6]:PORT" or ":PORT"; "off" means no HTTP server. */
export function parseListen(s: string): ListenAddress | null {
  if (s === 'off') return null;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new Error(`invalid listen address "${s}": use HOST:PORT (e.g. ${DEFAULT_LISTEN}), [IPv6]:PORT, or off`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

const require = createRequire(import.meta.url);
const WEB = path.join(projectRoot, 'web');
const ASSETS: Record<string, [string, string]> = {
  '/': [path.join(WEB, 'index.html'), 'text/html; charset=utf-8'],
  '/assets/dashboard.js': [path.join(WEB, 'dashboard.js'), 'text/javascript; charset=utf-8'],
  '/assets/dashboard.css': [path.join(WEB, 'dashboard.css'), 'text/css; charset=utf-8'],
  '/assets/uPlot.iife.min.js': [require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
  '/assets/uPlot.min.css': [require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8'],
};

export interface MetricsServerOptions {
  listen: ListenAddress;
  read: () => Snapshot;
  /** Stream period (ms); clients may ask for a longer one, never a shorter one than 200 ms. */
  intervalMs?: number;
  log?: (msg: string) => void;
}

interface StreamClient {
  res: http.ServerResponse;
  top: number;
  topologyKey: string;
}

/** Serves the dashboard, /metrics, the JSON API and the stream. */
export class MetricsServer {
  private server?: http.Server;
  private readonly exporter: MetricsExporter;
  private readonly clients = new Set<StreamClient>();
  private timer?: NodeJS.Timeout;
  private last?: Snapshot;

  constructor(private readonly opts: MetricsServerOptions) {
    this.exporter = new MetricsExporter(opts.read);
  }

  async start(): Promise<AddressInfo> {
    const server = http.createServer((req, res) => this.handle(req, res).catch((e: Error) => this.fail(res, 500, e.message)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new ListenError(e.code === 'EADDRINUSE'
          ? `cannot serve metrics on ${this.opts.listen.host}:${this.opts.listen.port}: the port is in use; choose another with --listen HOST:PORT, or --listen off`
          : `cannot serve metrics on ${this.opts.listen.host}:${this.opts.listen.port}: ${e.message}`)));
      server.listen(this.opts.listen.port, this.opts.listen.host, () => resolve());
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    this.server?.close();
    this.server?.closeAllConnections();
  }

  private fail(res: http.ServerResponse, code: number, msg: string): void {
    if (res.headersSent) return void res.end();
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(`${msg}\n`);
  }

  private json(res: http.ServerResponse, body: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.fail(res, 405, `method ${req.method} not allowed: everything here is read-only (GET)`);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const perCpu = ['1', 'true'].includes(url.searchParams.get('per_cpu') ?? '');
    const asset = ASSETS[url.pathname];
    if (asset) {
      res.writeHead(200, { 'content-type': asset[1], 'cache-control': 'no-cache' });
      return void fs.createReadStream(asset[0]).pipe(res);
    }
    switch (url.pathname) {
      case '/metrics': {
        const text = await this.exporter.scrape(perCpu);
        res.writeHead(200, { 'content-type': this.exporter.contentType }).end(text);
        return;
      }
      case '/api/v1/snapshot': {
        const s = this.opts.read();
        return this.json(res, perCpu ? s : withoutPerCpu(s));
      }
      case '/api/v1/topology':
        return this.json(res, topologyOf(this.opts.read()));
      case '/api/v1/stream':
        return this.stream(req, res, Math.max(1, Math.min(100, Number(url.searchParams.get('top') ?? 10) || 10)));
      case '/healthz':
        return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      default:
        return this.fail(res, 404, `no such page: ${url.pathname}; try /, /metrics, /api/v1/snapshot, /api/v1/topology or /api/v1/stream`);
    }
  }

  /** Server-Sent Events: `topology` when the set of children or their state changes, `rates` each tick. */
  private stream(req: http.IncomingMessage, res: http.ServerResponse, top: number): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 2000\n\n`);
    const client: StreamClient = { res, top, topologyKey: '' };
    this.clients.add(client);
    req.on('close', () => {
      this.clients.delete(client);
      if (!this.clients.size) {
        clearInterval(this.timer);
        this.timer = undefined;
        this.last = undefined;
      }
    });
    this.send(client, this.last ?? this.opts.read(), undefined);
    if (!this.timer) this.timer = setInterval(() => this.tick(), this.opts.intervalMs ?? 1000);
  }

  private tick(): void {
    let cur: Snapshot;
    try {
      cur = this.opts.read();
    } catch (e) {
      this.opts.log?.(`metrics: ${(e as Error).message}`);
      return;
    }
    const prev = this.last;
    this.last = cur;
    if (!prev) return;
    const byTop = new Map<number, Rates>();
    for (const c of this.clients) {
      let r = byTop.get(c.top);
      if (!r) byTop.set(c.top, (r = computeRates(prev, cur, c.top)));
      this.send(c, cur, r);
    }
  }

  private send(c: StreamClient, s: Snapshot, rates: Rates | undefined): void {
    const topo = topologyOf(s);
    const key = JSON.stringify(topo);
    if (key !== c.topologyKey) {
      c.topologyKey = key;
      c.res.write(`event: topology\ndata: ${key}\n\n`);
    }
    if (rates) c.res.write(`event: rates\ndata: ${JSON.stringify(rates)}\n\n`);
  }
}
