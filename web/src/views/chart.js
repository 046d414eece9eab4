// chart.js: one gas's time series in uPlot (window.uPlot,
// vendor/uPlot.iife.min.js): the average per bucket as a line, min..max as
// a band, the rule levels as dashed lines and alarm periods shaded. What it
// drew is written on the wrapper (data-levels, data-periods, data-points)
// for the tests and screen readers' summary.

import {h} from '../dom.js';
import {t, fmtNum, getZone, zoneParts, fmtDateTime} from '../i18n.js';

const COLORS = {
  line: '#0b63ce', band: 'rgba(11, 99, 206, 0.14)',
  warning: '#9a5b00', alarm: '#c62828', clear: '#59636e',
  shadeWarning: 'rgba(245, 166, 35, 0.18)', shadeAlarm: 'rgba(198, 40, 40, 0.16)',
  shadeOffline: 'rgba(89, 99, 110, 0.12)',
};

// levels: [{kind: 'warn'|'alarm'|'clear', value}]; periods: () => [{from,
// to, severity}] in epoch ms; window: () => [fromMs, toMs]; gapMs: a
// silence longer than this breaks the line.
export function makeChart(parent, {name, unit, levels, periods, window: win, gapMs, width, height}) {
  const wrap = h('div', {class: 'chart', role: 'img', 'aria-label': name});
  parent.append(wrap);
  const px = (u) => u.bbox.width / (devicePixelRatio || 1);
  const nonNull = (u, i0, i1) => {
    const d = u.data[1];
    let n = 0;
    for (let i = i0; i <= i1; i++) if (d[i] != null) n++;
    return n;
  };
  // Nulls between readings are not gaps unless longer than gapMs.
  const gaps = (u, sidx, i0, i1, found) => {
    const [a, b] = [u.scales.x.min, u.scales.x.max];
    const perPx = ((b - a) * 1000) / Math.max(1, u.bbox.width);
    return found.filter(([f, to]) => (to - f) * perPx > gapMs);
  };
  const tz = getZone();
  const opts = {
    width, height,
    tzDate: tz ? (ts) => window.uPlot.tzDate(new Date(ts * 1000), tz) : undefined,
    cursor: {y: false, points: {size: 7}},
    legend: {live: true},
    scales: {
      x: {time: true, range: () => {
        const [f, to] = win();
        return [f / 1000, to / 1000];
      }},
      y: {range: (u, lo, hi) => yRange(lo, hi, levels)},
    },
    axes: [
      {stroke: '#3d444d', grid: {stroke: '#e6e9ed', width: 1}, ticks: {stroke: '#d0d7de'}, values: timeTicks},
      {stroke: '#3d444d', grid: {stroke: '#e6e9ed', width: 1}, ticks: {stroke: '#d0d7de'},
        size: 56, values: (u, vals) => vals.map((v) => fmtNum(v))},
    ],
    series: [
      {label: t('time'), value: (u, v) => (v == null ? '–' : fmtDateTime(v * 1000))},
      {label: t('avg'), stroke: COLORS.line, width: 2, gaps, value: (u, v) => fmtNum(v),
        points: {show: (u, sidx, i0, i1) => nonNull(u, i0, i1) * 14 < px(u), size: 5, fill: COLORS.line}},
      {label: t('min'), stroke: 'rgba(11, 99, 206, 0.35)', width: 1, gaps, value: (u, v) => fmtNum(v),
        points: {show: false}},
      {label: t('max'), stroke: 'rgba(11, 99, 206, 0.35)', width: 1, gaps, value: (u, v) => fmtNum(v),
        points: {show: false}},
    ],
    bands: [{series: [3, 2], fill: COLORS.band}],
    hooks: {
      drawClear: [(u) => shade(u, periods(), wrap)],
      draw: [(u) => drawLevels(u, levels, unit, wrap)],
    },
  };
  const plot = new window.uPlot(opts, [[], [], [], []], wrap);
  return {
    el: wrap,
    setData(xs, avg, min, max) {
      wrap.dataset.points = String(avg.filter((v) => v != null).length);
      plot.setData([xs, avg, min, max]);
    },
    redraw() {
      plot.redraw(false, true);
    },
    setSize(w, hgt) {
      plot.setSize({width: w, height: hgt});
    },
    destroy() {
      plot.destroy();
      wrap.remove();
    },
  };
}

const pad2 = (n) => String(n).padStart(2, '0');

// Time ticks in the server's zone, 24-hour: HH:MM within two days (with
// the date where a day begins), MM-DD beyond, YYYY-MM past 90 days.
function timeTicks(u, splits) {
  const span = u.scales.x.max - u.scales.x.min;
  let lastDay = '';
  return splits.map((ts) => {
    const p = zoneParts(ts * 1000);
    const day = `${pad2(p.month)}-${pad2(p.day)}`;
    if (span > 90 * 86400) return `${p.year}-${pad2(p.month)}`;
    if (span > 2 * 86400) return day;
    const hm = `${pad2(p.hour)}:${pad2(p.minute)}` + (span < 300 ? ':' + pad2(p.second) : '');
    const label = day !== lastDay ? hm + '\n' + day : hm;
    lastDay = day;
    return label;
  });
}

// The y range: the data, and each level that is not far above it (a
// level much higher than every value would flatten the line).
function yRange(lo, hi, levels) {
  if (lo == null || hi == null) {
    const top = levels.length ? Math.max(...levels.map((l) => l.value)) : 1;
    return [0, top > 0 ? top * 1.1 : 1];
  }
  for (const l of levels) {
    if (l.value <= Math.max(hi, 0) * 2 + 1e-9 && l.value >= Math.min(lo, 0) * 2 - 1e-9) {
      hi = Math.max(hi, l.value);
      lo = Math.min(lo, l.value);
    }
  }
  let pad = (hi - lo) * 0.08;
  if (pad === 0) pad = Math.abs(hi) * 0.1 || 1;
  let a = lo - pad;
  if (lo >= 0 && a < 0) a = 0;
  return [a, hi + pad];
}

function shade(u, list, wrap) {
  const {ctx, bbox} = u;
  let n = 0;
  ctx.save();
  ctx.beginPath();
  ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
  ctx.clip();
  for (const p of list) {
    const x0 = Math.max(u.valToPos(p.from / 1000, 'x', true), bbox.left);
    const x1 = Math.min(u.valToPos(p.to / 1000, 'x', true), bbox.left + bbox.width);
    if (!(x1 > x0 - 1) || x1 < bbox.left || x0 > bbox.left + bbox.width) continue;
    const dpr = devicePixelRatio || 1;
    ctx.fillStyle = p.severity === 'alarm' ? COLORS.shadeAlarm
      : p.severity === 'offline' ? COLORS.shadeOffline : COLORS.shadeWarning;
    ctx.fillRect(x0, bbox.top, Math.max(x1 - x0, 4 * dpr), bbox.height);
    // its start, marked so that a short period is seen too
    ctx.fillStyle = p.severity === 'alarm' ? COLORS.alarm : p.severity === 'offline' ? COLORS.clear
      : COLORS.warning;
    ctx.fillRect(x0, bbox.top, 2 * dpr, 6 * dpr);
    n++;
  }
  ctx.restore();
  wrap.dataset.periods = String(n);
}

function drawLevels(u, levels, unit, wrap) {
  const {ctx, bbox} = u;
  const dpr = devicePixelRatio || 1;
  const drawn = [];
  ctx.save();
  ctx.font = `${11 * dpr}px system-ui, sans-serif`;
  ctx.textBaseline = 'bottom';
  for (const l of levels) {
    if (l.value < u.scales.y.min || l.value > u.scales.y.max) continue;
    const y = Math.round(u.valToPos(l.value, 'y', true)) + 0.5;
    ctx.strokeStyle = COLORS[l.kind === 'warn' ? 'warning' : l.kind];
    ctx.lineWidth = (l.kind === 'clear' ? 1 : 1.5) * dpr;
    ctx.setLineDash(l.kind === 'clear' ? [2 * dpr, 3 * dpr] : [6 * dpr, 4 * dpr]);
    ctx.beginPath();
    ctx.moveTo(bbox.left, y);
    ctx.lineTo(bbox.left + bbox.width, y);
    ctx.stroke();
    if (l.kind !== 'clear') {
      const label = `${t('lvl_' + l.kind)} ${fmtNum(l.value)}${unit ? ' ' + unit : ''}`;
      ctx.fillStyle = ctx.strokeStyle;
      ctx.textAlign = 'right';
      ctx.fillText(label, bbox.left + bbox.width - 4 * dpr, y - 2 * dpr);
    }
    drawn.push(l.kind + ':' + l.value);
  }
  ctx.restore();
  wrap.dataset.levels = drawn.join(' ');
}
