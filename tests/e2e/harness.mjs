// harness.mjs: what the dashboard's browser tests share: a real gasketd
// (GASKETD, default build/gasketd) on free loopback ports with a temporary
// data dir, readings posted through the HTTP API with an API key, and
// Debian's Chromium (/usr/bin/chromium, headless) driven by playwright-core.
// Any console error or uncaught exception of a page fails the test that
// was running (see Browser.check); screenshots go to build/e2e/.

import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {chromium} from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const GASKETD = process.env.GASKETD || path.join(ROOT, 'build', 'gasketd');
export const GASKET = process.env.GASKET || path.join(path.dirname(GASKETD), 'gasket');
export const SHOTS = path.join(ROOT, 'build', 'e2e');
export const KEY = 'e2e-device-key-0123456789abcdef';
export const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';
export const DESKTOP = {width: 1280, height: 860};
export const PHONE = {width: 390, height: 844};

// The rules every test daemon has (the levels the tests expect).
export const RULES = `
[rule no2]
field = no2.value
warn = 88
alarm = 120
clear = 80
unit = ppm

[rule co]
field = co.value
warn = 35
alarm = 200
unit = ppm

[rule h2]
field = h2.value
warn = 4000
alarm = 10000
unit = ppm
`;

// extra: sections appended; http: more [http] keys.
export function baseIni(dir, extra = '', http = '') {
  return `[server]
data_dir = ${path.join(dir, 'data')}
timezone = Asia/Seoul

[http]
listen = 127.0.0.1:0
${http}
[mqtt]
listen = 127.0.0.1:0

[route /gasdetector]
topic = pi/1

[apikey e2e]
key = ${KEY}
rate = 1000
burst = 1000

[apikey e2e-admin]
key = ${ADMIN_KEY}
admin = true
rate = 1000
burst = 1000
${RULES}${extra}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One gasketd process; start() waits for its listeners (from its log).
export class Daemon {
  constructor(ini, {dir} = {}) {
    this.dir = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'gasket-e2e-'));
    this.ini = typeof ini === 'function' ? ini(this.dir) : ini;
    this.conf = path.join(this.dir, 'gasketd.ini');
    this.logFile = path.join(this.dir, 'gasketd.log');
    this.proc = null;
  }

  async start(timeoutMs = 15000) {
    fs.writeFileSync(this.conf, this.ini);
    const log = fs.openSync(this.logFile, 'a');
    this.logStart = fs.statSync(this.logFile).size;
    this.proc = spawn(GASKETD, ['-c', this.conf], {cwd: this.dir, stdio: ['ignore', log, log]});
    fs.closeSync(log);
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r(code ?? sig)));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const text = this.log();
      const http = /http: listening on (\S+)/.exec(text), mqtt = /mqtt: listening on (\S+)/.exec(text);
      if (http && mqtt) {
        this.port = +http[1].split(':').pop();
        this.mqttPort = +mqtt[1].split(':').pop();
        this.base = `http://127.0.0.1:${this.port}`;
        return this;
      }
      if (this.proc.exitCode != null) throw new Error('gasketd exited:\n' + text);
      await sleep(20);
    }
    throw new Error('gasketd did not start:\n' + this.log());
  }

  log() {
    try {
      return fs.readFileSync(this.logFile, 'utf8').slice(this.logStart || 0);
    } catch {
      return '';
    }
  }

  // Stops it (SIGTERM) and returns its exit code.
  async stop() {
    if (!this.proc || this.proc.exitCode != null) return this.proc && this.proc.exitCode;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 20000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }

  // Starts it again on the same HTTP port (a restart the page must survive).
  async restart() {
    await this.stop();
    this.ini = this.ini.replace(/(\[http\]\nlisten = 127\.0\.0\.1:)\d+/, `$1${this.port}`);
    return this.start();
  }

  async request(method, url, body, headers = {}) {
    const res = await fetch(this.base + url, {method, headers: {'Content-Type': 'application/json', ...headers},
      body: body == null ? undefined : typeof body === 'string' ? body : JSON.stringify(body)});
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch { /* not JSON */ }
    return {status: res.status, headers: res.headers, text, json};
  }

  // POST /gasdetector with the device key: the route's rules judge it.
  async post(reading) {
    const r = await this.request('POST', '/gasdetector', reading, {'x-api-key': KEY});
    if (r.status !== 200) throw new Error(`POST /gasdetector: ${r.status} ${r.text}`);
    return r.json;
  }

  // POST /gasdetect/_doc: keeps the document's own `date` (an old reading).
  async postDoc(doc) {
    const r = await this.request('POST', '/gasdetect/_doc', doc, {'x-api-key': ADMIN_KEY});
    if (r.status !== 201) throw new Error(`POST _doc: ${r.status} ${r.text}`);
    return r.json;
  }

  // POST /_bulk of documents into gasdetect (their own `date`s kept).
  async bulk(docs) {
    const body = docs.map((x) => '{"index":{"_index":"gasdetect"}}\n' + JSON.stringify(x) + '\n').join('');
    const r = await this.request('POST', '/_bulk', body, {'x-api-key': ADMIN_KEY,
      'Content-Type': 'application/x-ndjson'});
    if (r.status !== 200 || r.json.errors) throw new Error(`POST _bulk: ${r.status} ${r.text.slice(0, 300)}`);
    return r.json;
  }

  async alarms(query = '') {
    const r = await this.request('GET', '/alarms' + query, null, {'x-api-key': ADMIN_KEY});
    if (r.status !== 200) throw new Error(`GET /alarms: ${r.status} ${r.text}`);
    return r.json.alarms;
  }
}

// A reading as the original devices sent it (values as strings).
export function reading(groupid, gases, extra = {}) {
  const doc = {groupid, ...extra};
  let n = 5;
  for (const [name, value] of Object.entries(gases)) {
    doc[name] = {sensorid: String(n++).padStart(4, '0'), sensortype: '8', value: String(value),
      createdtime: '2021-09-03 18:14:49'};
  }
  return doc;
}

// Chromium with one context and page per test file; collects every console
// error and uncaught exception. `allow(fn)` lists errors a step expects.
export class Browser {
  static async launch() {
    const b = new Browser();
    const args = ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--lang=en-US'];
    if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
    b.browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true, args, timeout: 30000});
    return b;
  }

  async newPage(opts = {}) {
    const context = await this.browser.newContext({viewport: DESKTOP, locale: 'en-US', timezoneId: 'UTC',
      acceptDownloads: true, ...opts});
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    page.errors = [];
    page.allowed = [];
    const note = (text, url) => {
      if (page.allowed.some((fn) => fn(text, url))) return;
      page.errors.push(url ? `${text} (${url})` : text);
    };
    page.on('console', (m) => {
      if (m.type() === 'error') note(m.text(), m.location() && m.location().url);
    });
    page.on('pageerror', (e) => note('uncaught: ' + (e.stack || e.message)));
    return page;
  }

  async close() {
    if (this.browser) await this.browser.close();
  }
}


// Throws when the page logged an error or threw.
export function check(page) {
  if (page.errors.length) {
    const list = page.errors.splice(0);
    throw new Error('the page logged errors:\n  ' + list.join('\n  '));
  }
}

export async function shoot(page, name) {
  fs.mkdirSync(SHOTS, {recursive: true});
  await page.screenshot({path: path.join(SHOTS, name + '.png'), fullPage: false});
}

// Every view at desktop and phone size: name-desktop.png, name-phone.png.
export async function shootBoth(page, name) {
  const size = page.viewportSize();
  await page.evaluate(() => document.querySelectorAll('.toast').forEach((e) => e.remove()));
  await page.setViewportSize(DESKTOP);
  await page.waitForTimeout(150); // uPlot resizes on the next frame
  await shoot(page, name + '-desktop');
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(150);
  await shoot(page, name + '-phone');
  // nothing wider than the phone's screen (no sideways scrolling)
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
  if (wide > 1) throw new Error(`${name}: the page is ${wide} px wider than a phone's screen`);
  await page.setViewportSize(size);
  await page.waitForTimeout(100);
}

// Adds a dashboard user to a users file with `build/gasket passwd -r ROLE`
// (the password on standard input; few iterations: a test).
export function addUser(file, user, password, role) {
  execFileSync(GASKET, ['passwd', '-i', '1000', '-r', role, file, user],
    {input: password + '\n', stdio: ['pipe', 'pipe', 'pipe']});
}

export function ensureBuilt() {
  if (!fs.existsSync(GASKETD)) throw new Error(`no ${GASKETD}: run make first`);
}
