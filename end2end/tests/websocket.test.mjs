// The WebSocket door (/api/ws) with Chromium's own WebSocket, from a page of
// the site, as a web app would use it: subscribe, ticks with positions,
// subscriptions that change on the same connection, conflation, errors that
// name the field, and a handshake from another site refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, curlTick, tick } from './support.mjs';

const ctx = serverAndBrowser();

/** A page of the site (under its Content Security Policy) with one
 * WebSocket open on the door; its messages are kept in `window.events`. */
async function socketPage(base) {
  const url = base.replace('http://', 'ws://') + '/api/ws';
  const page = await ctx.browser.newPage();
  await page.goto(base + '/login');
  await page.evaluate((url) => new Promise((resolve, reject) => {
    window.events = [];
    window.closeCode = null;
    window.ws = new WebSocket(url);
    window.ws.onmessage = (m) => window.events.push(JSON.parse(m.data));
    window.ws.onopen = () => resolve();
    window.ws.onclose = (e) => { window.closeCode = e.code; reject(new Error(`closed with ${e.code}`)); };
  }), url);
  return page;
}

const send = (page, message) => page.evaluate((m) => window.ws.send(JSON.stringify(m)), message);

/** Waits for the first event kept since `from` that `match` accepts. */
async function waitForEvent(page, match, from = 0) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const events = await page.evaluate((from) => window.events.slice(from), from);
    const found = events.find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no such event: ${match}`);
}

const count = (page) => page.evaluate(() => window.events.length);

test('a page subscribes over a WebSocket, gets ticks with positions, and changes what it follows on the same connection', async () => {
  curlTick(ctx.server.base, tick('E2E-WSA', '1'));
  const page = await socketPage(ctx.server.base);
  await send(page, { action: 'subscribe', symbols: ['E2E-WSA'] });
  const snapshot = await waitForEvent(page, (e) => e.event === 'snapshot');
  assert.equal(snapshot.data.reset, false);
  assert.deepEqual(snapshot.data.ticks.map((t) => t.price), ['1']);
  assert.ok(snapshot.id, 'a snapshot of everything followed carries its position');
  const subscribed = await waitForEvent(page, (e) => e.event === 'subscribed');
  assert.deepEqual(subscribed.data.symbols, ['E2E-WSA']);

  curlTick(ctx.server.base, tick('E2E-WSB', '7'));
  curlTick(ctx.server.base, tick('E2E-WSA', '2'));
  const live = await waitForEvent(page, (e) => e.event === 'tick');
  assert.equal(live.data.symbol, 'E2E-WSA', 'only the followed symbol');
  assert.equal(live.data.price, '2');
  // The position is the tick's stream id in its partition (one id per
  // partition, comma-separated, on a partitioned bus).
  assert.ok(live.id.split(',').includes(live.data.id), `${live.id} holds ${live.data.id}`);

  // Follow B as well, then drop A: without reconnecting.
  let from = await count(page);
  await send(page, { action: 'subscribe', symbols: ['E2E-WSB'] });
  const gained = await waitForEvent(page, (e) => e.event === 'snapshot', from);
  assert.deepEqual(gained.data.ticks.map((t) => t.symbol), ['E2E-WSB']);
  await send(page, { action: 'unsubscribe', symbols: ['E2E-WSA'] });
  await waitForEvent(page, (e) => e.event === 'subscribed' && e.data.symbols.length === 1, from);
  from = await count(page);
  curlTick(ctx.server.base, tick('E2E-WSA', '3'));
  curlTick(ctx.server.base, tick('E2E-WSB', '8'));
  const b = await waitForEvent(page, (e) => e.event === 'tick', from);
  assert.equal(b.data.symbol, 'E2E-WSB');
  assert.equal(await page.evaluate(() => window.events.filter((e) => e.event === 'tick' && e.data.price === '3').length), 0);
  await page.close();
});

test('a bad message gets an error naming its field, and the connection stays open', async () => {
  const page = await socketPage(ctx.server.base);
  await send(page, { action: 'subscribe', conflate: 'often' });
  const error = await waitForEvent(page, (e) => e.event === 'error');
  assert.equal(error.data.details[0].field, 'conflate');
  await send(page, { action: 'ping', data: 'hi' });
  const pong = await waitForEvent(page, (e) => e.event === 'pong');
  assert.equal(pong.data.data, 'hi');
  assert.equal(await page.evaluate(() => window.closeCode), null);
  await page.close();
});

test('conflation sends each symbol\'s latest price once per interval, with what it replaced', async () => {
  const page = await socketPage(ctx.server.base);
  await send(page, { action: 'subscribe', symbols: ['E2E-WSC'], conflate: '1s' });
  await waitForEvent(page, (e) => e.event === 'subscribed');
  const from = await count(page);
  for (let i = 1; i <= 5; i++) curlTick(ctx.server.base, tick('E2E-WSC', String(i)));
  const last = await waitForEvent(page, (e) => e.event === 'tick' && e.data.price === '5', from);
  const ticks = await page.evaluate((from) => window.events.slice(from).filter((e) => e.event === 'tick'), from);
  // Five ticks posted one after another within the interval: one or two
  // conflated events, the last standing for the ones it replaced.
  assert.ok(ticks.length <= 2, JSON.stringify(ticks));
  assert.equal(ticks.reduce((n, t) => n + t.data.skipped + 1, 0), 5);
  assert.equal(last.data.price, '5');
  await page.close();
});

test('a handshake from another site is refused', async () => {
  // A page of no site of ours (about:blank: origin "null", cross-site).
  const page = await ctx.browser.newPage();
  await page.goto('about:blank');
  const outcome = await page.evaluate((url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => resolve('open');
    ws.onclose = (e) => resolve(`closed ${e.code}`);
  }), ctx.server.base.replace('http://', 'ws://') + '/api/ws');
  assert.equal(outcome, 'closed 1006');
  await page.close();
});
