// HTTP requests from inside a test's network namespace (the agent's 127.0.0.1 is that netns's
// loopback), made by a short-lived node in that netns so no traffic ever leaves it.
import { execFileSync } from 'node:child_process';

export interface HttpResult {
  status: number;
  type: string;
  body: string;
}

const SCRIPT = `
const [url, method] = process.argv.slice(1);
fetch(url, { method }).then(async (r) => {
  process.stdout.write(JSON.stringify({ status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() }));
}, (e) => { process.stdout.write(JSON.stringify({ status: 0, type: '', body: String(e.cause ?? e) })); });`;

export function httpGet(netns: string, url: string, method = 'GET'): HttpResult {
  const out = execFileSync('nsenter', [`--net=/run/netns/${netns}`, process.execPath, '-e', SCRIPT, url, method], { encoding: 'utf8', timeout: 20_000 });
  return JSON.parse(out) as HttpResult;
}
