// app.js: the dashboard's start. It gets a session (GET /_dashboard/session;
// when gasketd needs no login, POST /_dashboard/login {} makes one; else the
// login page), loads every group's newest reading and the alarms through the
// public APIs, follows the live topics over MQTT/WebSocket, and shows the
// view the location's hash names: #/ (overview), #/group/ID, #/alarms,
// #/map.

import * as api from './api.js';
import {h, setText} from './dom.js';
import {t, getLang, setLang, setZone, fmtAgo} from './i18n.js';
import {state, subscribe, notify, setConfig, putReading, setAlarms, levelOf, RANK} from './state.js';
import {connectLive} from './live.js';
import {overviewView} from './views/overview.js';
import {groupView} from './views/group.js';
import {alarmsView} from './views/alarms.js';
import {mapView} from './views/map.js';
import {loginView} from './views/login.js';

const REFRESH_MS = 60000; // a full reload of the data, besides the live feed

const app = {
  main: null, header: null, view: null, live: null, timers: [], login: null,
  liveHooks: new Set(), // fn(groupid, source) of views (the group chart)
};

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const m = /^\/group\/(.+)$/.exec(hash);
  if (m) {
    let id = m[1];
    try {
      id = decodeURIComponent(id);
    } catch { /* shown as written */ }
    return {name: 'group', id};
  }
  if (hash === '/alarms') return {name: 'alarms'};
  if (hash === '/map') return {name: 'map'};
  return {name: 'overview'};
}

// ---- the frame: header with navigation, live mark, language, user ----

function renderHeader() {
  const r = state.session ? route().name : '';
  const link = (name, href, ...label) => h('a', {href, class: 'nav-link',
    'aria-current': r === name ? 'page' : null}, label);
  const activeCount = state.active.filter((a) => a.state === 'active').length;
  const nav = state.session ? h('nav', {'aria-label': t('mainNav')},
    link('overview', '#/', t('overview')),
    link('alarms', '#/alarms', t('alarms'), ' ', h('span', {class: 'count-badge', id: 'alarm-count',
      hidden: !activeCount}, String(activeCount))),
    link('map', '#/map', t('map'))) : null;
  const liveMark = state.session ? h('span', {class: 'live', id: 'live', dataset: {state: state.live},
    title: t('liveTitle'), role: 'status'}, h('span', {class: 'dot', 'aria-hidden': 'true'}),
  h('span', {class: 'live-text'}, liveText())) : null;
  const user = state.session && state.session.user ? h('span', {class: 'user',
    title: t('signedInAs', {user: state.session.user, role: t('role_' + state.session.role)})},
  state.session.user, h('span', {class: 'role'}, t('role_' + state.session.role))) : null;
  const out = state.session && state.session.login_required ? h('button', {type: 'button',
    class: 'btn btn-quiet', id: 'logout', onclick: doLogout}, t('logout')) : null;
  const lang = h('button', {type: 'button', class: 'btn btn-quiet', id: 'lang',
    lang: getLang() === 'ko' ? 'en' : 'ko', title: t('langSwitchTitle'),
    onclick: () => switchLang(getLang() === 'ko' ? 'en' : 'ko')}, t('langSwitch'));
  app.header.replaceChildren(
    h('a', {class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); app.main.focus(); }},
      t('skip')),
    h('div', {class: 'bar'},
      h('a', {class: 'brand', href: '#/'}, h('img', {class: 'logo', src: '/_dashboard/favicon.svg', alt: ''}), 'gasket'),
      nav, h('span', {class: 'spacer'}), liveMark, lang, user, out));
}

function updateAlarmCount() {
  const el = document.getElementById('alarm-count');
  if (!el) return;
  const n = state.active.filter((a) => a.state === 'active').length;
  el.hidden = !n;
  setText(el, n);
}

function liveText() {
  return t(state.live === 'live' ? 'live' : state.live === 'reconnecting' ? 'reconnecting' : 'disconnected');
}

function updateLiveMark() {
  const el = document.getElementById('live');
  if (!el) return;
  el.dataset.state = state.live;
  setText(el.querySelector('.live-text'), liveText());
}

function switchLang(l) {
  setLang(l);
  renderHeader();
  document.getElementById('lang').focus();
  if (state.session) show();
  else if (app.login) {
    const typed = document.getElementById('user');
    showLogin(app.login.message, typed ? typed.value : '');
  }
}

// ---- views ----

function show() {
  if (app.view) app.view.destroy();
  app.view = null;
  if (!state.session) return;
  const r = route();
  if (!document.getElementById('live')) renderHeader();
  for (const a of app.header.querySelectorAll('.nav-link')) {
    const here = {'#/': 'overview', '#/alarms': 'alarms', '#/map': 'map'}[a.getAttribute('href')] === r.name;
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const make = {overview: overviewView, group: groupView, alarms: alarmsView, map: mapView}[r.name];
  app.view = make(app.main, {id: r.id, liveHooks: app.liveHooks, toast, reloadAlarms});
  document.title = (r.name === 'group' ? t('groupTitle', {id: r.id}) : t(r.name)) + ' · gasket';
}

function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  const el = h('div', {class: 'toast toast-' + kind, role: kind === 'error' ? 'alert' : 'status'}, text);
  box.append(el);
  setTimeout(() => el.remove(), 5000);
}

function fatal(text, retry) {
  app.main.replaceChildren(h('div', {class: 'panel fatal', role: 'alert'},
    h('p', null, text), retry ? h('button', {type: 'button', class: 'btn', onclick: retry}, t('retry')) : null));
}

// ---- data ----

async function loadGroups() {
  const lists = await Promise.all(state.config.indexes.map(async (ix) => {
    try {
      return {ix, list: await api.latestPerGroup(ix)};
    } catch (e) {
      if (e.status === 404) return {ix, list: []}; // no document yet
      throw e;
    }
  }));
  for (const {ix, list} of lists) for (const g of list) putReading(g.groupid, ix, g.source, g.ts);
  notify('groups');
}

let alarmsPending = null;

// Reloads the alarms (at most one request at a time; a call during one
// asks for one more after it).
function reloadAlarms() {
  if (alarmsPending) {
    alarmsPending.again = true;
    return alarmsPending.p;
  }
  const run = {again: false};
  run.p = (async () => {
    try {
      const [recent, active] = await Promise.all([api.alarms({limit: 100}),
        api.alarms({active: 'true', limit: 1000})]);
      setAlarms((recent && recent.alarms) || [], (active && active.alarms) || []);
      updateAlarmCount();
      notify('alarms');
    } catch (e) {
      if (e.status !== 401) toast(t('error', {msg: e.message}), 'error');
    } finally {
      alarmsPending = null;
      if (run.again) reloadAlarms();
    }
  })();
  alarmsPending = run;
  return run.p;
}

async function refreshAll() {
  try {
    await Promise.all([loadGroups(), reloadAlarms()]);
  } catch (e) {
    if (e.status !== 401) toast(t('cannotReach', {msg: e.message}), 'error');
  }
}

// ---- live ----

let pendingGroups = false;

function onLiveMessage(topic, text) {
  const cfg = state.config;
  const prefix = cfg.live_topic + '/';
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return; // not JSON: not ours to show
  }
  if (cfg.live_topic && topic.startsWith(prefix)) {
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return;
    const id = msg.groupid != null ? String(msg.groupid) : topic.slice(prefix.length);
    const old = state.groups.get(id);
    const before = old ? valueLevel(old) : 'ok';
    if (putReading(id, old ? old.index : cfg.indexes[0], msg, NaN)) {
      // a level crossed: the alarm list changes too (its alert may have
      // come before the alarm was listed)
      if (valueLevel(state.groups.get(id)) !== before) reloadAlarms();
      for (const fn of app.liveHooks) fn(id, msg);
      if (!pendingGroups) {
        pendingGroups = true;
        requestAnimationFrame(() => {
          pendingGroups = false;
          notify('groups');
        });
      }
    }
    return;
  }
  if (cfg.alert_topics.includes(topic)) {
    if (msg && typeof msg === 'object' && 'emergency' in msg) toast(t('emergency'), 'error');
    reloadAlarms();
  }
}

// The worst level of a group's newest values under the rules.
function valueLevel(g) {
  let worst = 'ok';
  for (const [name, v] of g.gases) {
    const l = levelOf(g.id, name, v);
    if (RANK[l] > RANK[worst]) worst = l;
  }
  return worst;
}

function startLive() {
  const cfg = state.config;
  const topics = [];
  if (cfg.live_topic) topics.push({topic: cfg.live_topic + '/+', qos: 0});
  for (const a of cfg.alert_topics) topics.push({topic: a, qos: 1});
  app.live = connectLive({
    topics,
    onMessage: onLiveMessage,
    onState: (s) => {
      if (state.live === s) return;
      state.live = s;
      updateLiveMark();
      notify('live');
    },
    onReconnected: refreshAll, // readings missed while away
    onFailed: checkSession,
  });
}

// ---- session ----

async function start(session) {
  state.session = session;
  api.setCsrf(session.csrf);
  setConfig(session.config);
  setZone(state.config.timezone);
  renderHeader();
  app.main.replaceChildren(h('p', {class: 'loading'}, t('loading')));
  try {
    await Promise.all([loadGroups(), reloadAlarms()]);
  } catch (e) {
    if (e.status === 401) return;
    fatal(t('cannotReach', {msg: e.message}), () => location.reload());
    return;
  }
  startLive();
  app.timers.push(setInterval(refreshAll, REFRESH_MS));
  app.timers.push(setInterval(tick, 1000));
  show();
}

function stop() {
  if (app.live) app.live.close();
  app.live = null;
  for (const x of app.timers) clearInterval(x);
  app.timers = [];
  if (app.view) app.view.destroy();
  app.view = null;
  state.session = null;
  state.groups.clear();
  setAlarms([], []);
  state.live = 'down';
  api.setCsrf('');
}

function showLogin(message, user = '') {
  stop();
  renderHeader();
  document.title = t('signIn') + ' · gasket';
  app.login = {message};
  app.view = loginView(app.main, {message, user, onSession: (s) => {
    app.login = null;
    start(s);
  }});
}

async function doLogout() {
  try {
    await api.logout();
  } catch { /* the session is gone either way */ }
  showLogin();
}

let ticks = 0;

// Every second: the ages shown ("12 s ago"); every 5 s the statuses (a
// silent group turns offline).
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('[data-ago]')) setText(el, fmtAgo(+el.dataset.ago, now));
  if (++ticks % 5 === 0) notify('tick');
}

// Gets a session: the one the cookie holds, else a new one when gasketd
// needs no login; shows the login page (or what went wrong) otherwise.
async function obtainSession() {
  try {
    return await api.session();
  } catch (e) {
    if (e.status === 401 && e.body && e.body.login_required === false) {
      try {
        return await api.login();
      } catch (e2) {
        fatal(t('error', {msg: e2.message}), () => location.reload());
        return null;
      }
    }
    if (e.status === 401) showLogin(state.session ? t('expired') : undefined);
    else fatal(e.status ? t('noSession', {msg: e.message}) : t('cannotReach', {msg: e.message}),
      () => location.reload());
    return null;
  }
}

let reauthing = false;

// The session ended (a 401, or gasketd restarted): a new one, silently when
// gasketd needs no login.
async function reauth() {
  if (reauthing || !state.session) return;
  reauthing = true;
  try {
    if (state.session.login_required) {
      showLogin(t('expired'));
      return;
    }
    const session = await obtainSession();
    if (session) {
      stop();
      await start(session);
    }
  } finally {
    reauthing = false;
  }
}

let lastSessionCheck = 0;

// The live feed keeps failing to connect: is the session still good?
async function checkSession() {
  if (!state.session || Date.now() - lastSessionCheck < 5000) return;
  lastSessionCheck = Date.now();
  try {
    await api.session();
  } catch (e) {
    if (e.status === 401) reauth();
  }
}

async function boot() {
  setLang(getLang());
  app.main = document.getElementById('main');
  app.header = document.getElementById('top');
  document.body.append(h('div', {id: 'toasts', class: 'toasts', 'aria-live': 'polite'}));
  api.onUnauthorized(reauth);
  window.addEventListener('hashchange', () => {
    if (!state.session) return;
    show();
    app.main.focus({preventScroll: true}); // the keyboard goes on in the new view
    scrollTo(0, 0);
  });
  subscribe((what) => {
    if (what === 'alarms' || what === 'groups' || what === 'tick') {
      if (app.view && app.view.update) app.view.update(what);
    }
  });
  renderHeader();
  const session = await obtainSession();
  if (session) await start(session);
}

boot();
