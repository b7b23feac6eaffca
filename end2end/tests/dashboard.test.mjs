// The live dashboard in a real browser against a real server and Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openDashboard, curlTick, tick, waitForView } from './support.mjs';

const ctx = serverAndBrowser();

test('a tick posted with curl appears on the open dashboard within one second, and in the API', async () => {
  const page = await openDashboard(ctx.browser, ctx.server.base);
  const posted = curlTick(ctx.server.base, tick('e2e-one', '123.45'));
  assert.equal(posted.status, 202);
  assert.deepEqual(posted.body, { accepted: 1, duplicates: 0 });
  // The acceptance bound of the issue: visible within one second of the 202.
  await page.waitForFunction(
    () => document.querySelector('tr[data-symbol="E2E-ONE"] .price')?.textContent === '123.45',
    null, { timeout: 1_000 });
  // The symbol endpoint serves the View, computed a moment after ingest.
  const view = await waitForView(ctx.server.base, 'E2E-ONE');
  assert.equal(view.last.price, '123.45');
  const listed = await (await fetch(`${ctx.server.base}/api/symbols`)).json();
  assert.equal(listed.find((t) => t.symbol === 'E2E-ONE')?.price, '123.45');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the dashboard fetches no chart library; its build files are named by content and kept for good', async () => {
  curlTick(ctx.server.base, tick('E2E-NOCHART', '5'));
  const page = await ctx.browser.newPage();
  const requested = [];
  page.on('request', (r) => requested.push(new URL(r.url()).pathname));
  const files = new Map();
  page.on('response', (r) => files.set(new URL(r.url()).pathname, r.headers()));
  await page.goto(ctx.server.base + '/');
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  await page.waitForSelector('tr[data-symbol="E2E-NOCHART"]');
  assert.deepEqual(requested.filter((p) => p.includes('echarts')), [], 'no ECharts on the dashboard');
  const wasm = requested.find((p) => /^\/pkg\/tickpulse\.[A-Za-z0-9_-]{16}\.wasm$/.test(p));
  assert.ok(wasm, `the hashed WASM was fetched: ${requested.join(' ')}`);
  assert.equal(files.get(wasm)['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(files.get('/')['cache-control'], 'no-cache');
  assert.ok(requested.some((p) => /^\/pkg\/tickpulse\.[A-Za-z0-9_-]{16}\.css$/.test(p)), 'the hashed stylesheet');
  assert.equal(typeof (await page.evaluate(() => window.echarts)), 'undefined');
  // A symbol page reached from here loads the library then, and draws.
  await page.click('tr[data-symbol="E2E-NOCHART"] a');
  await page.waitForURL(`${ctx.server.base}/symbols/E2E-NOCHART`);
  await page.waitForSelector('#price-chart canvas', { timeout: 10_000 });
  const charts = new Set(requested.filter((p) => p.includes('echarts')));
  assert.equal(charts.size, 1, `one library file: ${[...charts].join(' ')}`);
  assert.match([...charts][0], /^\/echarts\.[A-Za-z0-9_-]{16}\.js$/);
  await page.close();
});

test('the same event_id twice counts as a duplicate and shows once', async () => {
  const page = await openDashboard(ctx.browser, ctx.server.base);
  const t = tick('E2E-DUP', '10');
  assert.deepEqual(curlTick(ctx.server.base, t).body, { accepted: 1, duplicates: 0 });
  assert.deepEqual(curlTick(ctx.server.base, { ...t, price: '11' }).body, { accepted: 0, duplicates: 1 });
  await page.waitForSelector('tr[data-symbol="E2E-DUP"]');
  assert.equal(await page.locator('tr[data-symbol="E2E-DUP"]').count(), 1);
  assert.equal(await page.locator('tr[data-symbol="E2E-DUP"] .price').textContent(), '10');
  await page.close();
});

test('a row updates in place and flashes up, then down', async () => {
  curlTick(ctx.server.base, tick('E2E-FLASH', '100'));
  const page = await openDashboard(ctx.browser, ctx.server.base);
  const row = page.locator('tr[data-symbol="E2E-FLASH"]');
  await row.waitFor();
  // Mark the element: an in-place update keeps it, a re-render would not.
  await row.evaluate((el) => { el.dataset.marker = 'kept'; });
  curlTick(ctx.server.base, tick('E2E-FLASH', '101.5'));
  await page.waitForSelector('tr[data-symbol="E2E-FLASH"].up');
  assert.equal(await row.locator('.price').textContent(), '101.5');
  assert.equal(await row.getAttribute('data-marker'), 'kept');
  assert.match(await row.locator('.change').textContent(), /^\+1\.5 \(\+1\.5%\)$/);
  curlTick(ctx.server.base, tick('E2E-FLASH', '99'));
  await page.waitForSelector('tr[data-symbol="E2E-FLASH"].down');
  assert.match(await row.locator('.change').textContent(), /^-1 \(-1%\)$/);
  await page.close();
});

test('the table is rendered on the server: it is there without JavaScript', async () => {
  curlTick(ctx.server.base, tick('E2E-SSR', '42'));
  await waitForView(ctx.server.base, 'E2E-SSR'); // the table shows views
  const context = await ctx.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(ctx.server.base + '/');
  assert.equal(await page.locator('tr[data-symbol="E2E-SSR"] .price').textContent(), '42');
  assert.equal(await page.locator('.quotes th', { hasText: 'Source' }).count(), 1);
  await context.close();
});

test('the dashboard reconnects by itself after a server restart', async () => {
  const page = await openDashboard(ctx.browser, ctx.server.base);
  await ctx.server.stop();
  await page.waitForSelector('.status.reconnecting', { timeout: 10_000 });
  // View events are not replayed on resume: the page reads all views again.
  const reread = page.waitForRequest((r) => r.url().includes('load_views'), { timeout: 15_000 });
  await ctx.server.start();
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  await reread;
  curlTick(ctx.server.base, tick('E2E-AFTER', '7.25'));
  await page.waitForFunction(
    () => document.querySelector('tr[data-symbol="E2E-AFTER"] .price')?.textContent === '7.25',
    null, { timeout: 5_000 });
  await page.close();
});

test('dark and light schemes follow the system setting', async () => {
  const page = await ctx.browser.newPage();
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(ctx.server.base + '/');
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({ colorScheme: 'light' });
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(dark, light);
  assert.equal(light, 'rgb(247, 248, 250)');
  await page.close();
});

test('the policy is enforced and its refusals are recorded: an injected inline script does not run', async () => {
  const page = await openDashboard(ctx.browser, ctx.server.base);
  const before = ctx.browser.cspViolations.length;
  const ran = await page.evaluate(async () => {
    const script = document.createElement('script');
    script.textContent = 'window.injected = true;';
    document.head.appendChild(script);
    await new Promise((r) => setTimeout(r, 100));
    return window.injected === true;
  });
  assert.equal(ran, false, 'an inline script without the nonce ran');
  for (let i = 0; i < 20 && ctx.browser.cspViolations.length === before; i++) await new Promise((r) => setTimeout(r, 100));
  // What the policy refused here is this test's own doing: taken off the list.
  const recorded = ctx.browser.cspViolations.splice(before);
  assert.ok(recorded.length >= 1, 'the refusal was recorded');
  assert.match(recorded.join('\n'), /script-src/);
  assert.deepEqual(page.errors.filter((e) => !/Content Security Policy|CSP violation/.test(e)), []);
  await page.close();
});
