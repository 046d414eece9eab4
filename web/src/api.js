// api.js: gasketd's HTTP APIs as the dashboard uses them. Every request
// carries the session cookie (same origin) and the session's CSRF token;
// an answer that is not 2xx becomes an ApiError with its status and body.
// A 401 also calls the handler set with onUnauthorized (the session ended).

let csrf = '';
let unauthorized = () => {};

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && (body.message || (body.error && body.error.reason))) || 'HTTP ' + status);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

export function setCsrf(token) {
  csrf = token || '';
}

export function onUnauthorized(fn) {
  unauthorized = fn;
}

// request('POST', '/x', {..}) -> the answer's JSON (null when empty).
// opts.quiet401: a 401 is only thrown, the handler is not called.
export async function request(method, path, body, opts = {}) {
  const headers = {Accept: 'application/json'};
  if (csrf) headers['X-Gasket-CSRF'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = {message: text.slice(0, 200)};
  }
  if (!res.ok) {
    if (res.status === 401 && !opts.quiet401) unauthorized();
    throw new ApiError(res.status, data, res.headers.get('Retry-After'));
  }
  return data;
}

// The session; without one gasketd answers 200 {user: null, login_required}
// (a browser would log a 401 as a failed request), thrown here as the 401
// it means.
export async function session() {
  const s = await request('GET', '/_dashboard/session', undefined, {quiet401: true});
  if (!s || s.user == null) throw new ApiError(401, s || {}, null);
  return s;
}
export const login = (user, password) =>
  request('POST', '/_dashboard/login', user === undefined ? {} : {user, password}, {quiet401: true});
export const logout = () => request('POST', '/_dashboard/logout', undefined, {quiet401: true});

export function search(index, body) {
  return request('POST', '/' + encodeURIComponent(index) + '/_search', body);
}

// The newest document of every group (at most `size` groups) of one index:
// terms on groupid, each with its newest hit (gasket reads one index entry
// per group for it). -> [{groupid, source, ts}] (ts: epoch ms or NaN).
export async function latestPerGroup(index, size = 1000) {
  const r = await search(index, {
    size: 0,
    aggs: {g: {terms: {field: 'groupid', size},
      aggs: {last: {top_hits: {size: 1, sort: [{date: {order: 'desc'}}, {_doc: {order: 'desc'}}]}}}}},
  });
  const buckets = (r && r.aggregations && r.aggregations.g && r.aggregations.g.buckets) || [];
  const out = [];
  for (const b of buckets) {
    const hit = b.last && b.last.hits && b.last.hits.hits && b.last.hits.hits[0];
    if (!hit) continue;
    const sortTs = hit.sort && typeof hit.sort[0] === 'number' ? hit.sort[0] : NaN;
    out.push({groupid: String(b.key), source: hit._source || {}, ts: sortTs});
  }
  return out;
}

// A date_histogram of one group's measurements: one `stats` per gas per
// bucket. gases: names; from/to: epoch ms; interval: '1m'... -> buckets
// [{key, n, stats: [{count,min,max,avg,sum} per gas]}].
export async function histogram(index, group, gases, from, to, interval, timeZone) {
  const aggs = {};
  gases.forEach((g, i) => { aggs['m' + i] = {stats: {field: g + '.value'}}; });
  const dh = {field: 'date', fixed_interval: interval, min_doc_count: 0,
    extended_bounds: {min: from, max: to}};
  if (timeZone) dh.time_zone = timeZone;
  const r = await search(index, {
    size: 0,
    query: {bool: {filter: [{term: {groupid: group}}, {range: {date: {gte: from, lte: to}}}]}},
    aggs: {h: {date_histogram: dh, aggs}},
  });
  const buckets = (r && r.aggregations && r.aggregations.h && r.aggregations.h.buckets) || [];
  return buckets.map((b) => ({
    key: b.key, n: b.doc_count,
    stats: gases.map((_, i) => b['m' + i] || {count: 0}),
  }));
}

// /alarms: {alarms:[...], total}. params: {active, group, since, limit}.
export function alarms(params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null) q.set(k, String(v));
  const qs = q.toString();
  return request('GET', '/alarms' + (qs ? '?' + qs : ''));
}

export const ack = (id) => request('POST', '/alarms/' + encodeURIComponent(id) + '/ack', {});
