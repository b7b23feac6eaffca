// Watchlists on the dashboard in a real browser against a real server, with
// 500 symbols on the feed: a user signs in, creates a list "Tech", stars
// three symbols on the All tab, switches to the list's tab and sees only
// those three, updating live; removing one makes it disappear without a
// reload. The search narrows the 500 rows as you type; sorting by change %
// orders them. Without JavaScript the star is a form post.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, curlTick, tick, USER, PASSWORD as FEED_PASSWORD } from './support.mjs';

const PASSWORD = 'e2e-watcher-password';
const ctx = serverAndBrowser({ database: true });
const SYMBOLS = Array.from({ length: 500 }, (_, i) => `W${String(i).padStart(3, '0')}`);

/** Two ticks per symbol, so each has a change % of its own. */
async function feed(base) {
  const auth = 'Basic ' + Buffer.from(`${USER}:${FEED_PASSWORD}`).toString('base64');
  for (const round of [0, 1]) {
    const ticks = SYMBOLS.map((symbol, i) => tick(symbol, round === 0 ? '100' : String(100 + (((i * 7) % 41) - 20 || 21))));
    const r = await fetch(`${base}/ingest/ticks`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify(ticks),
    });
    assert.equal(r.status, 202, await r.text());
  }
  // One batch: when the first and the last symbol show their change, all do.
  for (let i = 0; i < 200; i++) {
    const views = await Promise.all(['W000', 'W499'].map(async (s) => {
      const r = await fetch(`${base}/api/symbols/${s}`);
      return r.ok ? r.json() : null;
    }));
    if (views.every((v) => v && Number(v.change_pct) !== 0)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the 500 symbols got no Views with their change');
}

async function signIn(page, user) {
  await page.goto(`${ctx.server.base}/login`);
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('form.login button[type="submit"]')]);
}

const rowCount = (page) => page.locator('#quotes tbody tr').count();

async function waitFor(page, predicate, arg, what) {
  await page.waitForFunction(predicate, arg, { timeout: 15_000 }).catch(async () => {
    throw new Error(`${what}; the page shows ${await page.locator('#row-count').textContent().catch(() => '?')}`);
  });
}

test('a list is made, starred into, followed live and searched; 500 rows sort by change', async () => {
  const { server } = ctx;
  await feed(server.base);
  server.user(['add', 'watcher'], `${PASSWORD}\n`);
  const page = await ctx.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page, 'watcher');
  assert.equal(new URL(page.url()).pathname, '/');
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  assert.equal((await page.locator('#row-count').textContent()).trim(), '500 of 500 shown');

  // A new list opens on its own, empty tab.
  await page.fill('#new-list-name', 'Tech');
  await Promise.all([page.waitForNavigation(), page.click('form.new-list button')]);
  const id = new URL(page.url()).searchParams.get('list');
  assert.ok(id, page.url());
  await page.waitForSelector('#nothing-shown');
  assert.match(await page.locator('#nothing-shown').textContent(), /empty/);

  // Three stars on the All tab, at once (no page load).
  await Promise.all([page.waitForNavigation(), page.click('#tabs a:text-is("All")')]);
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  assert.match(await page.locator('#star-target').textContent(), /Tech/);
  await page.evaluate(() => { window.stayed = true; });
  for (const s of ['W001', 'W002', 'W003']) {
    await page.click(`tr[data-symbol="${s}"] .star-button`);
    await page.waitForSelector(`tr[data-symbol="${s}"] .star-button[aria-pressed="true"]`);
  }
  assert.equal(await page.evaluate(() => window.stayed), true, 'starring loaded no page');
  await waitFor(page, async (listId) => {
    const lists = await (await fetch('/api/watchlists')).json();
    return lists.find((l) => String(l.id) === listId)?.symbols.join(',') === 'W001,W002,W003';
  }, id, 'the server has the three stars');

  // The list's tab: only those three, live.
  await Promise.all([page.waitForNavigation(), page.click(`#tabs a[data-list="${id}"]`)]);
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  assert.equal(await rowCount(page), 3);
  assert.deepEqual(await page.locator('#quotes tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.symbol)), ['W001', 'W002', 'W003']);
  assert.equal(curlTick(server.base, tick('W050', '555')).status, 202);
  assert.equal(curlTick(server.base, tick('W001', '123.25')).status, 202);
  await waitFor(page, () => document.querySelector('tr[data-symbol="W001"] .price')?.textContent === '123.25', null, 'W001 updates live');
  assert.equal(await page.locator('tr[data-symbol="W050"]').count(), 0, 'a symbol outside the list stays out');

  // Removing one: it disappears, without a reload.
  await page.evaluate(() => { window.stayed = true; });
  await page.click('tr[data-symbol="W002"] .star-button');
  await waitFor(page, () => !document.querySelector('tr[data-symbol="W002"]'), null, 'W002 leaves the list tab');
  assert.equal(await rowCount(page), 2);
  assert.equal(await page.evaluate(() => window.stayed), true);
  await waitFor(page, async (listId) => {
    const lists = await (await fetch('/api/watchlists')).json();
    return lists.find((l) => String(l.id) === listId)?.symbols.join(',') === 'W001,W003';
  }, id, 'the server has the removal');

  // The search narrows the 500 rows as you type.
  await Promise.all([page.waitForNavigation(), page.click('#tabs a:text-is("All")')]);
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  await page.fill('#search', 'w04');
  await waitFor(page, () => document.querySelectorAll('#quotes tbody tr').length === 10, null, 'ten rows match w04');
  assert.equal((await page.locator('#row-count').textContent()).trim(), '10 of 500 shown');
  const found = await page.locator('#quotes tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.symbol));
  assert.ok(found.every((s) => s.startsWith('W04')), found.join());
  await page.fill('#search', '');
  await waitFor(page, () => document.querySelectorAll('#quotes tbody tr').length >= 500, null, 'all rows are back');

  // Sorted by change %, biggest first, kept in the URL.
  await page.click('a.sort[data-sort="change"]');
  await page.waitForURL(/sort=change/);
  await waitFor(page, () => {
    const pct = [...document.querySelectorAll('#quotes tbody tr .change')].slice(0, 60)
      .map((c) => Number(c.textContent.match(/\(([-+]?[\d.]+)%\)/)?.[1]));
    return pct.length === 60 && pct.every((p, i) => i === 0 || p <= pct[i - 1]) && pct[0] > pct[59];
  }, null, 'rows ordered by change %');
  assert.deepEqual(errors, []);
  await page.close();
});

test('without JavaScript the star is a form post that comes back to the page', async () => {
  const { server } = ctx;
  const context = await ctx.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, 'watcher');
  const lists = await (await page.request.get(`${server.base}/api/watchlists`)).json();
  const tech = lists.find((l) => l.name === 'Tech');
  assert.ok(tech, JSON.stringify(lists));
  await page.goto(`${server.base}/?q=W010`);
  assert.equal(await page.locator('#quotes tbody tr').count(), 1, 'the search works as a query');
  await Promise.all([page.waitForNavigation(), page.click('tr[data-symbol="W010"] .star-button')]);
  assert.equal(new URL(page.url()).search, '?q=W010', 'back on the same page');
  assert.equal(await page.locator('tr[data-symbol="W010"] .star-button').getAttribute('aria-pressed'), 'true');
  const after = await (await page.request.get(`${server.base}/api/watchlists/${tech.id}`)).json();
  assert.ok(after.symbols.includes('W010'), JSON.stringify(after));
  await context.close();
});
