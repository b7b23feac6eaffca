// bench-page: what a first and a second visit cost, in headless Chromium
// with the DevTools protocol's network events (DESIGN §9).
//
// Pages: `/`, `/symbols/{id}` and `/admin/health` (signed in as an admin),
// each cold (a new browser context: empty cache) and warm (the same context
// again), on loopback and under CDP throttling (10 Mbit/s, 40 ms RTT). Per
// visit it reports:
// - bytes on the wire (`encodedDataLength`: headers and body as sent,
//   compressed or not) per resource type, and the number of requests; the
//   event stream is left out (it never ends);
// - time to live: from the navigation's start to the frame after the page
//   handled its first stream event (the live data drawn).
// The baseline, in the same run: the same page with JavaScript off (the
// server-rendered HTML, the stylesheet and the preloads; no live data).
// With --compare-bin-dir and --compare-site the same visits are made to a
// second build (e.g. an earlier release), shown beside this one.
//
// Usage: bench/run.sh page [--rounds 3] [--compare-bin-dir DIR --compare-site DIR --compare-label TEXT]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { flags, freePort, launch, machine } from './browser.mjs';

const args = flags();
const ROUNDS = Number(args.rounds ?? 3);
const OUT = args.out ?? 'bench/reports/page.md';
const BUILDS = [{ label: 'this build', bin: args['bin-dir'] ?? 'target/release', site: args.site ?? 'target/site' }];
if (args['compare-bin-dir']) {
  BUILDS.push({ label: args['compare-label'] ?? 'compared build', bin: args['compare-bin-dir'], site: args['compare-site'] ?? `${args['compare-bin-dir']}/site` });
}
const USER = 'bench', PASSWORD = 'bench-secret', ADMIN = 'bench-admin', ADMIN_PASSWORD = 'bench-admin-password';
const SYMBOL = 'SYM0001';
const THROTTLE = { offline: false, latency: 40, downloadThroughput: 10e6 / 8, uploadThroughput: 10e6 / 8 };
const TARGETS = { coldHome: 400 * 1024, coldSymbol: 800 * 1024, warm: 30 * 1024, liveHome: 1000 };

const log = (m) => process.stderr.write(`bench-page: ${m}\n`);

const children = [];
const dirs = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An embedded tickpulse of `build` with an admin and a feeder at 50 ticks/s. */
async function start(build) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tickpulse-bench-page-'));
  dirs.push(dataDir);
  const env = {
    ...process.env, DATA_DIR: dataDir, INGEST_USERNAME: USER, INGEST_PASSWORD: PASSWORD,
    SITE_ROOT: build.site, RUST_LOG: 'warn', API_RATE_PER_SEC: '0', INGEST_RATE_PER_SEC: '0',
  };
  delete env.REDIS_URL;
  delete env.DATABASE_URL;
  execFileSync(`${build.bin}/tickpulse`, ['user', 'add', ADMIN, '--admin'], { env, input: `${ADMIN_PASSWORD}\n` });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(`${build.bin}/tickpulse`, [], { env: { ...env, TICKPULSE_ADDR: `127.0.0.1:${port}` }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(server);
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/health/readiness`)).ok) break; } catch {}
    if (i > 200) throw new Error(`${build.label}: tickpulse did not become ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const feeder = spawn(`${build.bin}/tickpulse-feeder`, ['--url', base, '--username', USER, '--password', PASSWORD,
    '--symbol-count', '20', '--rate', '50'], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(feeder);
  for (let i = 0; !(await fetch(`${base}/api/symbols/${SYMBOL}`)).ok; i++) {
    if (i > 200) throw new Error(`${build.label}: no View of ${SYMBOL}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, stop: () => { feeder.kill('SIGKILL'); server.kill('SIGKILL'); } };
}

// In every page: the time of the frame after the first stream event was
// handled, from the navigation's start.
const PROBE = () => {
  window.__live = null;
  const Original = window.EventSource;
  if (!Original) return;
  window.EventSource = class extends Original {
    addEventListener(type, listener, options) {
      const wrapped = (event) => {
        const result = listener.call(this, event);
        if (window.__live === null) requestAnimationFrame(() => { window.__live ??= performance.now(); });
        return result;
      };
      return super.addEventListener(type, wrapped, options);
    }
    set onmessage(listener) { this.addEventListener('message', listener); }
  };
};

/** The column a request is counted in. */
function kindOf(r) {
  if (new URL(r.url).pathname.endsWith('.wasm')) return 'WASM';
  if (r.type === 'Fetch' || r.type === 'XHR') return 'API';
  return ['Document', 'Script', 'Stylesheet'].includes(r.type) ? r.type : 'Other';
}

/** What one visit sent, from the protocol's network events. */
function recorder(cdp) {
  const requests = new Map();
  cdp.on('Network.requestWillBeSent', (e) => requests.set(e.requestId, { url: e.request.url, type: e.type, bytes: 0, done: false }));
  cdp.on('Network.responseReceived', (e) => {
    const r = requests.get(e.requestId);
    if (r) { r.type = e.type; r.status = e.response.status; r.cached = e.response.fromDiskCache || e.response.fromPrefetchCache || e.response.fromServiceWorker; }
  });
  cdp.on('Network.requestServedFromCache', (e) => { const r = requests.get(e.requestId); if (r) r.cached = true; });
  cdp.on('Network.loadingFinished', (e) => { const r = requests.get(e.requestId); if (r) { r.bytes = e.encodedDataLength; r.done = true; } });
  return {
    reset: () => requests.clear(),
    summary: () => {
      const byType = {};
      let total = 0, count = 0, fromCache = 0;
      for (const r of requests.values()) {
        if (r.type === 'EventSource') continue;
        count += 1;
        if (r.cached) fromCache += 1;
        const kind = kindOf(r);
        byType[kind] = (byType[kind] ?? 0) + r.bytes;
        total += r.bytes;
      }
      return { byType, total, count, fromCache };
    },
  };
}

async function signIn(page, base) {
  await page.goto(`${base}/login`);
  await page.fill('input[name="username"]', ADMIN);
  await page.fill('input[name="password"]', ADMIN_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('form.login button[type="submit"]')]);
}

/** A cold and a warm visit of `path` in a fresh context. */
async function visits(browser, base, path, { throttled, javaScript = true }) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: javaScript });
  const page = await context.newPage();
  await page.addInitScript(PROBE);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  if (path.startsWith('/admin')) {
    await signIn(page, base);
    await cdp.send('Network.clearBrowserCache'); // cold again: the sign-in page fetched the same files
  }
  if (throttled) await cdp.send('Network.emulateNetworkConditions', THROTTLE);
  const record = recorder(cdp);
  const out = {};
  for (const visit of ['cold', 'warm']) {
    record.reset();
    await page.goto(`${base}${path}`, { waitUntil: 'load' });
    let live = null;
    if (javaScript) {
      await page.waitForFunction(() => window.__live !== null, null, { timeout: 60_000 });
      live = await page.evaluate(() => window.__live);
    }
    await page.waitForTimeout(500); // what the page fetches once live (e.g. the chart library)
    const load = await page.evaluate(() => performance.getEntriesByType('navigation')[0]?.loadEventEnd ?? null);
    out[visit] = { ...record.summary(), live, load };
  }
  await context.close();
  return out;
}

function median(values) {
  const v = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : null;
}

/** The median of ROUNDS runs of a visit pair (bytes come out the same each time). */
async function measure(browser, base, path, options) {
  const runs = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await visits(browser, base, path, options));
  const pick = (visit) => {
    const first = runs[0][visit];
    return { ...first, live: median(runs.map((r) => r[visit].live)), load: median(runs.map((r) => r[visit].load)) };
  };
  return { cold: pick('cold'), warm: pick('warm') };
}

const browser = await launch();
const PAGES = ['/', `/symbols/${SYMBOL}`, '/admin/health'];
const results = [];
try {
  for (const build of BUILDS) {
    const { base, stop } = await start(build);
    for (const path of PAGES) {
      for (const throttled of [false, true]) {
        const link = throttled ? '10 Mbit/s, 40 ms' : 'loopback';
        const r = await measure(browser, base, path, { throttled });
        results.push({ build: build.label, path, link, ...r });
        log(`${build.label} ${path} ${link}: cold ${(r.cold.total / 1024).toFixed(0)} KB, live ${r.cold.live?.toFixed(0)} ms; warm ${(r.warm.total / 1024).toFixed(1)} KB`);
      }
      const bare = await measure(browser, base, path, { throttled: true, javaScript: false });
      results.push({ build: build.label, path, link: '10 Mbit/s, 40 ms', baseline: true, ...bare });
    }
    stop();
  }
} finally {
  await browser.close();
}

const kb = (b) => (b / 1024).toFixed(1);
const ms = (v) => (v === null || v === undefined ? '—' : v.toFixed(0));
const KINDS = ['Document', 'Script', 'Stylesheet', 'WASM', 'API', 'Other'];
const row = (r, visit) => {
  const v = r[visit];
  const cells = KINDS.map((k) => kb(v.byType[k] ?? 0));
  const page = r.baseline ? `${r.path} (baseline: JavaScript off)` : r.path;
  return `| ${r.build} | ${page} | ${r.link} | ${visit} | ${v.count} (${v.fromCache} from cache) | ${cells.join(' | ')} | **${kb(v.total)}** | ${r.baseline ? '—' : ms(v.live)} | ${ms(v.load)} |`;
};
const find = (build, path, link) => results.find((r) => r.build === build && r.path === path && r.link === link && !r.baseline);
const verdict = (ok) => (ok ? 'holds' : '**misses**');
const targets = BUILDS.map(({ label }) => {
  const home = find(label, '/', '10 Mbit/s, 40 ms');
  const symbol = find(label, `/symbols/${SYMBOL}`, '10 Mbit/s, 40 ms');
  const warmest = Math.max(...results.filter((r) => r.build === label && !r.baseline).map((r) => r.warm.total));
  return [
    `| ${label} | \`/\` cold ≤ 400 KB | ${kb(home.cold.total)} KB | ${verdict(home.cold.total <= TARGETS.coldHome)} |`,
    `| ${label} | \`/\` live ≤ 1 s at 10 Mbit/s, cold | ${ms(home.cold.live)} ms | ${verdict(home.cold.live !== null && home.cold.live <= TARGETS.liveHome)} |`,
    `| ${label} | \`/symbols/{id}\` cold ≤ 800 KB | ${kb(symbol.cold.total)} KB | ${verdict(symbol.cold.total <= TARGETS.coldSymbol)} |`,
    `| ${label} | every warm visit ≤ 30 KB | at most ${kb(warmest)} KB | ${verdict(warmest <= TARGETS.warm)} |`,
  ].join('\n');
});
const report = [
  '# First and second page load\n',
  `Machine: ${machine('server and browser on the same machine')}. Written by \`bench/run.sh page\` (${new Date().toISOString()}).\n`,
  `tickpulse runs in the embedded mode (release build, release site) with a feeder at 50 ticks/s over 20 symbols. Each visit is made in headless Chromium through the DevTools protocol: **cold** in a new context with an empty cache, then **warm**, the same URL again in that context. Bytes are \`encodedDataLength\` (headers and body as they crossed the wire); the event stream is not counted. **Live** is the time from the navigation's start to the frame after the page handled its first stream event. Times are the median of ${ROUNDS} rounds. The throttled rows use CDP network emulation at 10 Mbit/s down and up with 40 ms of latency. The baseline rows are the same page with JavaScript off: what the browser fetches without running a script (the server-rendered HTML, the stylesheet, and the files the page asks it to preload), the floor under the live page. API is the pages' server-function calls.\n`,
  '| build | page | link | visit | requests | document KB | script KB | stylesheet KB | WASM KB | API KB | other KB | total KB | live ms | load event ms |',
  '| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.flatMap((r) => [row(r, 'cold'), row(r, 'warm')]),
  '',
  '| build | target | measured | |',
  '| --- | --- | ---: | --- |',
  ...targets,
  '',
].join('\n');
process.stdout.write(report);
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, report);
log(`report written to ${OUT}`);
process.exit(0);
