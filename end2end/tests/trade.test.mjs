// Paper trading in a real browser against a real server: a visitor is sent
// to the login page; a user looks up a stock, buys 3 at market and sees the
// order filled, the position and its P&L move live with the price; a trade
// by someone else shows in the stock's available quantity without a
// reload; a limit order is placed and canceled; a refusal is shown in
// words; another user's order number is not found. The forms also work
// with JavaScript off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, curlTick, tick, waitForView } from './support.mjs';

const KEY = 'e2e-trade-admin-key';
const PASSWORD = 'e2e-trader-password';
const SYMBOL = 'E2E-TRD';
const ctx = serverAndBrowser({ database: true, env: { ADMIN_API_KEY: KEY } });

async function signIn(page, user) {
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('form.login button[type="submit"]')]);
}

let prepared = null;
/** Two users (one with a token), and a stock with a live price. */
async function prepare() {
  if (prepared) return prepared;
  const { server } = ctx;
  server.user(['add', 'trader'], `${PASSWORD}\n`);
  server.user(['add', 'other'], `${PASSWORD}\n`);
  const token = server.user(['token', 'other']).split('\n')[0].trim();
  const put = await fetch(`${server.base}/api/admin/catalog/${SYMBOL}`, {
    method: 'PUT',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'End to end', available: 20 }),
  });
  assert.equal(put.status, 201);
  assert.equal(curlTick(server.base, tick(SYMBOL, '50')).status, 202);
  await waitForView(server.base, SYMBOL);
  prepared = { token };
  return prepared;
}

/** Exact decimal strings as scaled integers (8 places), for sums. */
const units = (text) => {
  const [whole, frac = ''] = String(text).split('.');
  const sign = whole.startsWith('-') ? -1n : 1n;
  return sign * (BigInt(whole.replace('-', '')) * 100000000n + BigInt((frac + '00000000').slice(0, 8)));
};

/** The invariants over both users: the stock's shares are conserved, cash
 * plus what was bought minus what was sold is what they started with, and
 * nothing is negative. Each of `readers` reads the API as one user. */
async function invariants(readers) {
  let cash = 0n;
  let held = 0;
  let promised = 0;
  let flow = 0n;
  for (const read of readers) {
    const account = await read('/api/account');
    assert.ok(units(account.cash) >= 0n, JSON.stringify(account));
    cash += units(account.cash);
    for (const p of account.positions) {
      assert.ok(p.quantity >= 0 && p.reserved <= p.quantity);
      if (p.symbol === SYMBOL) held += p.quantity;
    }
    const { orders } = await read('/api/orders?limit=500');
    for (const { number } of orders) {
      const o = await read(`/api/orders/${number}`);
      let filled = 0;
      for (const f of o.fills ?? []) {
        filled += f.quantity;
        const amount = units(f.price) * BigInt(f.quantity);
        flow += o.side === 'buy' ? amount : -amount;
      }
      if (o.symbol === SYMBOL && o.side === 'buy' && ['new', 'partially_filled'].includes(o.status)) promised += o.quantity - filled;
    }
  }
  assert.equal(cash + flow, units('100000') * BigInt(readers.length), 'cash + bought − sold = users × starting cash');
  const stock = await (await fetch(`${ctx.server.base}/api/stocks/${SYMBOL}`)).json();
  assert.ok(stock.available >= 0);
  assert.equal(stock.available + held + promised, 20, 'available + held + promised = the initial quantity');
}

/** Reads the API as the user signed in on `page`, or with `token`. */
const asPage = (page) => (path) => page.evaluate(async (p) => (await fetch(p)).json(), path);
const asToken = (token) => async (path) =>
  (await fetch(`${ctx.server.base}${path}`, { headers: { authorization: `Bearer ${token}` } })).json();

async function order(page, fields) {
  const form = page.locator('#order-form');
  if (fields.side) await form.locator('select[name="side"]').selectOption(fields.side);
  await form.locator('input[name="quantity"]').fill(String(fields.quantity));
  await form.locator('select[name="kind"]').selectOption(fields.kind ?? 'market');
  if (fields.limit) await form.locator('input[name="limit_price"]').fill(fields.limit);
  await Promise.all([page.waitForNavigation(), form.locator('button[type="submit"]').click()]);
  return page.locator('#trade-notice').textContent();
}

async function textOf(page, selector, expected, timeout = 15_000) {
  await page.waitForFunction(
    ([s, want]) => document.querySelector(s)?.textContent.trim() === want,
    [selector, expected],
    { timeout },
  ).catch(async () => {
    const got = await page.locator(selector).textContent().catch(() => null);
    throw new Error(`${selector} shows ${JSON.stringify(got)}, not ${JSON.stringify(expected)}`);
  });
}

test('a user buys at market and watches the position, then places and cancels a limit order', async () => {
  const { token } = await prepare();
  const { server } = ctx;
  const page = await ctx.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // A visitor sees no Trade link, and is sent to sign in first.
  await page.goto(`${server.base}/symbols/${SYMBOL}`);
  await page.waitForSelector('.site a.user');
  assert.equal(await page.locator('#trade-symbol, #trade-link').count(), 0);
  await page.goto(`${server.base}/trade?symbol=${SYMBOL}`);
  assert.match(page.url(), /\/login\?next=/, 'a visitor signs in first');
  await signIn(page, 'trader');
  assert.equal(new URL(page.url()).pathname, '/trade');
  await page.goto(`${server.base}/symbols/${SYMBOL}`);
  await Promise.all([page.waitForNavigation(), page.click('#trade-symbol')]);
  assert.equal(new URL(page.url()).search, `?symbol=${SYMBOL}`);
  assert.equal(await page.locator('#trade-link').count(), 1);
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  await textOf(page, '#stock .price', '50');
  await textOf(page, '#stock .available', '20');

  const placed = await order(page, { quantity: 3 });
  assert.match(placed, /^Order \d+ placed: filled\.$/);
  await textOf(page, `#positions tr[data-symbol="${SYMBOL}"] .quantity`, '3');
  await textOf(page, '#stock .available', '17');
  await textOf(page, '#cash', '99850');
  await page.waitForSelector('.status.live', { timeout: 15_000 });

  // The price moves: the position's value and P&L follow, live.
  assert.equal(curlTick(server.base, tick(SYMBOL, '55')).status, 202);
  await textOf(page, `#positions tr[data-symbol="${SYMBOL}"] .price`, '55');
  await textOf(page, `#positions tr[data-symbol="${SYMBOL}"] .pnl`, '15');
  await textOf(page, '#equity', '100015');

  // Someone else buys: the stock's available quantity follows, pushed.
  const r = await fetch(`${server.base}/api/orders`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ symbol: SYMBOL, side: 'buy', quantity: 2, type: 'market' }),
  });
  assert.equal(r.status, 201);
  await textOf(page, '#stock .available', '15');

  // A limit buy under the market rests, then is canceled.
  const limit = await order(page, { quantity: 2, kind: 'limit', limit: '40' });
  const number = limit.match(/^Order (\d+) placed: new\.$/)?.[1];
  assert.ok(number, limit);
  await page.waitForSelector(`#open-orders tr[data-number="${number}"][data-status="new"]`);
  await textOf(page, '#reserved', '80');
  await Promise.all([
    page.waitForNavigation(),
    page.click(`#open-orders tr[data-number="${number}"] button`),
  ]);
  assert.equal(await page.locator('#trade-notice').textContent(), `Order ${number} canceled; what it held is released.`);
  await page.waitForSelector(`#history tr[data-number="${number}"][data-status="canceled"]`);
  await textOf(page, '#reserved', '0');

  // The order's number opens its detail, with its fill.
  const first = placed.match(/^Order (\d+)/)[1];
  await Promise.all([page.waitForNavigation(), page.click(`#history a[href="/trade/orders/${first}"]`)]);
  await page.waitForSelector('#order[data-status="filled"]');
  assert.equal(await page.locator('.fills tbody tr').count(), 1);

  // A refusal is said in words.
  await page.goto(`${server.base}/trade?symbol=${SYMBOL}`);
  const refused = await order(page, { quantity: 1000 });
  assert.equal(refused, 'Order refused: the house does not have that many shares available.');
  const bad = await order(page, { quantity: 'many' });
  assert.match(bad, /^Check quantity: /);
  assert.deepEqual(errors, []);
  await invariants([asPage(page), asToken(token)]);

  // Another user's order number is not found.
  const other = await ctx.browser.newPage();
  await other.goto(`${server.base}/login`);
  await signIn(other, 'other');
  const response = await other.goto(`${server.base}/trade/orders/${first}`);
  assert.equal(response.status(), 404);
  assert.equal(await other.locator('#order-missing').textContent(), `You have no order ${first}.`);
  await other.close();
  await page.close();
});

test('the forms work with JavaScript off', async () => {
  await prepare();
  const { server } = ctx;
  const context = await ctx.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${server.base}/login?next=/trade`);
  await signIn(page, 'other');
  await page.goto(`${server.base}/trade?symbol=${SYMBOL}`);
  assert.notEqual((await page.locator('#stock .price').textContent()).trim(), '—');
  const held = async () => Number(await page.locator(`#positions tr[data-symbol="${SYMBOL}"] .quantity`)
    .textContent({ timeout: 1_000 }).catch(() => '0'));
  const before = await held();
  const placed = await order(page, { quantity: 1 });
  assert.match(placed, /^Order \d+ placed: filled\.$/);
  assert.equal(await held(), before + 1);
  await context.close();
  const { token } = await prepare();
  const trader = ctx.server.user(['token', 'trader']).split('\n')[0].trim();
  await invariants([asToken(trader), asToken(token)]);
});
