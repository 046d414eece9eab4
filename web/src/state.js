// state.js: what the dashboard knows: the session's config, each group's
// newest reading, the alarms, and each group's status. Views read it and
// subscribe to changes; app.js and the live feed write it.

import {parseZoned} from './i18n.js';

// When config.offline_after is 0 (gasketd sends no offline alerts), a group
// whose newest reading is older than this shows as offline.
export const DEFAULT_OFFLINE_MS = 15 * 60 * 1000;

export const RANK = {ok: 0, offline: 1, warning: 2, alarm: 3};
export const STATUSES = ['alarm', 'warning', 'offline', 'ok'];

export const state = {
  session: null, // {user, role, csrf, expires, login_required, config}
  config: {indexes: ['gasdetect'], live_topic: 'gasket/live', alert_topics: [], rules: [],
    timezone: '', offline_after: 0},
  groups: new Map(), // groupid -> {id, index, source, ts, gps, gases: [[name, number]]}
  alarms: [], // the recent alarms, newest first (GET /alarms)
  active: [], // the active ones (GET /alarms?active=true)
  live: 'down', // 'live' | 'reconnecting' | 'down'
};

const listeners = new Set();

// fn(what) is called after a change: 'groups', 'alarms', 'live', 'lang'.
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function notify(what) {
  for (const fn of [...listeners]) fn(what);
}

export function setConfig(cfg) {
  const c = cfg || {};
  state.config = {
    indexes: Array.isArray(c.indexes) && c.indexes.length ? c.indexes.map(String) : ['gasdetect'],
    live_topic: typeof c.live_topic === 'string' ? c.live_topic : '', // null: off
    alert_topics: Array.isArray(c.alert_topics) ? c.alert_topics.map(String) : [],
    rules: Array.isArray(c.rules) ? c.rules.filter((r) => r && r.measurement) : [],
    timezone: typeof c.timezone === 'string' ? c.timezone : '',
    offline_after: Number(c.offline_after) || 0,
  };
}

export function offlineMs() {
  return state.config.offline_after > 0 ? state.config.offline_after * 1000 : DEFAULT_OFFLINE_MS;
}

// A reading's measurements: every member that is an object with a `value`,
// as [name, number] (NaN when the value is not a number), sorted by name.
export function gasesOf(source) {
  const out = [];
  if (!source || typeof source !== 'object') return out;
  for (const [k, v] of Object.entries(source)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && 'value' in v) {
      const n = typeof v.value === 'number' ? v.value : Number.parseFloat(v.value);
      out.push([k, Number.isFinite(n) ? n : NaN]);
    }
  }
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

// "lat, lon" -> {lat, lon}, or null for anything else.
export function parseGps(gps) {
  if (typeof gps !== 'string') return null;
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/.exec(gps);
  if (!m) return null;
  const lat = +m[1], lon = +m[2];
  if (!(Math.abs(lat) <= 90 && Math.abs(lon) <= 180)) return null;
  return {lat, lon};
}

// The time of a stored document: its `date` (gasket's local text, or ISO).
export function docTime(source) {
  return parseZoned(source && source.date);
}

// Takes a group's reading if it is not older than the one held; true when
// the group changed.
export function putReading(groupid, index, source, ts) {
  const id = String(groupid);
  const old = state.groups.get(id);
  const when = Number.isFinite(ts) ? ts : docTime(source);
  if (old && Number.isFinite(old.ts) && Number.isFinite(when) && when < old.ts) return false;
  state.groups.set(id, {id, index: index || (old && old.index) || state.config.indexes[0],
    source, ts: Number.isFinite(when) ? when : Date.now(), gps: parseGps(source && source.gps),
    gases: gasesOf(source)});
  return true;
}

// The rules judging gas `name` of group `id`.
export function rulesFor(id, name) {
  return state.config.rules.filter((r) => r.measurement === name &&
    (!Array.isArray(r.groups) || r.groups.map(String).includes(String(id))));
}

export function unitOf(name) {
  const r = state.config.rules.find((x) => x.measurement === name && x.unit);
  return r ? String(r.unit) : '';
}

// 'ok' | 'warning' | 'alarm' for a value under the group's rules.
export function levelOf(id, name, v) {
  let level = 'ok';
  if (!Number.isFinite(v)) return level;
  for (const r of rulesFor(id, name)) {
    const past = (x) => x != null && Number.isFinite(+x) && (r.op === '<=' ? v <= +x : v >= +x);
    const l = past(r.alarm) ? 'alarm' : past(r.warn) ? 'warning' : 'ok';
    if (RANK[l] > RANK[level]) level = l;
  }
  return level;
}

// A group's status: the worst of its active alarms, its newest values under
// the rules, and offline when it has been silent longer than offline_after.
export function statusOf(g, now = Date.now()) {
  let st = 'ok';
  const worse = (x) => { if (RANK[x] > RANK[st]) st = x; };
  for (const a of state.active) {
    if (String(a.group) !== g.id || a.state !== 'active') continue;
    worse(a.severity === 'alarm' ? 'alarm' : a.severity === 'offline' ? 'offline' : 'warning');
  }
  if (!Number.isFinite(g.ts) || now - g.ts > offlineMs()) worse('offline');
  else for (const [name, v] of g.gases) worse(levelOf(g.id, name, v));
  return st;
}

export function setAlarms(recent, active) {
  state.alarms = recent;
  state.active = active;
}
