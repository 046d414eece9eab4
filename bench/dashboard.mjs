// dashboard.mjs: the dashboard's figures for bench/dashboard.sh, measured in
// Debian's Chromium (headless) through playwright-core (from tests/e2e).
//
//   node bench/dashboard.mjs --url http://127.0.0.1:P/ --groups G --group ID
//        [--loads N] [--charts N] [--heap-seconds S] [--sample-seconds S]
//
// 1. First load, N times, each in a new browser context (empty cache): from
//    the navigation's start to the moment the overview shows a card for
//    each of the G groups (performance.now() in the page, read on the
//    animation frame that sees them), and the bytes transferred (the
//    Resource Timing transferSize of the document and every file, before
//    the data requests; the same with the data requests).
// 2. 30-day chart, N times: on the group page, from the click on "30 d" to
//    the second animation frame after the charts hold the new data (every
//    gas of the group is charted, not only one).
// 3. JS heap: the overview open for S seconds while dashboard_feed.py posts
//    live readings; every sample, a garbage collection (CDP) and then
//    Runtime.getHeapUsage. Also the DOM node count.
// Prints lines `LOAD ...`, `CHART ...`, `HEAP ...`, `HEAPSUM ...`; exits 1
// on a page error or console error.
import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(ROOT, 'tests', 'e2e', 'package.json'));
const {chromium} = require('playwright-core');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const URL_ = args.url;
const GROUPS = Number(args.groups || 200);
const GROUP = args.group || '17';
const LOADS = Number(args.loads || 5);
const CHARTS = Number(args.charts || 5);
const HEAP_S = Number(args['heap-seconds'] || 600);
const SAMPLE_S = Number(args['sample-seconds'] || 30);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-precise-memory-info'],
});
let failures = 0;
function watch(page, what) {
  page.on('pageerror', (e) => { failures++; console.log(`ERROR ${what}: page error: ${e.message}`); });
  page.on('console', (m) => {
    if (m.type() === 'error') { failures++; console.log(`ERROR ${what}: console: ${m.text()}`); }
  });
}

async function newPage(what) {
  const ctx = await browser.newContext({viewport: {width: 1280, height: 860}});
  const page = await ctx.newPage();
  watch(page, what);
  return {ctx, page};
}

// 1. first loads
const loads = [];
for (let i = 0; i < LOADS; i++) {
  const {ctx, page} = await newPage('load');
  await page.goto(URL_, {waitUntil: 'commit'});
  const t = await page.waitForFunction((n) => document.querySelectorAll('li.card').length >= n &&
      performance.now(), GROUPS, {polling: 'raf', timeout: 60000});
  const ms = await t.jsonValue();
  const bytes = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    let files = nav.transferSize, all = nav.transferSize, body = nav.decodedBodySize;
    for (const r of performance.getEntriesByType('resource')) {
      all += r.transferSize;
      if (!/_search|_dashboard\/(session|login)|\/alarms/.test(r.name)) {
        files += r.transferSize;
        body += r.decodedBodySize;
      }
    }
    const each = [nav, ...performance.getEntriesByType('resource')]
      .map((r) => `${r.name.replace(location.origin, '')}=${r.transferSize}`);
    return {files, all, body, each};
  });
  if (i === 0) console.log('RESOURCES ' + bytes.each.join(' '));
  loads.push({ms, ...bytes});
  console.log(`LOAD i=${i + 1} interactive_ms=${ms.toFixed(0)} files_bytes=${bytes.files} ` +
              `files_decoded=${bytes.body} all_bytes=${bytes.all}`);
  await ctx.close();
}
console.log(`LOADSUM median_ms=${median(loads.map((l) => l.ms)).toFixed(0)} ` +
            `max_ms=${Math.max(...loads.map((l) => l.ms)).toFixed(0)} files_bytes=${loads[0].files} ` +
            `all_bytes=${median(loads.map((l) => l.all))}`);

// 2. 30-day charts
const charts = [];
{
  const {ctx, page} = await newPage('chart');
  for (let i = 0; i < CHARTS; i++) {
    await page.goto(URL_ + '#/group/' + encodeURIComponent(GROUP));
    await page.waitForSelector('.gas-panel [data-points]', {timeout: 60000});
    await page.waitForFunction(() => !/…/.test(document.getElementById('bucket').textContent),
                               null, {timeout: 60000});
    const r = await page.evaluate(() => new Promise((resolve) => {
      const info = document.getElementById('bucket');
      const t0 = performance.now();
      document.querySelector('[data-range="30d"]').click();
      let seenLoading = false;
      const tick = () => {
        const text = info.textContent;
        if (/…/.test(text)) seenLoading = true;
        if (seenLoading && text && !/…/.test(text) && document.querySelector('.gas-panel [data-points]')) {
          requestAnimationFrame(() => requestAnimationFrame(() => {
            const pts = [...document.querySelectorAll('.gas-panel [data-points]')]
              .map((e) => Number(e.dataset.points));
            resolve({ms: performance.now() - t0, charts: pts.length, points: pts[0], info: text});
          }));
          return;
        }
        if (performance.now() - t0 > 30000) { resolve({ms: NaN, info: text}); return; }
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    }));
    charts.push(r.ms);
    console.log(`CHART i=${i + 1} draw_ms=${r.ms.toFixed(0)} charts=${r.charts} points=${r.points} (${r.info})`);
  }
  await ctx.close();
}
console.log(`CHARTSUM median_ms=${median(charts).toFixed(0)} max_ms=${Math.max(...charts).toFixed(0)}`);

// 3. heap under live updates
{
  const {ctx, page} = await newPage('heap');
  const cdp = await ctx.newCDPSession(page);
  await page.goto(URL_);
  await page.waitForFunction((n) => document.querySelectorAll('li.card').length >= n, GROUPS,
                             {timeout: 60000});
  console.log('HEAPSTART');  // dashboard.sh starts the feed on this line
  const t0 = Date.now();
  const samples = [];
  for (;;) {
    await cdp.send('HeapProfiler.collectGarbage');
    const {usedSize} = await cdp.send('Runtime.getHeapUsage');
    const nodes = await page.evaluate(() => document.getElementsByTagName('*').length);
    const live = await page.evaluate(() => (document.getElementById('live') || {dataset: {}}).dataset.state || '');
    const s = (Date.now() - t0) / 1000;
    samples.push({s, used: usedSize});
    console.log(`HEAP t=${s.toFixed(0)} used_bytes=${usedSize} dom_nodes=${nodes} live=${live}`);
    if (s >= HEAP_S) break;
    await page.waitForTimeout(SAMPLE_S * 1000);
  }
  const base = samples.find((x) => x.s >= 60) || samples[0];
  const after = samples.filter((x) => x.s >= base.s);
  const lo = Math.min(...after.map((x) => x.used)), hi = Math.max(...after.map((x) => x.used));
  const last = samples[samples.length - 1];
  console.log(`HEAPSUM base_t=${base.s.toFixed(0)} base_bytes=${base.used} last_bytes=${last.used} ` +
              `min_bytes=${lo} max_bytes=${hi} last_vs_base=${(last.used / base.used).toFixed(3)} ` +
              `max_dev=${(Math.max(hi / base.used - 1, 1 - lo / base.used) * 100).toFixed(1)}%`);
  await ctx.close();
}
await browser.close();
if (failures) console.log(`FAILURES ${failures}`);
process.exit(failures ? 1 : 0);
