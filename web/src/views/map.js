// map.js: the groups placed by their `gps` ("lat, lon") on a plain SVG
// plot (an equirectangular projection fitted to the groups, with a grid
// and a scale bar; no map tiles, so it works on an isolated network),
// coloured by status; a marker opens its group. Groups without a usable
// position are listed beside it.

import {h, s} from '../dom.js';
import {t, getLang} from '../i18n.js';
import {state, statusOf, RANK, STATUSES} from '../state.js';
import {badge, groupHref, byGroupId} from './common.js';

const PAD = 48;

function niceStep(span, lines) {
  const raw = span / lines;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((x) => x >= raw) || raw;
}

export function mapView(root) {
  const plot = h('div', {class: 'map-box'});
  const aside = h('aside', {class: 'panel map-aside', 'aria-labelledby': 'h-nogps'});
  root.replaceChildren(
    h('div', {class: 'view-head'}, h('h1', null, t('mapTitle'))),
    h('p', {class: 'muted'}, t('mapNote')),
    h('div', {class: 'map-layout'}, h('section', {class: 'panel'}, plot), aside));

  let lastSig = '';

  function render() {
    const now = Date.now();
    const placed = [], unplaced = [];
    for (const g of state.groups.values()) (g.gps ? placed : unplaced).push({g, st: statusOf(g, now)});
    placed.sort((a, b) => RANK[a.st] - RANK[b.st] || byGroupId(a.g.id, b.g.id)); // alarms drawn last, on top
    unplaced.sort((a, b) => byGroupId(a.g.id, b.g.id));
    const sig = JSON.stringify([plot.clientWidth, getLang(), placed.map(({g, st}) => [g.id, st, g.gps]),
      unplaced.map(({g, st}) => [g.id, st])]);
    if (sig === lastSig) return; // live readings that change nothing shown
    lastSig = sig;
    // one SVG unit per CSS pixel, so that labels keep their size on a phone
    const w = Math.max(300, Math.min(1400, plot.clientWidth || 900));
    const size = {W: w, H: Math.round(w < 600 ? w * 1.1 : w * 0.6)};
    plot.replaceChildren(placed.length ? svgMap(placed, size) : h('p', {class: 'empty'}, t('noGps')));
    aside.replaceChildren(h('h2', {id: 'h-nogps'}, t('withoutGps')), unplaced.length
      ? h('ul', {class: 'plain', id: 'nogps'}, unplaced.map(({g, st}) =>
        h('li', {dataset: {group: g.id}}, h('a', {href: groupHref(g.id)}, g.id), ' ', badge(st))))
      : h('p', {class: 'muted'}, t('allPlaced')));
  }

  let lastWidth = 0;
  const ro = new ResizeObserver(() => {
    if (Math.abs(plot.clientWidth - lastWidth) > 8) {
      lastWidth = plot.clientWidth;
      render();
    }
  });
  ro.observe(plot);
  render();
  return {
    update(what) {
      if (what === 'groups' || what === 'alarms' || what === 'tick') render();
    },
    destroy() {
      ro.disconnect();
    },
  };
}

function svgMap(placed, {W, H}) {
  const lats = placed.map(({g}) => g.gps.lat), lons = placed.map(({g}) => g.gps.lon);
  const lat0 = (Math.min(...lats) + Math.max(...lats)) / 2;
  const k = Math.cos((lat0 * Math.PI) / 180) || 1e-6;
  let [x0, x1] = [Math.min(...lons) * k, Math.max(...lons) * k];
  let [y0, y1] = [Math.min(...lats), Math.max(...lats)];
  const minSpan = 0.004; // about 400 m
  if (x1 - x0 < minSpan) [x0, x1] = [(x0 + x1) / 2 - minSpan / 2, (x0 + x1) / 2 + minSpan / 2];
  if (y1 - y0 < minSpan) [y0, y1] = [(y0 + y1) / 2 - minSpan / 2, (y0 + y1) / 2 + minSpan / 2];
  const BOTTOM = 34; // room for the scale bar and the longitudes
  const scale = Math.min((W - 2 * PAD) / (x1 - x0), (H - 2 * PAD - BOTTOM) / (y1 - y0));
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const X = (lon) => W / 2 + (lon * k - cx) * scale;
  const Y = (lat) => (H - BOTTOM) / 2 - (lat - cy) * scale;
  const kids = [s('rect', {x: 0, y: 0, width: W, height: H, class: 'map-bg'})];

  // the grid: about 6 lines each way, labelled in degrees
  const lonMin = (cx - W / 2 / scale) / k, lonMax = (cx + W / 2 / scale) / k;
  const latMin = cy - (H + BOTTOM) / 2 / scale, latMax = cy + (H - BOTTOM) / 2 / scale;
  const stepLon = niceStep(lonMax - lonMin, 6), stepLat = niceStep(latMax - latMin, 5);
  const digits = (st) => Math.max(0, -Math.floor(Math.log10(st)));
  for (let lon = Math.ceil(lonMin / stepLon) * stepLon; lon <= lonMax; lon += stepLon) {
    kids.push(s('line', {x1: X(lon), x2: X(lon), y1: 0, y2: H, class: 'grid'}),
      s('text', {x: X(lon) + 4, y: H - 8, class: 'grid-label'}, lon.toFixed(digits(stepLon)) + '°'));
  }
  for (let lat = Math.ceil(latMin / stepLat) * stepLat; lat <= latMax; lat += stepLat) {
    kids.push(s('line', {x1: 0, x2: W, y1: Y(lat), y2: Y(lat), class: 'grid'}),
      s('text', {x: 6, y: Y(lat) - 4, class: 'grid-label'}, lat.toFixed(digits(stepLat)) + '°'));
  }

  // a scale bar of a round distance about 150 units long
  const unitsPerKm = scale / 111.32;
  const km = niceStep(Math.min(150, W / 4) / unitsPerKm, 1);
  const len = km * unitsPerKm;
  kids.push(s('g', {class: 'scale-bar', transform: `translate(${W - 24 - len},${H - 36})`},
    s('line', {x1: 0, x2: len, y1: 0, y2: 0}), s('line', {x1: 0, x2: 0, y1: -5, y2: 5}),
    s('line', {x1: len, x2: len, y1: -5, y2: 5}),
    s('text', {x: len / 2, y: -8, 'text-anchor': 'middle'}, km >= 1 ? `${km} km` : `${Math.round(km * 1000)} m`)));

  for (const {g, st} of placed) {
    const x = X(g.gps.lon), y = Y(g.gps.lat);
    kids.push(s('a', {href: groupHref(g.id), class: 'marker st-' + st, dataset: {group: g.id, status: st},
      'aria-label': `${t('groupTitle', {id: g.id})}: ${t('st_' + st)}`},
    s('title', null, `${t('groupTitle', {id: g.id})}: ${t('st_' + st)}`),
    s('circle', {cx: x, cy: y, r: st === 'ok' ? 9 : 12}),
    s('text', {x: x + 16, y: y + 5, class: 'marker-label'}, g.id)));
  }
  const legend = h('ul', {class: 'legend'}, STATUSES.map((st) => h('li', null, badge(st))));
  return h('div', null,
    s('svg', {viewBox: `0 0 ${W} ${H}`, class: 'map', role: 'group', 'aria-label': t('mapTitle')}, kids),
    legend);
}
