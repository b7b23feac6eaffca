// /api/graphql with clients nobody here wrote, as their users use them: the
// `graphql-ws` client (over the `ws` WebSocket) subscribes to a user's
// orders and to the live market, and sees an order fill and conflated
// ticks; a query over fetch answers what REST answers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { serverAndBrowser, curlTick, tick, waitForView } from './support.mjs';

const KEY = 'e2e-graphql-admin-key';
const SYMBOL = 'E2E-GQL';
const ctx = serverAndBrowser({ database: true, env: { ADMIN_API_KEY: KEY } });
const clients = [];
after(() => clients.forEach((c) => c.dispose()));

let prepared = null;
/** A user with a token, and a stock with a live price. */
async function prepare() {
  if (prepared) return prepared;
  const { server } = ctx;
  server.user(['add', 'grace'], 'a long enough password\n');
  const token = server.user(['token', 'grace']).split('\n')[0].trim();
  const put = await fetch(`${server.base}/api/admin/catalog/${SYMBOL}`, {
    method: 'PUT',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'GraphQL', available: 100 }),
  });
  assert.equal(put.status, 201);
  assert.equal(curlTick(server.base, tick(SYMBOL, '40')).status, 202);
  await waitForView(server.base, SYMBOL);
  prepared = { token };
  return prepared;
}

/** A graphql-ws client acting for `token`. */
function client(token) {
  class Authorized extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { headers: { authorization: `Bearer ${token}` } });
    }
  }
  const c = createClient({
    url: ctx.server.base.replace('http://', 'ws://') + '/api/graphql',
    webSocketImpl: Authorized,
    retryAttempts: 0,
  });
  clients.push(c);
  return c;
}

/** The first `count` results of a subscription, or what ended it. */
function take(c, query, until) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => reject(new Error(`timed out after ${JSON.stringify(seen)}`)), 15_000);
    const stop = c.subscribe({ query }, {
      next: (r) => {
        seen.push(r);
        if (until(r, seen)) { clearTimeout(timer); stop(); resolve(seen); }
      },
      error: (e) => { clearTimeout(timer); reject(e instanceof Error ? e : new Error(JSON.stringify(e))); },
      complete: () => { clearTimeout(timer); resolve(seen); },
    });
  });
}

test('a graphql-ws subscription sees the user\'s order fill', async () => {
  const { token } = await prepare();
  const c = client(token);
  let done = false;
  const filled = take(c, 'subscription { orders { order { number status symbol } fill { price quantity } } }',
    (r) => r.data?.orders?.order?.status === 'filled').finally(() => { done = true; });
  // The subscription has no first event to say it is live: an order a
  // second until one is seen filled.
  const numbers = [];
  while (!done && numbers.length < 10) {
    const placed = await fetch(`${ctx.server.base}/api/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ symbol: SYMBOL, side: 'buy', quantity: 2, type: 'market' }),
    });
    assert.equal(placed.status, 201);
    numbers.push((await placed.json()).number);
    await Promise.race([filled.catch(() => {}), new Promise((r) => setTimeout(r, 1_000))]);
  }
  const last = (await filled).at(-1).data.orders;
  assert.ok(numbers.includes(last.order.number), `${last.order.number} in ${numbers}`);
  assert.deepEqual(last.fill, { price: '40', quantity: 2 });
});

test('a graphql-ws market subscription gets a snapshot, then conflated ticks ending on the last price', async () => {
  const { token } = await prepare();
  const c = client(token);
  const query = `subscription { market(symbols: ["${SYMBOL}"], conflate: "200ms") {
    event id skipped snapshot { reset ticks { symbol price } } tick { symbol price } } }`;
  // The ticks go in once the snapshot came.
  const seen = take(c, query, (r) => {
    if (r.data?.market?.event === 'snapshot') {
      for (const price of ['41', '42', '43', '44', '45']) curlTick(ctx.server.base, tick(SYMBOL, price));
    }
    return r.data?.market?.tick?.price === '45';
  });
  const events = (await seen).map((r) => r.data.market);
  assert.equal(events[0].event, 'snapshot');
  const ticks = events.filter((e) => e.event === 'tick');
  assert.ok(ticks.length >= 1 && ticks.length <= 5);
  assert.equal(ticks.reduce((n, t) => n + t.skipped + 1, 0), 5, JSON.stringify(ticks));
  assert.ok(ticks.every((t) => typeof t.id === 'string'));
});

test('a query over fetch answers what REST answers', async () => {
  const { token } = await prepare();
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const rest = await (await fetch(`${ctx.server.base}/api/stocks/${SYMBOL}`)).json();
  const r = await fetch(`${ctx.server.base}/api/graphql`, {
    method: 'POST', headers,
    body: JSON.stringify({ query: `{ stock(symbol: "${SYMBOL}") { symbol name available price price_ts } }` }),
  });
  assert.equal(r.status, 200);
  const answer = await r.json();
  assert.deepEqual(answer.data.stock, rest);
});

test('GraphiQL is served from the site\'s own files under its Content Security Policy, and runs a query', async () => {
  await prepare();
  const page = await ctx.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const requested = [];
  page.on('request', (r) => requested.push(r.url()));
  const response = await page.goto(`${ctx.server.base}/graphiql`);
  assert.match(response.headers()['content-security-policy'], /default-src 'none'; script-src 'self'/);
  await page.waitForSelector('.graphiql-container', { timeout: 15_000 });
  await page.click('.graphiql-execute-button');
  await page.waitForFunction((symbol) => document.querySelector('.result-window')?.textContent.includes(symbol),
    SYMBOL, { timeout: 10_000 });
  const origins = new Set(requested.map((u) => new URL(u).origin));
  assert.deepEqual([...origins], [ctx.server.base], 'nothing from another origin');
  assert.deepEqual(errors, []);
  await page.close();
});
