// Sign-in and the admin health view in a real browser against a real
// server: an admin signs in and watches the view change live (a feed goes
// stale; in the Redis mode a second process is killed and goes down),
// signs out and is kept out; a viewer is kept out; a wrong password gets
// one generic message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, startServer, curlTick, tick, MODE } from './support.mjs';

const ADMIN = 'e2e-admin';
const ADMIN_PASSWORD = 'e2e-admin-password';
const ctx = serverAndBrowser({
  database: true,
  env: { ADMIN_USERNAME: ADMIN, ADMIN_PASSWORD, FEED_STALE_SECS: '3', HEARTBEAT_MS: '1000', NODE_ID: 'e2e-main' },
});

async function signIn(page, user, password) {
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('form.login button[type="submit"]')]);
}

/** Waits for the first admin, created just after the database is ready. */
async function adminExists() {
  for (let i = 0; i < 100; i++) {
    if (ctx.server.user(['list']).includes(ADMIN)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no first admin');
}

test('an admin signs in, watches the health view change live, signs out and is kept out', async () => {
  await adminExists();
  const page = await ctx.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The health view sends a visitor to the login page, and back after it.
  await page.goto(ctx.server.base + '/admin/health');
  assert.match(page.url(), /\/login\?next=\/admin\/health$/);
  await signIn(page, ADMIN, ADMIN_PASSWORD);
  assert.equal(new URL(page.url()).pathname, '/admin/health');
  await page.waitForSelector('tr[data-node="e2e-main"][data-status="up"]');
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  await page.waitForSelector('#ingest-chart canvas', { timeout: 10_000 });
  assert.match(await page.locator('.site .user').textContent(), /Signed in as e2e-admin \(admin\)/);

  // A feed sends a tick: it shows up live, then goes stale, with an alert.
  assert.equal(curlTick(ctx.server.base, tick('E2E-ADMIN', '10', { source: 'e2e-feed' })).status, 202);
  await page.waitForSelector('tr[data-feed="e2e-feed"][data-state="live"]', { timeout: 10_000 });
  await page.waitForSelector('tr[data-feed="e2e-feed"][data-state="stale"]', { timeout: 15_000 });
  await page.waitForSelector('tr.alert[data-kind="feed.stale"][data-subject="e2e-feed"]', { timeout: 10_000 });

  if (MODE === 'redis') {
    // A second process joins, then dies: the view shows it go down.
    const doomed = await startServer({ joins: ctx.server, env: { NODE_ID: 'e2e-doomed' } });
    try {
      await page.waitForSelector('tr[data-node="e2e-doomed"][data-status="up"]', { timeout: 15_000 });
      doomed.kill();
      await page.waitForSelector('tr[data-node="e2e-doomed"][data-status="down"]', { timeout: 20_000 });
      await page.waitForSelector('tr.alert[data-kind="node.down"][data-subject="e2e-doomed"]', { timeout: 10_000 });
      await page.waitForSelector('#latest-alert', { timeout: 10_000 });
    } finally {
      doomed.kill();
    }
  }

  // The filters keep what they name.
  await page.selectOption('select[name="scope"]', 'feed');
  await Promise.all([page.waitForURL(/scope=feed/), page.click('form.filters button')]);
  await page.waitForSelector('tr.alert[data-kind="feed.stale"]');
  assert.equal(await page.locator('tr.alert[data-kind^="node."]').count(), 0);

  // Signing out ends it: the page is closed to this browser again.
  await Promise.all([page.waitForNavigation(), page.click('.site form button')]);
  assert.match(page.url(), /\/login\?signed_out=1$/);
  await page.goto(ctx.server.base + '/admin/health');
  assert.match(page.url(), /\/login\?next=/);
  const api = await page.evaluate(async () => (await fetch('/api/admin/nodes')).status);
  assert.equal(api, 401);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a viewer cannot open the health view', async () => {
  await adminExists();
  ctx.server.user(['add', 'e2e-viewer'], 'viewer-password-1\n');
  const page = await ctx.browser.newPage();
  await page.goto(ctx.server.base + '/login');
  await signIn(page, 'e2e-viewer', 'viewer-password-1');
  assert.equal(new URL(page.url()).pathname, '/');
  assert.match(await page.locator('.site .user').textContent(), /e2e-viewer \(viewer\)/);
  assert.equal(await page.locator('.site a[href="/admin/health"]').count(), 0, 'no link to it');
  const response = await page.goto(ctx.server.base + '/admin/health');
  assert.equal(response.status(), 403);
  assert.match(await page.locator('main').textContent(), /This page is for admins/);
  await page.close();
});

test('a wrong password and an unknown user get the same single message', async () => {
  await adminExists();
  const page = await ctx.browser.newPage();
  const messages = [];
  for (const [user, password] of [[ADMIN, 'not-the-password'], ['nobody-here', 'whatever-pass']]) {
    await page.goto(ctx.server.base + '/login');
    await signIn(page, user, password);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(await page.locator('[role="alert"]').count(), 1);
    messages.push(await page.locator('#login-error').textContent());
  }
  assert.deepEqual(messages, ['Wrong user name or password.', 'Wrong user name or password.']);
  await page.close();
});
