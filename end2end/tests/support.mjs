// Shared by the browser tests: a real tickpulse server process on a free
// port, Debian's headless Chromium, and helpers to post ticks the way a
// feeder does. TICKPULSE_MODE chooses the server's mode: `redis` (default;
// the local Redis, under a key prefix of its own), `cluster` (the Redis
// Cluster at TEST_REDIS_CLUSTER_URL, which scripts/test.sh starts, with
// 6 partitions) or `embedded` (no Redis, a data folder of its own).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';

export const USER = 'e2e-feeder';
export const PASSWORD = 'e2e-secret';
const BIN = process.env.TICKPULSE_BIN ?? new URL('../../target/debug/tickpulse', import.meta.url).pathname;
const SITE_ROOT = process.env.SITE_ROOT ?? new URL('../../target/site', import.meta.url).pathname;
export const MODE = process.env.TICKPULSE_MODE ?? 'redis';
if (!['redis', 'cluster', 'embedded'].includes(MODE)) {
  throw new Error(`TICKPULSE_MODE must be redis, cluster or embedded, not ${MODE}`);
}
if (MODE === 'cluster' && !process.env.TEST_REDIS_CLUSTER_URL) {
  throw new Error('TICKPULSE_MODE=cluster needs TEST_REDIS_CLUSTER_URL (scripts/redis-cluster.sh start prints it)');
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Starts the server; `restart()` starts it again on the same port.
 * `options.env` adds settings; `options.database` gives the Redis mode an
 * SQLite database of its own (for accounts and alerts); `options.joins`
 * makes it a second process of that server (same Redis keys, same
 * database; Redis mode only). */
export async function startServer(options = {}) {
  const port = await freePort();
  const joins = options.joins;
  const prefix = joins ? joins.prefix : `e2e:${process.pid}:${Date.now()}:`;
  const base = `http://127.0.0.1:${port}`;
  const server = { base, prefix, port, child: null, log: '' };
  const dataDir = joins ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'tickpulse-e2e-'));
  const env = {
    ...process.env,
    TICKPULSE_ADDR: `127.0.0.1:${port}`,
    INGEST_USERNAME: USER,
    INGEST_PASSWORD: PASSWORD,
    SITE_ROOT,
    RUST_LOG: 'warn',
    ...(options.env ?? {}),
  };
  delete env.DATABASE_URL;
  if (MODE === 'embedded') {
    delete env.REDIS_URL;
    env.DATA_DIR = dataDir;
  } else {
    env.REDIS_URL = MODE === 'cluster'
      ? process.env.TEST_REDIS_CLUSTER_URL
      : process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
    if (MODE === 'cluster') env.BUS_PARTITIONS = '6';
    env.REDIS_KEY_PREFIX = prefix;
    if (joins?.env.DATABASE_URL) env.DATABASE_URL = joins.env.DATABASE_URL;
    else if (options.database) env.DATABASE_URL = `sqlite://${path.join(dataDir, 'e2e.db')}`;
  }
  server.env = env;
  /** Runs `tickpulse user ...` on this server's database. */
  server.user = (args, input = '') =>
    execFileSync(BIN, ['user', ...args], { env: { ...env, RUST_LOG: 'error' }, input }).toString();
  server.kill = () => server.child?.kill('SIGKILL');
  server.start = async () => {
    server.child = spawn(BIN, [], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.child.stdout.on('data', (d) => (server.log += d));
    server.child.stderr.on('data', (d) => (server.log += d));
    await waitReady(base, server);
  };
  server.stop = async () => {
    if (!server.child || server.child.exitCode !== null) return;
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGTERM');
    await exited;
  };
  server.restart = async () => {
    await server.stop();
    await server.start();
  };
  server.cleanup = async () => {
    await server.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    if (MODE === 'embedded' || joins) return;
    // Every node of a cluster (a key at a time: keys of different slots
    // cannot share a command; -c follows a replica's key to its master).
    for (const seed of env.REDIS_URL.split(',')) {
      const { hostname, port } = new URL(seed.trim());
      const node = ['-h', hostname, '-p', port || '6379'];
      const keys = execFileSync('redis-cli', [...node, '--scan', '--pattern', `${prefix}*`])
        .toString().split('\n').filter(Boolean);
      if (MODE === 'cluster') {
        for (const key of keys) execFileSync('redis-cli', ['-c', ...node, 'unlink', key]);
      } else {
        for (let i = 0; i < keys.length; i += 200) execFileSync('redis-cli', [...node, 'del', ...keys.slice(i, i + 200)]);
      }
    }
  };
  await server.start();
  return server;
}

async function waitReady(base, server) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${base}/health/readiness`);
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server at ${base} did not become ready:\n${server.log}`);
}

/** A server and a browser for the tests of one file: started before the
 * first test, stopped after the last. */
export function serverAndBrowser(options = {}) {
  const ctx = { server: null, browser: null };
  before(async () => {
    ctx.server = await startServer(options);
    ctx.browser = await launchBrowser();
  });
  after(async () => {
    const violations = ctx.browser?.cspViolations ?? [];
    await ctx.browser?.close();
    await ctx.server?.cleanup();
    if (violations.length) {
      const unguarded = (ctx.server?.log ?? '').split('\n').filter((l) => l.includes('page without its policy'));
      throw new Error(`Content Security Policy violations:\n${violations.join('\n')}\n${unguarded.join('\n')}`);
    }
  });
  return ctx;
}

/** Headless Chromium. Every page of it reports what the pages' Content
 * Security Policy refused into `browser.cspViolations`, which
 * `serverAndBrowser` requires to be empty at the end. */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  browser.cspViolations = [];
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    await context.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) =>
      console.error(`CSP violation: ${e.effectiveDirective} refused ${e.blockedURI || 'inline code'}`
        + ` (${e.target?.nonce ? 'with' : 'without'} a nonce, in ${e.documentURI}, under "${e.originalPolicy}")`)));
    context.on('console', (m) => {
      const text = m.text();
      if (/CSP violation|Content Security Policy/.test(text)) browser.cspViolations.push(`${m.location()?.url}: ${text}`);
    });
    return context;
  };
  browser.newPage = async (options) => {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    page.on('close', () => context.close().catch(() => {}));
    return page;
  };
  return browser;
}

/** Opens the dashboard and waits until it is live; collects page errors. */
export async function openDashboard(browser, base) {
  const page = await browser.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  const response = await page.goto(base + '/');
  const policy = response.headers()['content-security-policy'] ?? '';
  if (!policy.includes("'nonce-")) throw new Error(`the dashboard has no Content Security Policy with a nonce: ${policy}`);
  await page.waitForSelector('.status.live', { timeout: 15_000 });
  return page;
}

/** POSTs one tick with curl, exactly as a shell-script feeder would. */
export function curlTick(base, tick) {
  const out = execFileSync('curl', ['-sS', '-u', `${USER}:${PASSWORD}`, '-H', 'content-type: application/json',
    '-d', JSON.stringify(tick), '-w', '\n%{http_code}', `${base}/ingest/tick`]).toString();
  const [body, status] = out.trimEnd().split('\n');
  return { status: Number(status), body: JSON.parse(body) };
}

export function tick(symbol, price, extra = {}) {
  return { symbol, price, volume: '2', source: 'e2e', ts: Date.now(), event_id: `${symbol}-${price}-${Math.random()}`, ...extra };
}

export const rowPrice = (page, symbol) =>
  page.locator(`tr[data-symbol="${symbol}"] .price`).textContent({ timeout: 500 }).catch(() => null);

/** Waits until the calc stage has computed a View of `symbol`; returns it. */
export async function waitForView(base, symbol) {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${base}/api/symbols/${symbol}`);
    if (r.ok) return r.json();
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`no view of ${symbol} after 10 s`);
}
