// overview.js: a card per group (its id, when it was last heard, the newest
// value of each gas, its status), groups in alarm first; a count per status
// (each a filter) and a text filter. Cards are kept and updated in place.

import {h, setText} from '../dom.js';
import {t, fmtAgo, fmtDateTime} from '../i18n.js';
import {state, statusOf, levelOf, RANK, STATUSES} from '../state.js';
import {badge, valueWithUnit, groupHref, byGroupId} from './common.js';

export function overviewView(root) {
  let text = '';
  let only = ''; // a status, or '' for all
  const cards = new Map(); // groupid -> {li, sig}
  const counts = h('div', {class: 'counts', role: 'group', 'aria-label': t('byStatus')});
  const input = h('input', {type: 'search', id: 'filter', class: 'input', placeholder: t('filterPlaceholder'),
    'aria-label': t('filter'), autocomplete: 'off',
    oninput: () => { text = input.value.trim().toLowerCase(); render(); }});
  const list = h('ul', {class: 'cards', id: 'cards'});
  const empty = h('p', {class: 'empty', hidden: true});
  root.replaceChildren(
    h('div', {class: 'view-head'}, h('h1', null, t('overview')), counts),
    h('div', {class: 'toolbar'}, input),
    list, empty);

  // The count buttons are made once and updated in place (keeps the focus).
  const countEls = new Map();
  for (const st of ['', ...STATUSES]) {
    const n = h('span', {class: 'n'}, '0');
    const b = h('button', {type: 'button', class: 'count' + (st ? ' st-' + st : ''),
      dataset: {status: st || 'all'}, onclick: () => { only = only === st ? '' : st; render(); }},
    n, ' ', st ? t('st_' + st) : t('all'));
    countEls.set(st, {b, n});
    counts.append(b);
  }

  function countButtons(byStatus, total) {
    for (const [st, {b, n}] of countEls) {
      setText(n, st ? byStatus[st] : total);
      b.setAttribute('aria-pressed', String(only === st));
    }
  }

  function card(g, st) {
    const gases = g.gases.length ? h('dl', {class: 'gases'}, g.gases.map(([name, v]) =>
      h('div', {class: 'gas lvl-' + levelOf(g.id, name, v), dataset: {gas: name}},
        h('dt', null, name), h('dd', null, valueWithUnit(name, v)))))
      : h('p', {class: 'muted'}, t('noValues'));
    return h('a', {class: 'card-link', href: groupHref(g.id)},
      h('div', {class: 'card-head'}, h('span', {class: 'gid'}, g.id), badge(st)),
      h('div', {class: 'seen'}, t('lastSeen'), ' ',
        h('time', {dataset: {ago: String(g.ts)}, datetime: new Date(g.ts).toISOString(),
          title: fmtDateTime(g.ts)}, fmtAgo(g.ts))),
      gases);
  }

  function render() {
    const now = Date.now();
    const byStatus = {ok: 0, warning: 0, alarm: 0, offline: 0};
    const rows = [];
    for (const g of state.groups.values()) {
      const st = statusOf(g, now);
      byStatus[st]++;
      rows.push({g, st});
    }
    countButtons(byStatus, rows.length);
    rows.sort((a, b) => RANK[b.st] - RANK[a.st] || byGroupId(a.g.id, b.g.id));
    const shown = rows.filter(({g, st}) => (!only || st === only) && (!text ||
      g.id.toLowerCase().includes(text) || g.gases.some(([n]) => n.toLowerCase().includes(text))));
    const keep = new Set();
    let prev = null;
    for (const {g, st} of shown) {
      keep.add(g.id);
      let c = cards.get(g.id);
      const sig = st + '|' + g.ts + '|' + JSON.stringify(g.gases);
      if (!c) {
        c = {li: h('li', {class: 'card'}), sig: ''};
        cards.set(g.id, c);
      }
      if (c.sig !== sig) {
        c.li.dataset.group = g.id;
        c.li.dataset.status = st;
        c.li.replaceChildren(card(g, st));
        c.sig = sig;
      }
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== c.li) list.insertBefore(c.li, want);
      prev = c.li;
    }
    for (const [id, c] of cards) {
      if (!keep.has(id)) {
        c.li.remove();
        cards.delete(id);
      }
    }
    empty.hidden = shown.length > 0;
    setText(empty, rows.length ? t('noMatch') : t('noGroups'));
  }

  render();
  return {
    update: render,
    destroy() {},
  };
}
