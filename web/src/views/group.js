// group.js: one group over time. A chart per gas of a date_histogram that
// `_search` computes with a bucket of about 3 px (rounded to 1m, 5m, 1h...,
// so that gasket's minute and hour rollups serve long ranges), the rule
// levels and the alarm periods; min/avg/max of the range; live readings
// appended while the range reaches now; the points shown as CSV.

import * as api from '../api.js';
import {h, setText} from '../dom.js';
import {t, fmtAgo, fmtDateTime, fmtNum, getZone, parseZoned, toLocalInput} from '../i18n.js';
import {state, statusOf, rulesFor, unitOf, offlineMs, docTime, levelOf, RANK} from '../state.js';
import {badge, valueWithUnit} from './common.js';
import {makeChart} from './chart.js';

const RANGES = [['15m', 15 * 60e3], ['1h', 3600e3], ['24h', 86400e3], ['7d', 7 * 86400e3],
  ['30d', 30 * 86400e3]];
const STEPS = [[1e3, '1s'], [5e3, '5s'], [10e3, '10s'], [30e3, '30s'], [60e3, '1m'], [300e3, '5m'],
  [900e3, '15m'], [1800e3, '30m'], [3600e3, '1h'], [3 * 3600e3, '3h'], [6 * 3600e3, '6h'],
  [12 * 3600e3, '12h'], [86400e3, '1d'], [7 * 86400e3, '7d']];
const PX_PER_BUCKET = 3;
const MAX_LIVE_BUCKETS = 5000; // more new buckets at once (a clock jump): reload

// The range chosen last, kept while the page lives.
let chosen = {kind: '1h'};

// The step nearest (on a log scale) to one bucket per PX_PER_BUCKET px.
export function pickInterval(spanMs, widthPx) {
  const target = spanMs / Math.max(20, widthPx / PX_PER_BUCKET);
  let best = STEPS[0];
  for (const s of STEPS) {
    if (Math.abs(Math.log(s[0] / target)) < Math.abs(Math.log(best[0] / target))) best = s;
  }
  return best;
}

function intervalText(name) {
  const m = /^(\d+)([smhd])$/.exec(name);
  const unit = {s: ['s', '초'], m: ['min', '분'], h: ['h', '시간'], d: ['d', '일']}[m[2]];
  return document.documentElement.lang === 'ko' ? m[1] + unit[1] : m[1] + ' ' + unit[0];
}

function levelsFor(id, gas) {
  const out = [];
  for (const r of rulesFor(id, gas)) {
    for (const [kind, v] of [['warn', r.warn], ['alarm', r.alarm], ['clear', r.clear]]) {
      if (v != null && Number.isFinite(+v) && !out.some((l) => l.value === +v)) out.push({kind, value: +v});
    }
  }
  return out;
}

export function groupView(root, ctx) {
  const id = ctx.id;
  let charts = new Map(); // gas -> chart
  let data = null; // {gases, iv, ivName, from, to, live, buckets}
  let groupAlarms = [];
  let loading = 0;
  let redrawPending = false;
  let destroyed = false;
  let unknown = false; // no reading of the group was known at the last load

  const head = h('div', {class: 'group-head'});
  const picker = h('div', {class: 'seg', role: 'group', 'aria-label': t('range')});
  const customBox = h('form', {class: 'custom', hidden: true, onsubmit: (e) => {
    e.preventDefault();
    applyCustom();
  }});
  const info = h('span', {class: 'muted', id: 'bucket'});
  const csvBtn = h('button', {type: 'button', class: 'btn', id: 'csv', onclick: downloadCsv}, t('csv'));
  const msg = h('p', {class: 'empty', hidden: true, role: 'status'});
  const list = h('div', {class: 'gas-charts', id: 'charts'});
  root.replaceChildren(
    h('p', {class: 'crumbs'}, h('a', {href: '#/'}, '← ', t('back'))),
    head,
    h('div', {class: 'toolbar range-bar'}, picker, customBox, h('span', {class: 'spacer'}), info, csvBtn),
    msg, list);

  let headSig = '';

  // The title, status, last seen and newest values; redrawn only when they
  // changed (live readings of other groups come through here too).
  function renderHead() {
    const g = state.groups.get(id);
    const st = g ? statusOf(g) : 'offline';
    const sig = g ? st + '|' + g.ts + '|' + JSON.stringify(g.gases) : '-';
    if (sig === headSig) return;
    headSig = sig;
    const meta = g ? [
      h('span', null, t('lastSeen'), ' ', h('time', {dataset: {ago: String(g.ts)}, title: fmtDateTime(g.ts)},
        fmtAgo(g.ts)), ' (', fmtDateTime(g.ts), ')'),
      h('span', null, t('position'), ': ', g.gps ? `${g.gps.lat.toFixed(5)}, ${g.gps.lon.toFixed(5)}` : t('noPosition')),
    ] : [];
    const now = g && g.gases.length ? h('dl', {class: 'gases inline'}, g.gases.map(([name, v]) =>
      h('div', {class: 'gas', dataset: {gas: name}}, h('dt', null, name), h('dd', null, valueWithUnit(name, v)))))
      : null;
    head.replaceChildren(
      h('div', {class: 'title-row'}, h('h1', null, t('groupTitle', {id})), g ? badge(st) : null),
      h('p', {class: 'meta'}, meta), now);
  }

  function renderPicker() {
    const btn = (kind, label) => h('button', {type: 'button', class: 'seg-btn', dataset: {range: kind},
      'aria-pressed': String(chosen.kind === kind), onclick: () => {
        if (kind === 'custom') {
          chosen = {kind: 'custom', from: data ? data.from : Date.now() - 86400e3, to: data ? data.to : Date.now()};
          renderPicker();
          customBox.querySelector('input').focus();
          return;
        }
        chosen = {kind};
        renderPicker();
        load();
      }}, label);
    picker.replaceChildren(...RANGES.map(([k]) => btn(k, t('r' + k))), btn('custom', t('custom')));
    customBox.hidden = chosen.kind !== 'custom';
    if (chosen.kind === 'custom') {
      customBox.replaceChildren(
        h('label', null, t('from'), ' ', h('input', {type: 'datetime-local', class: 'input', name: 'from',
          value: toLocalInput(chosen.from), required: true})),
        h('label', null, t('to'), ' ', h('input', {type: 'datetime-local', class: 'input', name: 'to',
          value: toLocalInput(chosen.to), required: true})),
        h('button', {type: 'submit', class: 'btn'}, t('apply')));
    }
  }

  function applyCustom() {
    const from = parseZoned(customBox.elements.from.value);
    const to = parseZoned(customBox.elements.to.value);
    if (!(from < to)) {
      ctx.toast(t('badRange'), 'error');
      return;
    }
    chosen = {kind: 'custom', from, to};
    load();
  }

  function windowNow() {
    if (chosen.kind === 'custom') return [chosen.from, chosen.to];
    const span = RANGES.find(([k]) => k === chosen.kind)[1];
    const now = Date.now();
    return [now - span, now];
  }

  function chartWidth() {
    return Math.max(260, list.clientWidth - 2);
  }

  function chartHeight() {
    return innerWidth < 600 ? 170 : 200;
  }

  async function load() {
    const g = state.groups.get(id);
    renderHead();
    unknown = !g;
    if (!g) {
      clearCharts();
      msg.hidden = false;
      setText(msg, t('unknownGroup', {id}));
      csvBtn.disabled = true;
      return;
    }
    const [from, to] = windowNow();
    const [iv, ivName] = pickInterval(to - from, chartWidth());
    // gases past a level first, then by name
    const gases = g.gases.map(([n, v]) => [n, RANK[levelOf(id, n, v)]])
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([n]) => n);
    const mine = ++loading;
    setText(info, t('loading'));
    try {
      const [buckets, al] = await Promise.all([
        gases.length ? api.histogram(g.index, id, gases, from, to, ivName, getZone()) : [],
        api.alarms({group: id, limit: 1000}),
      ]);
      if (destroyed || mine !== loading) return;
      groupAlarms = (al && al.alarms) || [];
      data = {gases, iv, ivName, from, to, live: chosen.kind !== 'custom' || to > Date.now(), buckets};
      draw();
    } catch (e) {
      if (destroyed || mine !== loading) return;
      setText(info, '');
      if (e.status !== 401) ctx.toast(t('error', {msg: e.message}), 'error');
    }
  }

  function clearCharts() {
    for (const c of charts.values()) c.destroy();
    charts = new Map();
    list.replaceChildren();
  }

  // Alarm periods of this group touching gas (offline ones touch all).
  // The lists kept current by the alerts come first: an alarm cleared since
  // this view loaded ends where it cleared.
  function periodsFor(gas) {
    const seen = new Set();
    const out = [];
    const mine = (x) => String(x.group) === id;
    for (const a of [...state.alarms.filter(mine), ...state.active.filter(mine), ...groupAlarms]) {
      if (seen.has(a.id)) continue;
      seen.add(a.id);
      if (a.severity !== 'offline' && a.measurement !== gas) continue;
      const from = Date.parse(a.raised);
      const to = a.cleared ? Date.parse(a.cleared) : Date.now();
      if (Number.isFinite(from)) out.push({from, to: Number.isFinite(to) ? to : Date.now(), severity: a.severity});
    }
    return out;
  }

  function draw() {
    const {gases, buckets, ivName} = data;
    setText(info, t('bucket', {iv: intervalText(ivName)}));
    csvBtn.disabled = false;
    const any = buckets.some((b) => b.n > 0);
    msg.hidden = any;
    setText(msg, t('noData'));
    if (!gases.length) {
      clearCharts();
      return;
    }
    // charts are rebuilt when the gases change, else given new data
    if ([...charts.keys()].join('\n') !== gases.join('\n')) {
      clearCharts();
      for (const gas of gases) {
        const unit = unitOf(gas);
        const sec = h('section', {class: 'panel gas-panel', dataset: {gas}},
          h('div', {class: 'gas-title'}, h('h2', null, gas, unit ? h('span', {class: 'u'}, ' (' + unit + ')') : null),
            h('span', {class: 'stats', dataset: {gas}})));
        list.append(sec);
        const chart = makeChart(sec, {name: gas, unit, levels: levelsFor(id, gas), periods: () => periodsFor(gas),
          window: () => [data.from, data.to], gapMs: Math.max(offlineMs(), 3 * data.iv),
          width: chartWidth() - 32, height: chartHeight()});
        charts.set(gas, chart);
      }
    }
    fill();
  }

  // Gives every chart its series and writes the range's stats.
  function fill() {
    const {gases, buckets} = data;
    const xs = buckets.map((b) => b.key / 1000);
    gases.forEach((gas, i) => {
      const c = charts.get(gas);
      if (!c) return;
      const avg = [], min = [], max = [];
      let n = 0, sum = 0, lo = Infinity, hi = -Infinity;
      for (const b of buckets) {
        const s = b.stats[i];
        const has = s && s.count > 0;
        avg.push(has ? s.avg : null);
        min.push(has ? s.min : null);
        max.push(has ? s.max : null);
        if (has) {
          n += s.count;
          sum += s.sum;
          lo = Math.min(lo, s.min);
          hi = Math.max(hi, s.max);
        }
      }
      c.setData(xs, avg, min, max);
      const el = list.querySelector(`.stats[data-gas="${CSS.escape(gas)}"]`);
      const unit = unitOf(gas);
      const u = unit ? ' ' + unit : '';
      el.replaceChildren(...(n ? [
        h('span', null, t('min'), ' ', h('b', {dataset: {stat: 'min'}}, fmtNum(lo)), u),
        h('span', null, t('avg'), ' ', h('b', {dataset: {stat: 'avg'}}, fmtNum(sum / n)), u),
        h('span', null, t('max'), ' ', h('b', {dataset: {stat: 'max'}}, fmtNum(hi)), u),
        h('span', null, h('b', {dataset: {stat: 'count'}}, String(n)), ' ', t('count')),
      ] : [h('span', {class: 'muted'}, t('noData'))]));
    });
  }

  // A live reading of this group: added to its bucket (new buckets after
  // the last when time moved on); the window slides to now.
  function onLive(gid, source) {
    if (gid !== id || !data || !data.live) return;
    const ts = Number.isFinite(docTime(source)) ? docTime(source) : Date.now();
    const g = state.groups.get(id);
    if (g && g.gases.some(([n]) => !data.gases.includes(n))) {
      load(); // a gas not charted yet
      return;
    }
    const {buckets, iv} = data;
    if (!buckets.length) {
      load();
      return;
    }
    let last = buckets[buckets.length - 1];
    if (ts >= last.key + iv * MAX_LIVE_BUCKETS) {
      load();
      return;
    }
    while (ts >= last.key + iv) {
      last = {key: last.key + iv, n: 0, stats: data.gases.map(() => ({count: 0}))};
      buckets.push(last);
    }
    const at = Math.floor((ts - buckets[0].key) / iv);
    const b = buckets[Math.max(0, Math.min(at, buckets.length - 1))];
    if (ts < buckets[0].key) return;
    b.n++;
    const vals = new Map((g ? g.gases : []).map(([n, v]) => [n, v]));
    data.gases.forEach((gas, i) => {
      const v = vals.get(gas);
      if (!Number.isFinite(v)) return;
      const s = b.stats[i];
      if (!(s.count > 0)) Object.assign(s, {count: 0, sum: 0, min: v, max: v});
      s.count++;
      s.sum += v;
      s.min = Math.min(s.min, v);
      s.max = Math.max(s.max, v);
      s.avg = s.sum / s.count;
    });
    if (chosen.kind !== 'custom') {
      [data.from, data.to] = windowNow();
      while (buckets.length > 1 && buckets[0].key + iv < data.from) buckets.shift();
    }
    msg.hidden = true;
    scheduleRedraw();
  }

  function scheduleRedraw() {
    if (redrawPending) return;
    redrawPending = true;
    requestAnimationFrame(() => {
      redrawPending = false;
      if (!destroyed && data) fill();
    });
  }

  function downloadCsv() {
    if (!data) return;
    const {gases, buckets} = data;
    const esc = (s) => (/[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s);
    const head = ['time', 'epoch_ms'];
    for (const gas of gases) {
      const unit = unitOf(gas);
      for (const k of ['avg', 'min', 'max', 'count']) head.push(esc(`${gas}.${k}` + (unit && k !== 'count' ? ` (${unit})` : '')));
    }
    const lines = [head.join(',')];
    for (const b of buckets) {
      if (!b.stats.some((s) => s && s.count > 0)) continue;
      const row = [fmtDateTime(b.key), String(b.key)];
      for (const s of b.stats) {
        if (s && s.count > 0) row.push(String(s.avg), String(s.min), String(s.max), String(s.count));
        else row.push('', '', '', '0');
      }
      lines.push(row.join(','));
    }
    const blob = new Blob([lines.join('\r\n') + '\r\n'], {type: 'text/csv;charset=utf-8'});
    const url = URL.createObjectURL(blob);
    const stamp = (ms) => fmtDateTime(ms, false).replace(/[-: ]/g, '');
    const a = h('a', {href: url, download: `gasket-group-${id.replace(/[^\w.-]/g, '_')}-${stamp(data.from)}-${stamp(data.to)}.csv`});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  let resizeTimer = 0;
  const ro = new ResizeObserver(() => {
    for (const c of charts.values()) c.setSize(chartWidth() - 32, chartHeight());
    // a width that wants another bucket size asks again, once it settles
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (!data || destroyed) return;
      const [from, to] = windowNow();
      if (pickInterval(to - from, chartWidth())[1] !== data.ivName) load();
    }, 400);
  });
  ro.observe(list);
  ctx.liveHooks.add(onLive);
  renderHead();
  renderPicker();
  load();

  return {
    update(what) {
      renderHead();
      if (what === 'alarms') for (const c of charts.values()) c.redraw();
      if (what === 'groups' && unknown && state.groups.has(id)) load();
      if (what === 'tick' && data && data.live && chosen.kind !== 'custom') {
        [data.from, data.to] = windowNow(); // the window follows now
        while (data.buckets.length > 1 && data.buckets[0].key + data.iv < data.from) data.buckets.shift();
        fill();
      }
    },
    destroy() {
      destroyed = true;
      clearTimeout(resizeTimer);
      ro.disconnect();
      ctx.liveHooks.delete(onLive);
      clearCharts();
    },
  };
}
