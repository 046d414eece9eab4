// login.test.mjs: the dashboard with login on ([http] dashboard_login = on,
// users written by `build/gasket passwd -r`): `/` leads to the login page, a
// wrong password is refused, the APIs and the WebSocket answer 401 without
// the session and work with it, an admin signs in and out, a viewer cannot
// acknowledge. Headless Chromium against a real gasketd. Run: make e2e.

import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import {Daemon, Browser, baseIni, reading, check, shootBoth, ensureBuilt, addUser,
  DESKTOP} from './harness.mjs';

let d, browser;

before(async () => {
  ensureBuilt();
  d = new Daemon((dir) => {
    const users = path.join(dir, 'dashboard_users');
    addUser(users, 'alice', 'alice pw', 'admin');
    addUser(users, 'victor', 'victor pw', 'viewer');
    return baseIni(dir, '', `dashboard_login = on\ndashboard_users = ${users}\n`);
  });
  await d.start();
  await d.post(reading('7', {co: 26.2, no2: 0.12}, {gps: '37.5665, 126.9780'}));
  await d.post(reading('7', {co: 26.2, no2: 95}, {gps: '37.5665, 126.9780'}));
  browser = await Browser.launch();
});

after(async () => {
  if (browser) await browser.close();
  if (d) assert.equal(await d.stop(), 0, 'gasketd exit code\n' + d.log());
});

const freshPage = () => browser.newPage();

async function signIn(page, user, password) {
  await page.goto(d.base + '/', {waitUntil: 'domcontentloaded'});
  await page.locator('#login').waitFor();
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.click('#sign-in');
}

// The status of a raw /mqtt upgrade from the page's origin.
function upgrade(headers) {
  return new Promise((resolve, reject) => {
    const s = net.connect(d.port, '127.0.0.1', () => {
      s.write(`GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nUpgrade: websocket\r\n` +
        'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n' +
        `Origin: ${d.base}\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n');
    });
    let data = '';
    s.on('data', (c) => {
      data += c;
      if (data.includes('\r\n\r\n')) {
        s.destroy();
        resolve(+data.split(' ')[1]);
      }
    });
    s.on('error', reject);
    s.setTimeout(5000, () => reject(new Error('no answer to the upgrade')));
  });
}

test('/ leads to the login page', async () => {
  const page = await freshPage();
  await page.goto(d.base + '/', {waitUntil: 'domcontentloaded'});
  await page.locator('#login').waitFor();
  assert.equal(await page.locator('#login h1').textContent(), 'Sign in');
  assert.equal(await page.locator('nav').count(), 0); // nothing of the data before it
  assert.equal(await page.locator('#cards').count(), 0);
  await shootBoth(page, 'login');
  await page.click('#lang');
  assert.equal(await page.locator('#login h1').textContent(), '로그인');
  assert.equal(await page.locator('label[for="password"]').textContent(), '비밀번호');
  await shootBoth(page, 'login-ko');
  await page.click('#lang');
  check(page);
  await page.context().close();
  // a browser that prefers Korean starts in Korean
  const ko = await browser.newPage({locale: 'ko-KR'});
  await ko.goto(d.base + '/', {waitUntil: 'domcontentloaded'});
  assert.equal(await ko.locator('#login h1').textContent(), '로그인');
  assert.equal(await ko.evaluate(() => document.documentElement.lang), 'ko');
  check(ko);
  await ko.context().close();
});

test('a wrong password is refused', async () => {
  const page = await freshPage();
  page.allowed.push((text, url) => /status of 401/.test(text) && /\/_dashboard\/login$/.test(url || ''));
  await signIn(page, 'alice', 'not her password');
  await page.locator('#login-error:not([hidden])').waitFor();
  assert.equal(await page.locator('#login-error').textContent(), 'Wrong user name or password.');
  assert.equal(await page.locator('#password').inputValue(), '');
  assert.equal(await page.locator('#cards').count(), 0);
  assert.deepEqual(await page.context().cookies(), []);
  check(page);
  await page.context().close();
});

test('without the session the APIs and the WebSocket answer 401; with it they work', async () => {
  for (const url of ['/gasdetect/_search', '/alarms']) {
    assert.equal((await d.request('GET', url)).status, 401, url);
  }
  const page = await freshPage();
  // what this browser sends with its WebSocket upgrades: its User-Agent
  const ua = {'User-Agent': await page.evaluate(() => navigator.userAgent)};
  assert.equal(await upgrade(ua), 401);
  await signIn(page, 'victor', 'victor pw');
  await page.locator('#cards .card').first().waitFor();
  await page.locator('#live[data-state="live"]').waitFor(); // the page's own WebSocket
  const [cookie] = await page.context().cookies();
  assert.equal(cookie.name, 'gasket_session');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  const header = {Cookie: `${cookie.name}=${cookie.value}`};
  assert.equal((await d.request('GET', '/alarms', null, header)).status, 200);
  assert.equal((await d.request('GET', '/gasdetect/_search', null, header)).status, 200);
  assert.equal(await upgrade({...header, ...ua}), 101);
  check(page);
  await page.context().close();
});

test('an admin signs in, sees the groups and the alarm, and logs out', async () => {
  const page = await freshPage();
  await signIn(page, 'alice', 'alice pw');
  await page.locator('.card[data-group="7"][data-status="warning"]').waitFor();
  assert.match(await page.locator('.user').textContent(), /alice/);
  await page.click('nav a[href="#/alarms"]');
  await page.locator('#active-alarms tr[data-group="7"] button[data-ack]').waitFor();
  // the session survives a reload (the cookie), then logging out ends it
  await page.reload({waitUntil: 'domcontentloaded'});
  await page.locator('#active-alarms tr[data-group="7"]').waitFor();
  await page.click('#logout');
  await page.locator('#login').waitFor();
  assert.equal(await page.evaluate(async () => (await (await fetch('/_dashboard/session')).json()).user), null);
  await page.reload({waitUntil: 'domcontentloaded'});
  await page.locator('#login').waitFor();
  check(page);
  await page.context().close();
});

test('a viewer cannot acknowledge', async () => {
  const page = await freshPage();
  page.allowed.push((text, url) => /status of 403/.test(text) && /\/ack$/.test(url || ''));
  await signIn(page, 'victor', 'victor pw');
  await page.locator('#cards .card').first().waitFor();
  await page.goto(d.base + '/#/alarms');
  const row = page.locator('#active-alarms tr[data-group="7"]');
  await row.waitFor();
  assert.equal(await row.locator('button').count(), 0);
  assert.match(await row.textContent(), /not yet/);
  await page.setViewportSize(DESKTOP);
  // asked all the same (with the CSRF token), gasketd refuses it
  const status = await page.evaluate(async (id) => {
    const s = await (await fetch('/_dashboard/session')).json();
    const r = await fetch(`/alarms/${id}/ack`, {method: 'POST', credentials: 'same-origin',
      headers: {'X-Gasket-CSRF': s.csrf, 'Content-Type': 'application/json'}, body: '{}'});
    return r.status;
  }, await row.getAttribute('data-alarm'));
  assert.equal(status, 403);
  const [a] = await d.alarms('?group=7');
  assert.equal(a.acked, null);
  check(page);
  await page.context().close();
});
