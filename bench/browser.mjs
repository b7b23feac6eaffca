// What the browser benchmarks (dashboard.mjs, page.mjs) share: their flags,
// a free port for a server of their own, Debian's headless Chromium, and
// the machine line of a report.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import net from 'node:net';

const require = createRequire(new URL('../end2end/package.json', import.meta.url));
const { chromium } = require('playwright-core');

/** `--name value` pairs of the command line. */
export function flags(argv = process.argv.slice(2)) {
  return Object.fromEntries(argv.reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []));
}

export async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Headless Chromium with the flags this machine's closed network needs. */
export function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', ...extra],
  });
}

export function machine(where) {
  const c = cpus();
  return `${c.length} cores (${c[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${execFileSync('/usr/bin/chromium', ['--version']).toString().trim()}, ${where}`;
}
