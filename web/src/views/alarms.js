// alarms.js: the active alarms and the recent ones (GET /alarms), kept
// current by the alert topics; an admin acknowledges here (POST
// /alarms/{id}/ack), and everyone sees who acknowledged and when.

import * as api from '../api.js';
import {h} from '../dom.js';
import {t, fmtDateTime, fmtNum} from '../i18n.js';
import {state, unitOf} from '../state.js';
import {badge, groupHref} from './common.js';

export function alarmsView(root, ctx) {
  const activeBox = h('div', {class: 'table-box', id: 'active-alarms'});
  const recentBox = h('div', {class: 'table-box', id: 'recent-alarms'});
  const busy = new Set(); // ids being acknowledged
  root.replaceChildren(
    h('div', {class: 'view-head'}, h('h1', null, t('alarms'))),
    h('section', {class: 'panel'}, h('h2', {id: 'h-active'}, t('active')), activeBox),
    h('section', {class: 'panel'}, h('h2', {id: 'h-recent'}, t('recent')), recentBox));

  const sev = (a) => (a.severity === 'alarm' ? 'alarm' : a.severity === 'offline' ? 'offline' : 'warning');
  const when = (iso) => {
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? h('time', {datetime: iso}, fmtDateTime(ms)) : '–';
  };

  async function acknowledge(a, btn) {
    busy.add(a.id);
    btn.disabled = true;
    try {
      await api.ack(a.id);
      ctx.toast(t('ackDone', {id: a.id}));
    } catch (e) {
      if (e.status === 403) ctx.toast(t('ackForbidden'), 'error');
      else if (e.status !== 401 && e.status !== 409) ctx.toast(t('error', {msg: e.message}), 'error');
    } finally {
      busy.delete(a.id);
      await ctx.reloadAlarms();
    }
  }

  function ackCell(a) {
    if (a.acked) {
      const ms = Date.parse(a.acked);
      return h('span', {class: 'acked'}, '✓ ', t('ackBy', {who: a.acked_by || '?',
        when: Number.isFinite(ms) ? fmtDateTime(ms) : a.acked}));
    }
    if (state.session && state.session.role === 'admin') {
      const btn = h('button', {type: 'button', class: 'btn btn-small', dataset: {ack: String(a.id)},
        disabled: busy.has(a.id)}, t('ack'));
      btn.addEventListener('click', () => acknowledge(a, btn));
      return btn;
    }
    return h('span', {class: 'muted'}, t('notAcked'));
  }

  const td = (label, attrs, ...kids) => h('td', {'data-label': label, ...attrs}, h('span', {class: 'cell'}, kids));

  function table(list, emptyText) {
    if (!list.length) return h('p', {class: 'empty'}, emptyText);
    const cols = [t('severity'), t('group'), t('rule'), t('value'), t('raised'), t('cleared'), t('acknowledged')];
    return h('table', {class: 'alarms'},
      h('thead', null, h('tr', null, cols.map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', null, list.map((a) => h('tr', {dataset: {alarm: String(a.id), group: String(a.group),
        state: a.state, severity: a.severity}},
      td(cols[0], null, badge(sev(a)), a.state === 'active' ? null
        : h('span', {class: 'state muted'}, ' ', t('state_' + a.state))),
      td(cols[1], null, h('a', {href: groupHref(String(a.group))}, String(a.group))),
      td(cols[2], null, a.rule || '', a.measurement && a.measurement !== a.rule
        ? h('span', {class: 'muted'}, ' (' + a.measurement + ')') : null),
      td(cols[3], {class: 'num'}, a.value != null ? fmtNum(+a.value) : '–',
        a.value != null && unitOf(a.measurement) ? h('span', {class: 'u'}, unitOf(a.measurement)) : null,
        a.peak != null && a.peak !== a.value ? h('span', {class: 'muted'}, ` (${t('peak')} ${fmtNum(+a.peak)})`) : null),
      td(cols[4], null, when(a.raised)),
      td(cols[5], null, a.cleared ? when(a.cleared) : '–'),
      td(cols[6], null, ackCell(a))))));
  }

  let sig = '';

  // Redrawn only when the alarms changed (keeps the keyboard focus).
  function render() {
    const now = JSON.stringify([state.active, state.alarms, [...busy]]);
    if (now === sig) return;
    sig = now;
    const active = state.active.filter((a) => a.state === 'active');
    activeBox.replaceChildren(table(active, t('noActive')));
    recentBox.replaceChildren(table(state.alarms.filter((a) => a.state !== 'active'), t('noRecent')));
  }

  render();
  ctx.reloadAlarms();
  return {
    update(what) {
      if (what === 'alarms') render();
    },
    destroy() {},
  };
}
