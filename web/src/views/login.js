// login.js: the sign-in form (POST /_dashboard/login). A wrong password
// and a refusal for too many attempts (429, Retry-After) are said plainly.

import * as api from '../api.js';
import {h, setText} from '../dom.js';
import {t} from '../i18n.js';

export function loginView(root, {message, user: typed, onSession}) {
  const err = h('p', {class: 'form-error', role: 'alert', id: 'login-error', hidden: !message}, message || '');
  const user = h('input', {class: 'input', id: 'user', name: 'user', autocomplete: 'username', required: true,
    autocapitalize: 'none', spellcheck: 'false', value: typed || null});
  const pass = h('input', {class: 'input', id: 'password', name: 'password', type: 'password',
    autocomplete: 'current-password', required: true});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'sign-in'}, t('signIn'));
  const form = h('form', {class: 'panel login', id: 'login', onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.hidden = true;
    try {
      const session = await api.login(user.value, pass.value);
      onSession(session);
    } catch (x) {
      err.hidden = false;
      pass.value = '';
      if (x.status === 401) setText(err, t('wrongLogin'));
      else if (x.status === 429) setText(err, t('tooMany', {n: x.retryAfter || '?'}));
      else setText(err, t('error', {msg: x.message}));
      pass.focus();
    } finally {
      submit.disabled = false;
    }
  }},
  h('div', {class: 'login-logo'}, h('img', {class: 'logo', src: '/_dashboard/favicon.svg', alt: ''})),
  h('h1', null, t('signIn')),
  h('p', {class: 'muted'}, t('loginNeeded')),
  err,
  h('label', {for: 'user'}, t('user')), user,
  h('label', {for: 'password'}, t('password')), pass,
  submit);
  root.replaceChildren(h('div', {class: 'login-wrap'}, form));
  (typed ? pass : user).focus();
  return {destroy() {}};
}
