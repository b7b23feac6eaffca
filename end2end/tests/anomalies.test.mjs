// Anomalies on the admin health view in a real browser against a real
// server whose persist is made slow (a test hook): the admin opens the view
// first, and `pipeline.persist_lag` appears in the Anomalies panel live;
// each node's CPU and memory trend lines grow with every view; the report
// page draws the period's charts and offers its CSV.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, curlTick, tick } from './support.mjs';

const ADMIN = 'e2e-anomaly-admin';
const ADMIN_PASSWORD = 'e2e-anomaly-password';
const ctx = serverAndBrowser({
  database: true,
  env: {
    ADMIN_USERNAME: ADMIN, ADMIN_PASSWORD, NODE_ID: 'e2e-anomalies', HEARTBEAT_MS: '500',
    METRICS_SAMPLE_SECS: '1', ANOMALY_HOLD_SECS: '2', TEST_PERSIST_DELAY_MS: '1500', PERSIST_LAG_WARN_MS: '300',
  },
});

test('a persist lag anomaly appears live on the health view, and the nodes draw their trends', async () => {
  for (let i = 0; i < 100 && !ctx.server.user(['list']).includes(ADMIN); i++) await new Promise((r) => setTimeout(r, 100));
  const page = await ctx.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(ctx.server.base + '/admin/health');
  await page.fill('input[name="username"]', ADMIN);
  await page.fill('input[name="password"]', ADMIN_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('form.login button[type="submit"]')]);
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  assert.equal(await page.locator('.anomalies tr[data-kind]').count(), 0, 'nothing anomalous before the ticks');
  assert.match(await page.locator('.anomalies').textContent(), /None: every figure is within its bounds/);
  // Ticks now: each batch waits 1.5 s before its commit, over the 300 ms warning.
  const feeding = setInterval(() => curlTick(ctx.server.base, tick('E2E-ANOM', '10')), 250);
  try {
    const row = page.locator('.anomalies tr[data-kind="pipeline.persist_lag"]');
    await row.waitFor({ timeout: 30_000 });
    assert.equal(await row.getAttribute('data-subject'), 'persist');
    assert.match(await row.textContent(), /persist lag p99 \d+ ms \(warning over 300 ms\)/);
  } finally {
    clearInterval(feeding);
  }
  // The trend lines gain a point with each view (one a second).
  const points = () => page.locator('tr[data-node="e2e-anomalies"] .trend.cpu svg').getAttribute('data-points').then(Number);
  const before = await points();
  await page.waitForFunction((n) => Number(document.querySelector('tr[data-node="e2e-anomalies"] .trend.memory svg')?.dataset.points) > n,
    before, { timeout: 10_000 });
  assert.ok(before >= 2, `points so far: ${before}`);

  // The report of the last hour: a row per node and the total, its charts
  // drawn, and its CSV download.
  await page.click('a[href="/admin/report"]');
  await page.waitForURL(`${ctx.server.base}/admin/report`);
  await page.waitForSelector('#report-cpu canvas', { timeout: 10_000 });
  await page.waitForSelector('#report-ingest canvas', { timeout: 10_000 });
  const series = await page.evaluate(() => window.echarts.getInstanceByDom(document.getElementById('report-cpu')).getOption().series.map((s) => s.name));
  assert.deepEqual(series, ['e2e-anomalies']);
  assert.equal(await page.locator('table.report tr[data-node="e2e-anomalies"]').count(), 1);
  const total = page.locator('table.report tr[data-node="total"]');
  assert.ok(Number(await total.locator('td').nth(1).textContent()) >= 1, 'the persist lag alert is counted');
  await page.click('a:text-is("Last day")');
  await page.waitForURL(`${ctx.server.base}/admin/report?period=1d`);
  await page.waitForSelector('a[aria-current="page"]:text-is("Last day")');
  const href = await page.locator('a.csv').getAttribute('href');
  const csv = await page.evaluate(async (url) => {
    const r = await fetch(url);
    return { type: r.headers.get('content-type'), text: await r.text() };
  }, href);
  assert.match(csv.type, /^text\/csv/);
  assert.equal(csv.text.split('\n')[0], 'node,step_start_ms,figure,min,mean,max,p95,samples');
  assert.ok(csv.text.includes('e2e-anomalies,'), csv.text.slice(0, 300));
  assert.deepEqual(errors, []);
  await page.close();
});
