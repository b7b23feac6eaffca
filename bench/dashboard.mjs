// bench-dashboard: the live dashboard in headless Chromium with 500 symbols
// on the feed, next to a same-run baseline (DESIGN §9).
//
// Cases: all 500 rows at each rate of --rates (ticks/s over 500 symbols),
// and a 20-symbol watchlist's tab at the same rates. Each case runs
// --minutes after a warm-up and reports:
// - tick → row updated: from the tick's own `ts` (set by the feeder when it
//   made the tick) to the moment a MutationObserver sees that row's time
//   cell change, p50/p99 (rows on screen: the page skips the others);
// - main-thread long tasks (PerformanceObserver `longtask`): per minute and
//   the longest;
// - the JS heap after a forced GC (CDP), at the start and at the end.
// The baseline is a bare page in the same browser on the same stream: an
// EventSource that writes each view into its row at once, no framework.
//
// Usage: bench/run.sh dashboard [--minutes 5] [--rates 200,1000]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { flags, freePort, launch, machine } from './browser.mjs';

const args = flags();
const MINUTES = Number(args.minutes ?? 5);
const RATES = String(args.rates ?? '200,1000').split(',').map(Number);
const BIN = args['bin-dir'] ?? 'target/release';
const SITE = args.site ?? 'target/site';
const OUT = args.out ?? 'bench/reports/dashboard.md';
const WARMUP_MS = 15_000;
const SYMBOLS = 500;
const LIST = 20;
const USER = 'bench', PASSWORD = 'bench-secret', VIEWER = 'bench-viewer', VIEWER_PASSWORD = 'bench-viewer-password';

const log = (m) => process.stderr.write(`bench-dashboard: ${m}\n`);

const dataDir = mkdtempSync(join(tmpdir(), 'tickpulse-bench-dashboard-'));
const serverEnv = {
  ...process.env, DATA_DIR: dataDir, INGEST_USERNAME: USER, INGEST_PASSWORD: PASSWORD,
  SITE_ROOT: SITE, RUST_LOG: 'warn', API_RATE_PER_SEC: '0', INGEST_RATE_PER_SEC: '0',
};
delete serverEnv.REDIS_URL;
delete serverEnv.DATABASE_URL;
const children = [];
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); rmSync(dataDir, { recursive: true, force: true }); });

async function startServer() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  execFileSync(`${BIN}/tickpulse`, ['user', 'add', VIEWER], { env: serverEnv, input: `${VIEWER_PASSWORD}\n` });
  const server = spawn(`${BIN}/tickpulse`, [], { env: { ...serverEnv, TICKPULSE_ADDR: `127.0.0.1:${port}` }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(server);
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${base}/health/readiness`)).ok) return { base, server }; } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('tickpulse did not become ready');
}

function startFeeder(base, rate) {
  const feeder = spawn(`${BIN}/tickpulse-feeder`, ['--url', base, '--username', USER, '--password', PASSWORD,
    '--symbol-count', String(SYMBOLS), '--rate', String(rate), '--concurrency', '8'], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(feeder);
  return feeder;
}

/** Waits until every symbol has a View. */
async function allViewed(base) {
  for (let i = 0; i < 600; i++) {
    const ticks = await (await fetch(`${base}/api/symbols`)).json();
    if (ticks.length >= SYMBOLS) {
      const last = await fetch(`${base}/api/symbols/${ticks[ticks.length - 1].symbol}`);
      if (last.ok) return ticks.map((t) => t.symbol);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('not every symbol got a View');
}

// In every page: row updates as latencies, and long tasks.
const PROBE = () => {
  window.__latencies = [];
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push(e.duration);
  }).observe({ type: 'longtask', buffered: true });
  const watch = () => {
    const body = document.querySelector('#quotes tbody');
    if (!body) return setTimeout(watch, 50);
    new MutationObserver((records) => {
      const now = performance.timeOrigin + performance.now();
      for (const r of records) {
        if (r.attributeName === 'title' && r.target.classList?.contains('time')) {
          const ts = Date.parse(r.target.getAttribute('title'));
          if (!Number.isNaN(ts)) window.__latencies.push(now - ts);
        }
      }
    }).observe(body, { subtree: true, attributes: true, attributeFilter: ['title'] });
  };
  watch();
};

// The baseline: 500 rows, each view written into its row at once.
const BASELINE = (symbols) => `<!doctype html><html><head><meta charset="utf-8"><title>baseline</title></head><body>
<table id="quotes"><tbody>${symbols.map((s) => `<tr data-symbol="${s}"><th>${s}</th><td class="price"></td><td class="time" title=""></td></tr>`).join('')}</tbody></table>
<script>
const rows = new Map([...document.querySelectorAll('tr')].map((r) => [r.dataset.symbol, r]));
const source = new EventSource('/api/stream');
source.addEventListener('view', (e) => {
  const v = JSON.parse(e.data);
  const row = rows.get(v.symbol);
  if (!row) return;
  row.querySelector('.price').textContent = v.last.price;
  row.querySelector('.time').setAttribute('title', new Date(v.last.ts).toISOString());
});
</script></body></html>`;

function pct(values, q) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1)];
}

/** The JS heap in MiB; after a full GC when `collect` (a main-thread task
 * of its own, so only before and after the long tasks are counted). */
async function heap(cdp, collect) {
  if (collect) await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return usedSize / (1024 * 1024);
}

async function signIn(page, base) {
  await page.goto(`${base}/login`);
  await page.fill('input[name="username"]', VIEWER);
  await page.fill('input[name="password"]', VIEWER_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('form.login button[type="submit"]')]);
}

/** One case: opens `path` (or the baseline), measures for MINUTES. */
async function measure(browser, base, { label, path, baseline, listSymbols, symbols, minutes = MINUTES }) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.addInitScript(PROBE);
  if (baseline) {
    await page.route(`${base}/bench-baseline`, (route) => route.fulfill({ contentType: 'text/html', body: BASELINE(symbols) }));
  }
  let target = `${base}${path}`;
  if (listSymbols) {
    await signIn(page, base);
    const made = await page.evaluate(async (s) => (await fetch('/api/watchlists', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `Bench ${Date.now()}`, symbols: s }),
    })).json(), listSymbols);
    target = `${base}/?list=${made.id}`;
  }
  await page.goto(target);
  if (!baseline) await page.waitForSelector('.status.live', { timeout: 30_000 });
  const rows = await page.locator('#quotes tbody tr').count();
  await page.waitForTimeout(WARMUP_MS);
  const cdp = await context.newCDPSession(page);
  const heapStart = await heap(cdp, true);
  await page.evaluate(() => { window.__latencies = []; window.__longTasks = []; });
  // Nothing else is asked of the page while it is measured: a heap reading
  // through CDP is a main-thread task of its own.
  await page.waitForTimeout(minutes * 60_000);
  const { latencies, longTasks } = await page.evaluate(() => ({ latencies: window.__latencies, longTasks: window.__longTasks }));
  const heapEnd = await heap(cdp, true);
  await context.close();
  const result = {
    label, rows, updates: latencies.length, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99),
    minutes, longPerMin: longTasks.length / minutes, longest: longTasks.length ? Math.max(...longTasks) : 0,
    heapStart, heapEnd,
  };
  log(`${label}: ${JSON.stringify(result)}`);
  return result;
}

const { base } = await startServer();
const browser = await launch(['--enable-precise-memory-info']);
const results = [];
try {
  for (const rate of RATES) {
    log(`${rate} ticks/s over ${SYMBOLS} symbols (${MINUTES} min per case)`);
    const feeder = startFeeder(base, rate);
    const symbols = await allViewed(base);
    results.push({ rate, ...(await measure(browser, base, { label: 'dashboard, All (500 rows)', path: '/' })) });
    results.push({ rate, ...(await measure(browser, base, { label: `dashboard, a ${LIST}-symbol watchlist`, path: '/', listSymbols: symbols.slice(0, LIST) })) });
    // The baseline is for latency and long tasks: a minute is enough.
    results.push({ rate, ...(await measure(browser, base, { label: 'baseline: bare page, 500 rows', path: '/bench-baseline', baseline: true, symbols, minutes: Math.min(MINUTES, 1) })) });
    feeder.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1000));
  }
} finally {
  await browser.close();
}

const fmt = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '—');
const at200 = results.find((r) => r.rate === RATES[0] && r.label.startsWith('dashboard, All'));
const lines = [
  '# The dashboard in a browser: 500 symbols live\n',
  `Machine: ${machine('load generator and browser on the same machine')}. Written by \`bench/run.sh dashboard\` (${new Date().toISOString()}).\n`,
  `tickpulse runs in the embedded mode (release build, release site) with \`tickpulse-feeder --symbol-count ${SYMBOLS}\` at each rate; each case is a fresh page in headless Chromium (1280×900), ${WARMUP_MS / 1000} s of warm-up, then ${MINUTES} min measured. Latency runs from the tick's \`ts\` (the feeder's clock when it made the tick) to a MutationObserver seeing that row's time cell change: it includes the webhook, the calc stage that makes the View, the stream and the page. Rows off screen are not written (see \`app/src/dashboard.rs\`), so updates are counted for rows on screen. The baseline is a bare page on the same stream that writes each view into its row at once.\n`,
  '| ticks/s | page | rows | minutes | row updates | p50 ms | p99 ms | long tasks/min | longest task ms | JS heap after GC, start → end MiB |',
  '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...results.map((r) => `| ${r.rate} | ${r.label} | ${r.rows} | ${r.minutes} | ${r.updates} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.longPerMin)} | ${fmt(r.longest, 0)} | ${fmt(r.heapStart, 2)} → ${fmt(r.heapEnd, 2)} |`),
  '',
  `Targets: p99 ≤ 100 ms at ${RATES[0]} ticks/s with 500 rows (${fmt(at200?.p99)} ms), no long task over 50 ms, and a heap that stays flat (end within 10 % or 1 MiB of the start).`,
  '',
];
const report = lines.join('\n');
process.stdout.write(report);
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, report);
log(`report written to ${OUT}`);
process.exit(0);
