// The last step of the site build (scripts/build-site.sh): after the WASM,
// its JS glue and the stylesheet are in <site>/pkg, this
//   1. bundles the chart library's subset (echarts.mjs) into <site>/echarts.js,
//      and GraphiQL (graphiql.mjs, for /graphiql) into <site>/graphiql.js and
//      .css;
//   2. names each build file by its content (tickpulse.<hash>.js, .wasm,
//      .css, echarts.<hash>.js) and writes <site>/pkg/hash.txt, which the
//      server reads to put those names into the page (and to serve them as
//      immutable);
//   3. writes .br and .gz beside every compressible file, so the server
//      sends them as they are, at no CPU cost per request.
// Usage: node web/build.mjs <site> [debug|release]
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const [site, mode = 'debug'] = process.argv.slice(2);
if (!site || !['debug', 'release'].includes(mode)) {
  console.error('usage: node web/build.mjs <site> [debug|release]');
  process.exit(2);
}
const release = mode === 'release';
const pkg = join(site, 'pkg');
const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;

// 1. The chart library: only the series and components the site draws.
await build({
  entryPoints: [join(here, 'echarts.mjs')],
  bundle: true,
  minify: true,
  format: 'iife',
  globalName: 'echarts',
  legalComments: 'none',
  outfile: join(site, 'echarts.js'),
  logLevel: 'warning',
});
writeFileSync(join(site, 'echarts.LICENSE.txt'), ['echarts', 'zrender']
  .map((name) => `${name} (bundled into echarts.<hash>.js)\n\n${readFileSync(join(here, 'node_modules', name, 'LICENSE'), 'utf8')}`)
  .join('\n\n'));

// GraphiQL, for /graphiql alone (no page of the site loads it).
await build({
  entryPoints: [join(here, 'graphiql.mjs')],
  bundle: true,
  minify: true,
  format: 'iife',
  legalComments: 'none',
  define: { 'process.env.NODE_ENV': '"production"' },
  outfile: join(site, 'graphiql.js'),
  logLevel: 'warning',
});
// Its stylesheet embeds its fonts as data: URLs, which the pages' policy
// refuses (font-src 'self'): the page uses the system's fonts instead.
const graphiqlCss = join(site, 'graphiql.css');
writeFileSync(graphiqlCss, readFileSync(graphiqlCss, 'utf8').replace(/@font-face\{[^}]*\}/g, ''));
writeFileSync(join(site, 'graphiql.LICENSE.txt'), ['graphiql', 'react', 'react-dom']
  .map((name) => `${name} (bundled into graphiql.<hash>.js)\n\n${readFileSync(join(here, 'node_modules', name, 'LICENSE'), 'utf8')}`)
  .join('\n\n'));

// 2. Content-hashed names. Leptos reads `js` and `wasm` from hash.txt and
// names them <output>.<hash>.js and <output>.<hash>.wasm.
const hashed = [
  { key: 'js', from: join(pkg, 'tickpulse.js'), dir: pkg, name: (h) => `tickpulse.${h}.js` },
  { key: 'wasm', from: join(pkg, 'tickpulse_bg.wasm'), dir: pkg, name: (h) => `tickpulse.${h}.wasm` },
  { key: 'css', from: join(pkg, 'tickpulse.css'), dir: pkg, name: (h) => `tickpulse.${h}.css` },
  { key: 'echarts', from: join(site, 'echarts.js'), dir: site, name: (h) => `echarts.${h}.js` },
  { key: 'graphiql', from: join(site, 'graphiql.js'), dir: site, name: (h) => `graphiql.${h}.js` },
  { key: 'graphiql_css', from: join(site, 'graphiql.css'), dir: site, name: (h) => `graphiql.${h}.css` },
];
const current = new Set();
const lines = [];
for (const file of hashed) {
  if (!existsSync(file.from)) {
    console.error(`missing ${file.from}: run scripts/build-site.sh, which builds it first`);
    process.exit(1);
  }
  const hash = createHash('sha256').update(readFileSync(file.from)).digest('base64url').slice(0, 16);
  const to = join(file.dir, file.name(hash));
  renameSync(file.from, to);
  current.add(to);
  lines.push(`${file.key}: ${hash}`);
}
writeFileSync(join(pkg, 'hash.txt'), `${lines.join('\n')}\n`);
// Names of earlier builds go, so the folder holds one version.
const stale = /^(tickpulse|echarts|graphiql)\.[A-Za-z0-9_-]{16}\.(js|wasm|css)(\.br|\.gz)?$/;
for (const dir of [site, pkg]) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (stale.test(name) && !current.has(path.replace(/\.(br|gz)$/, ''))) rmSync(path);
  }
}

// 3. Precompressed copies, best effort in a release build, quick in debug.
const compressible = /\.(js|wasm|css|svg|txt|json|html)$/;
const minBytes = 1024; // the same floor as the server's compression layer
const walk = (dir) => readdirSync(dir).flatMap((name) => {
  const path = join(dir, name);
  return statSync(path).isDirectory() ? walk(path) : [path];
});
const rows = [];
for (const path of walk(site)) {
  if (!compressible.test(path)) continue;
  const body = readFileSync(path);
  if (body.length < minBytes) continue;
  const br = brotliCompressSync(body, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: release ? 11 : 5,
      [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
    },
  });
  const gz = gzipSync(body, { level: release ? 9 : 6 });
  writeFileSync(`${path}.br`, br);
  writeFileSync(`${path}.gz`, gz);
  rows.push(`    ${relative(site, path).padEnd(40)} ${kb(body.length).padStart(9)}  br ${kb(br.length).padStart(8)}  gz ${kb(gz.length).padStart(8)}`);
}
console.log(`==> site files named by content and precompressed (${mode}):`);
console.log(rows.join('\n'));
