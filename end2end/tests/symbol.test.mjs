// The symbol page in a real browser against a real server: charts drawn by
// ECharts (the site build's subset, loaded by the page when it draws),
// statistics and ticks, all live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openDashboard, curlTick, tick, waitForView, MODE } from './support.mjs';

const ctx = serverAndBrowser();

/** The data of a series of the ECharts chart drawn into `#id` (empty
 * series have none), or null when no chart is drawn there. */
const seriesData = (page, id, index) =>
  page.evaluate(([id, index]) => {
    const el = document.getElementById(id);
    const chart = el && window.echarts?.getInstanceByDom(el);
    return chart ? (chart.getOption().series[index].data ?? []) : null;
  }, [id, index]);

test('the symbol page draws its charts and updates them when a tick arrives', async () => {
  for (const price of ['50', '51.25', '50.5']) {
    assert.equal(curlTick(ctx.server.base, tick('E2E-CHART', price)).status, 202);
  }
  await waitForView(ctx.server.base, 'E2E-CHART');
  // Reached from the dashboard row's link, without a page load.
  const page = await openDashboard(ctx.browser, ctx.server.base);
  await page.click('tr[data-symbol="E2E-CHART"] a');
  await page.waitForURL(`${ctx.server.base}/symbols/E2E-CHART`);
  await page.waitForSelector('#price-chart canvas', { timeout: 10_000 });
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  assert.equal(await page.locator('h1').textContent(), 'E2E-CHART');
  assert.equal(await page.locator('[data-field="last"]').textContent(), '50.5');
  assert.equal(await page.locator('[data-field="high"]').textContent(), '51.25');

  const prices = await seriesData(page, 'price-chart', 0);
  assert.ok(Array.isArray(prices), 'the price chart is drawn');
  // Without a database (the Redis runs) there is no history to start from.
  assert.equal(prices.length, MODE === 'embedded' ? 3 : 0);
  const before = prices.length;

  assert.equal(curlTick(ctx.server.base, tick('E2E-CHART', '52.75', { volume: '7' })).status, 202);
  await page.waitForFunction(() => {
    const chart = window.echarts.getInstanceByDom(document.getElementById('price-chart'));
    const data = chart.getOption().series[0].data ?? [];
    return data[data.length - 1] === 52.75;
  }, null, { timeout: 5_000 });
  assert.equal((await seriesData(page, 'price-chart', 0)).length, before + 1, 'one more point');
  assert.equal((await seriesData(page, 'price-chart', 1)).at(-1), 7, 'its volume bar');
  await page.waitForFunction(() => document.querySelector('.ticks tbody tr .price')?.textContent === '52.75');
  // The View follows: statistics come from the calc stage.
  await page.waitForFunction(() => document.querySelector('[data-field="high"]')?.textContent === '52.75',
    null, { timeout: 5_000 });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('candles can be picked by interval and follow live ticks', async () => {
  // Both ticks in one second (and so one minute) that has begun already.
  const second = Math.floor(Date.now() / 1000) * 1000;
  assert.equal(curlTick(ctx.server.base, tick('E2E-CNDL', '10', { ts: second })).status, 202);
  await waitForView(ctx.server.base, 'E2E-CNDL');
  const page = await ctx.browser.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(`${ctx.server.base}/symbols/E2E-CNDL?interval=1s`);
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  assert.equal(await page.locator('.intervals a[aria-current="page"]').textContent(), '1s');
  const hasDatabase = MODE === 'embedded'; // the Redis runs have no DATABASE_URL
  if (hasDatabase) {
    await page.waitForSelector('#candle-chart canvas', { timeout: 10_000 });
  } else {
    // Without a database the page says so, and keeps the live parts.
    await page.waitForSelector('text=candles needs a database');
  }
  assert.equal(curlTick(ctx.server.base, tick('E2E-CNDL', '12.5', { ts: second + 1 })).status, 202);
  await page.waitForFunction(() => document.querySelector('.ticks tbody tr .price')?.textContent === '12.5',
    null, { timeout: 5_000 });
  if (hasDatabase) {
    await page.waitForFunction(() => {
      const chart = window.echarts.getInstanceByDom(document.getElementById('candle-chart'));
      const data = chart?.getOption().series[0].data;
      return data?.length > 0 && data[data.length - 1][1] === 12.5; // the close
    }, null, { timeout: 5_000 });
    // The 1m candles are read from the store alone (history also merges the
    // ticks still on their way, so it cannot tell): wait until the store's
    // candle of the minute holds the second tick.
    for (let i = 0; ; i++) {
      const candles = await (await fetch(`${ctx.server.base}/api/symbols/E2E-CNDL/candles?interval=1m`)).json();
      if (candles.at(-1)?.close === '12.5') break;
      assert.ok(i < 100, `the tick was not persisted in 10 s: ${JSON.stringify(candles.at(-1))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.click('.intervals a:text-is("1m")');
    await page.waitForURL(`${ctx.server.base}/symbols/E2E-CNDL?interval=1m`);
    await page.waitForSelector('.intervals a[aria-current="page"]:text-is("1m")');
    const candles = await page.waitForFunction(() => {
      const chart = window.echarts.getInstanceByDom(document.getElementById('candle-chart'));
      const data = chart?.getOption().series[0].data;
      return data?.length > 0 && data;
    }, null, { timeout: 5_000 });
    const last = (await candles.jsonValue()).at(-1);
    assert.deepEqual(last, [10, 12.5, 10, 12.5], 'open, close, low, high of the minute');
  }
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('candles rise green and fall red, or blue and orange when chosen; volume has a grid of its own', async (t) => {
  if (MODE !== 'embedded') return t.skip('candles need a database: the Redis runs have none');
  const second = Math.floor(Date.now() / 1000) * 1000;
  curlTick(ctx.server.base, tick('E2E-COLR', '20', { ts: second }));
  await waitForView(ctx.server.base, 'E2E-COLR');
  const page = await ctx.browser.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(`${ctx.server.base}/symbols/E2E-COLR?interval=1s`);
  await page.waitForSelector('#candle-chart canvas', { timeout: 10_000 });
  const option = () => page.evaluate(() => {
    const o = window.echarts.getInstanceByDom(document.getElementById('candle-chart')).getOption();
    return { style: o.series[0].itemStyle, grids: o.grid.length, volume: o.series[1], xAxes: o.xAxis.map((a) => a.gridIndex ?? 0) };
  });
  const drawn = await option();
  // The theme's colours (style/main.css, light scheme): #0a7f3f and #c62828.
  assert.equal(drawn.style.color, '#0a7f3f', 'a rising body is green');
  assert.equal(drawn.style.borderColor, '#0a7f3f');
  assert.equal(drawn.style.color0, '#c62828', 'a falling body is red');
  assert.equal(drawn.style.borderColor0, '#c62828');
  assert.equal(drawn.grids, 2, 'candles and volume each have a grid');
  assert.deepEqual(drawn.xAxes, [0, 1]);
  assert.equal(drawn.volume.type, 'bar');
  assert.equal(drawn.volume.xAxisIndex, 1, 'the volume bars sit in the lower grid');
  assert.equal(drawn.volume.yAxisIndex, 1);
  // The colour-blind-safe pair, kept for the next visit.
  await page.check('input[name="palette"]');
  await page.waitForFunction(() => window.echarts.getInstanceByDom(document.getElementById('candle-chart'))
    .getOption().series[0].itemStyle.color === '#1f5fbf', null, { timeout: 5_000 });
  assert.equal((await option()).style.color0, '#c45a00');
  await page.reload();
  await page.waitForSelector('#candle-chart canvas', { timeout: 10_000 });
  await page.waitForFunction(() => window.echarts.getInstanceByDom(document.getElementById('candle-chart'))
    .getOption().series[0].itemStyle.color === '#1f5fbf', null, { timeout: 5_000 });
  assert.equal(await page.locator('input[name="palette"]').isChecked(), true);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.palette), 'colour-blind');
  await page.uncheck('input[name="palette"]');
  await page.waitForFunction(() => window.echarts.getInstanceByDom(document.getElementById('candle-chart'))
    .getOption().series[0].itemStyle.color === '#0a7f3f', null, { timeout: 5_000 });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('an unknown or malformed symbol gets a clear message', async () => {
  const page = await ctx.browser.newPage();
  await page.goto(`${ctx.server.base}/symbols/NOPE-NEVER`);
  await page.waitForSelector('text=No ticks of NOPE-NEVER yet');
  await page.goto(`${ctx.server.base}/symbols/bad%20symbol`);
  await page.waitForSelector('text=is not a symbol');
  await page.close();
});
