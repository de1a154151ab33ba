// A TCP peer for the e2e tests, run inside a netns: `server PORT` prints the byte count and sha256 of
// what it received; `client HOST PORT BYTES SEED` sends BYTES of seeded pseudo-random data, prints the same.
import net from 'node:net';
import crypto from 'node:crypto';

const [mode, ...a] = process.argv.slice(2);
const report = (n, h) => console.log(JSON.stringify({ bytes: n, sha256: h.digest('hex') }));
if (mode === 'server') {
  const srv = net.createServer((s) => {
    const h = crypto.createHash('sha256');
    let n = 0;
    s.on('data', (d) => { h.update(d); n += d.length; });
    s.on('end', () => { report(n, h); s.end(); srv.close(); });
  });
  srv.listen(Number(a[0]), () => console.log('listening'));
  setTimeout(() => { console.error('server timeout'); process.exit(3); }, 60_000).unref();
} else {
  const [host, port, bytes, seed] = [a[0], Number(a[1]), Number(a[2]), a[3] ?? 'x'];
  const h = crypto.createHash('sha256');
  const s = net.connect(port, host, () => {
    let left = bytes, ctr = 0;
    const pump = () => {
      while (left > 0) {
        const chunk = crypto.createHash('sha512').update(`${seed}:${ctr++}`).digest();
        const block = Buffer.concat(Array(1024).fill(chunk)).subarray(0, Math.min(65536, left));
        left -= block.length;
        h.update(block);
        if (!s.write(block)) return s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
  s.on('close', () => report(bytes, h));
  s.on('error', (e) => { console.error(e.message); process.exit(2); });
  setTimeout(() => { console.error('client timeout'); process.exit(3); }, 60_000).unref();
}
