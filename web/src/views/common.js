// common.js: pieces several views share: the status badge (a shape and a
// word besides the colour) and a value with its unit.

import {h} from '../dom.js';
import {t, fmtNum} from '../i18n.js';
import {unitOf} from '../state.js';

const SHAPE = {ok: '●', warning: '▲', alarm: '◆', offline: '○'};

export function badge(status) {
  return h('span', {class: 'badge st-' + status, dataset: {status}},
    h('span', {class: 'shape', 'aria-hidden': 'true'}, SHAPE[status] || '●'), t('st_' + status));
}

export function valueWithUnit(name, v) {
  const unit = unitOf(name);
  return [h('span', {class: 'v'}, fmtNum(v)), unit ? h('span', {class: 'u'}, unit) : null];
}

export function groupHref(id) {
  return '#/group/' + encodeURIComponent(id);
}

export function byGroupId(a, b) {
  return String(a).localeCompare(String(b), undefined, {numeric: true});
}
