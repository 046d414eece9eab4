// Drives a running gasketd with the official OpenSearch JavaScript client
// (@opensearch-project/opensearch, pinned in package.json): info and ping,
// bulk, search with a bool filter and aggregations, count, get, index,
// cat.indices, an unsupported query's error, and the bulk helper. Every
// expected hit, bucket and average is computed here from the documents sent.
//
// Usage: node client_test.mjs URL KEY   (or GASKET_URL / GASKET_KEY)
// The daemon must be empty and run with [server] timezone = Asia/Seoul
// (tests/integration/test_opensearch_client.py starts it so). Prints one
// line per step; exits 1 with the first mismatch, 0 when all pass.
import assert from 'node:assert/strict';
import { Client } from '@opensearch-project/opensearch';

const node = process.argv[2] || process.env.GASKET_URL;
const key = process.argv[3] || process.env.GASKET_KEY;
if (!node || !key) {
  console.error('usage: node client_test.mjs URL KEY');
  process.exit(2);
}
const INDEX = 'gasdetect';
const TZ_OFFSET_MS = 9 * 3600 * 1000; // Asia/Seoul, the daemon's timezone
const client = new Client({ node, auth: { username: 'any', password: key }, maxRetries: 0 });

// One device document as the seed device sends it (tests/integration/conftest.py).
function device(group, no2, date) {
  const m = (id, value) => ({ sensorid: id, sensortype: '8', value,
                              createdtime: '2021-09-03 18:14:49' });
  const doc = { groupid: group, gps: '37.61002501514269, 126.99636868892937',
                co: m('0005', '26.20'), no2: m('0006', no2), c2h5oh: m('0007', '3.5'),
                h2: m('0008', '7.75') };
  if (date !== undefined) doc.date = date;
  return doc;
}

// Epoch ms of gasket's "YYYY-MM-DD HH:MM:SS" text in the daemon's timezone.
function epochMs(text) {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text);
  assert.ok(m, `date ${JSON.stringify(text)} is not YYYY-MM-DD HH:MM:SS`);
  return Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]) - TZ_OFFSET_MS;
}

// "YYYY-MM-DD HH:MM:SS" of an epoch ms in the daemon's timezone.
function localText(ms) {
  return new Date(ms + TZ_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');
}

function avg(docs) {
  if (docs.length === 0) return null;
  return docs.reduce((s, d) => s + Number(d.no2.value), 0) / docs.length;
}

function near(got, want, what) {
  if (want === null) return assert.equal(got, null, what);
  assert.ok(typeof got === 'number' && Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)),
            `${what}: got ${got}, want ${want}`);
}

// The reply's _source must be what was sent, member order included.
function sameSource(got, sent, what) {
  assert.deepEqual(got, sent, what);
  assert.equal(JSON.stringify(got), JSON.stringify(sent), `${what} (member order)`);
}

const steps = [];
function step(name, fn) { steps.push([name, fn]); }

const stored = []; // {id, doc}: doc as stored (with its date)

step('info and ping', async () => {
  const { body, statusCode } = await client.info();
  assert.equal(statusCode, 200);
  assert.equal(body.version?.distribution, 'opensearch', 'version.distribution');
  assert.match(String(body.version?.number), /^\d+\.\d+\.\d+$/, 'version.number');
  const ping = await client.ping();
  assert.equal(ping.statusCode, 200, 'ping');
});

const dated = [
  device('2', '0.12', '2021-09-03 18:14:49'),
  device('2', '0.50', '2021-09-03 18:40:00'),
  device('2', 1.25, '2021-09-03 20:59:59'),
  device('2', '9.00', '2021-09-03 21:00:00'), // outside the range (lt)
  device('2', '8.00', '2021-09-03 17:59:59'), // outside the range (gte)
  device('3', '2.00', '2021-09-03 18:30:00'), // another group
];
const undated = [device('2', '0.30'), device('3', '0.40')];

step('bulk', async () => {
  const docs = [...dated, ...undated];
  const before = Date.now();
  const { body, statusCode } = await client.bulk({
    refresh: 'wait_for',
    body: docs.flatMap((d, i) => [i % 2 ? { create: { _index: INDEX } } : { index: { _index: INDEX } }, d]),
  });
  const after = Date.now();
  assert.equal(statusCode, 200);
  assert.equal(body.errors, false, `bulk errors: ${JSON.stringify(body.items)}`);
  assert.equal(body.items.length, docs.length, 'bulk items');
  body.items.forEach((item, i) => {
    const op = i % 2 ? 'create' : 'index';
    const r = item[op];
    assert.ok(r, `item ${i} is ${JSON.stringify(item)}, want ${op}`);
    assert.equal(r.status, 201, `item ${i} status`);
    assert.equal(r.result, 'created', `item ${i} result`);
    assert.equal(r._index, INDEX, `item ${i} _index`);
    assert.equal(typeof r._id, 'string', `item ${i} _id`);
    stored.push({ id: r._id, doc: docs[i] });
  });
  // the undated ones got the receive time: read it back with get
  for (const s of stored.slice(dated.length)) {
    const got = await client.get({ index: INDEX, id: s.id });
    assert.equal(got.statusCode, 200);
    assert.equal(got.body.found, true);
    assert.equal(got.body._id, s.id);
    const date = got.body._source.date;
    const ms = epochMs(date);
    assert.ok(ms >= Math.floor(before / 1000) * 1000 && ms <= after,
              `receive date ${date} not within ${localText(before)}..${localText(after)}`);
    s.doc = { ...s.doc, date };
    sameSource(got.body._source, s.doc, `_source of ${s.id}`);
  }
});

const FROM = '2021-09-03 18:00:00', TO = '2021-09-03 21:00:00';
const inRange = (d) => epochMs(d.date) >= epochMs(FROM) && epochMs(d.date) < epochMs(TO);
const filter = { bool: { filter: [{ term: { groupid: '2' } },
                                  { range: { date: { gte: FROM, lt: TO } } }] } };

step('search: bool filter, date_histogram -> avg, terms', async () => {
  const want = stored.filter((s) => s.doc.groupid === '2' && inRange(s.doc))
    .sort((a, b) => epochMs(a.doc.date) - epochMs(b.doc.date));
  const { body, statusCode } = await client.search({
    index: INDEX,
    body: {
      query: filter, size: 10, sort: [{ date: 'asc' }], track_total_hits: true,
      aggs: {
        per_hour: { date_histogram: { field: 'date', fixed_interval: '1h' },
                    aggs: { avg_no2: { avg: { field: 'no2.value' } } } },
        groups: { terms: { field: 'groupid' } },
      },
    },
  });
  assert.equal(statusCode, 200);
  assert.equal(body.timed_out, false);
  assert.deepEqual(body.hits.total, { value: want.length, relation: 'eq' }, 'hits.total');
  assert.deepEqual(body.hits.hits.map((h) => h._id), want.map((s) => s.id), 'hit ids in date order');
  body.hits.hits.forEach((h, i) => {
    assert.equal(h._index, INDEX);
    sameSource(h._source, want[i].doc, `hit ${h._id} _source`);
  });
  // hourly buckets (UTC) from the first to the last document, empty ones filled
  const hour = 3600 * 1000;
  const times = want.map((s) => epochMs(s.doc.date));
  const first = Math.floor(Math.min(...times) / hour) * hour;
  const last = Math.floor(Math.max(...times) / hour) * hour;
  const buckets = body.aggregations.per_hour.buckets;
  assert.equal(buckets.length, (last - first) / hour + 1, 'histogram bucket count');
  buckets.forEach((b, i) => {
    const key = first + i * hour;
    const docs = want.filter((s) => Math.floor(epochMs(s.doc.date) / hour) * hour === key)
      .map((s) => s.doc);
    assert.equal(b.key, key, `bucket ${i} key`);
    assert.equal(b.key_as_string, new Date(key).toISOString(), `bucket ${i} key_as_string`);
    assert.equal(b.doc_count, docs.length, `bucket ${b.key_as_string} doc_count`);
    near(b.avg_no2.value, avg(docs), `bucket ${b.key_as_string} avg no2`);
  });
  assert.ok(buckets.some((b) => b.doc_count === 0), 'an empty hour in the middle');
  assert.deepEqual(body.aggregations.groups.buckets, [{ key: '2', doc_count: want.length }],
                   'terms groupid');
});

step('search: terms groupid -> avg over a date range', async () => {
  const groups = {};
  for (const s of stored.filter((x) => inRange(x.doc))) {
    (groups[s.doc.groupid] ||= []).push(s.doc);
  }
  const want = Object.entries(groups)
    .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1));
  const { body } = await client.search({
    index: INDEX,
    body: { size: 0, query: { range: { date: { gte: FROM, lt: TO } } },
            aggs: { g: { terms: { field: 'groupid' },
                         aggs: { a: { avg: { field: 'no2.value' } } } } } },
  });
  assert.deepEqual(body.hits.hits, [], 'size 0 hits');
  const got = body.aggregations.g.buckets;
  assert.deepEqual(got.map((b) => [b.key, b.doc_count]), want.map(([k, d]) => [k, d.length]),
                   'group buckets');
  got.forEach((b, i) => near(b.a.value, avg(want[i][1]), `avg no2 of group ${b.key}`));
  assert.equal(body.aggregations.g.sum_other_doc_count, 0);
});

step('count', async () => {
  const want = stored.filter((s) => s.doc.groupid === '2' && inRange(s.doc)).length;
  let r = await client.count({ index: INDEX, body: { query: filter } });
  assert.equal(r.statusCode, 200);
  assert.equal(r.body.count, want, 'count with the filter');
  r = await client.count({ index: INDEX });
  assert.equal(r.body.count, stored.length, 'count of everything');
});

step('get', async () => {
  const s = stored[1];
  const { body, statusCode } = await client.get({ index: INDEX, id: s.id });
  assert.equal(statusCode, 200);
  assert.equal(body.found, true);
  assert.equal(body._index, INDEX);
  assert.equal(body._id, s.id);
  sameSource(body._source, s.doc, `_source of ${s.id}`);
  const missing = await client.get({ index: INDEX, id: '999999' }).then(
    () => null, (e) => e);
  assert.ok(missing, 'get of a missing id should fail');
  assert.equal(missing.meta?.statusCode, 404, `missing id: ${missing}`);
  assert.equal(missing.body?.found, false);
});

step('index (POST _doc, no id)', async () => {
  const doc = device('5', '0.77', '2021-09-04 01:02:03');
  const { body, statusCode } = await client.index({ index: INDEX, body: doc, refresh: true });
  assert.equal(statusCode, 201);
  assert.equal(body.result, 'created');
  assert.equal(body._index, INDEX);
  assert.equal(typeof body._id, 'string');
  stored.push({ id: body._id, doc });
  const got = await client.get({ index: INDEX, id: body._id });
  sameSource(got.body._source, doc, 'indexed _source');
  const bad = await client.index({ index: INDEX, body: device('5', 'abc') }).then(
    () => null, (e) => e);
  assert.ok(bad, 'an invalid document should be refused');
  assert.equal(bad.meta?.statusCode, 400, `invalid document: ${bad}`);
  assert.equal(bad.body?.error?.type, 'mapper_parsing_exception');
  assert.equal(bad.body?.error?.field, 'no2.value');
});

step('indices.exists and indices.get', async () => {
  const yes = await client.indices.exists({ index: INDEX });
  assert.equal(yes.statusCode, 200, 'indices.exists on a written index');
  assert.equal(yes.body, true);
  const no = await client.indices.exists({ index: 'never-written' });
  assert.equal(no.statusCode, 404);
  assert.equal(no.body, false);
  const { body } = await client.indices.get({ index: INDEX });
  assert.equal(body[INDEX].mappings.properties.no2.properties.value.type, 'double');
});

step('cat.indices format json', async () => {
  const { body, statusCode } = await client.cat.indices({ format: 'json' });
  assert.equal(statusCode, 200);
  assert.ok(Array.isArray(body), `cat.indices body is ${JSON.stringify(body)}`);
  const row = body.find((r) => r.index === INDEX);
  assert.ok(row, `no ${INDEX} in ${JSON.stringify(body)}`);
  assert.equal(row['docs.count'], String(stored.length), 'docs.count');
  for (const k of ['health', 'status', 'uuid', 'pri', 'rep', 'store.size']) {
    assert.equal(typeof row[k], 'string', `cat.indices ${k}`);
  }
});

step('unsupported query: ResponseError 400 with the reason', async () => {
  const err = await client.search({ index: INDEX, body: { query: { match: { groupid: '2' } } } })
    .then(() => null, (e) => e);
  assert.ok(err, 'a match query should be refused');
  assert.equal(err.name, 'ResponseError', `got ${err}`);
  assert.equal(err.meta.statusCode, 400, 'HTTP status');
  assert.equal(err.statusCode, 400);
  assert.equal(err.body.error.type, 'parsing_exception', JSON.stringify(err.body));
  assert.match(err.body.error.reason, /match/, 'reason names the query');
  assert.match(err.message, /parsing_exception/, 'message');
});

step('helpers.bulk', async () => {
  const docs = [device('4', '1.50', '2021-09-05 10:00:00'), device('4', 'abc'),
                device('4', '2.50', '2021-09-05 11:00:00')];
  const dropped = [];
  const stats = await client.helpers.bulk({
    datasource: docs,
    onDocument: () => ({ index: { _index: INDEX } }),
    onDrop: (d) => dropped.push(d),
    flushInterval: 1000,
  });
  assert.equal(stats.total, 3, `stats ${JSON.stringify(stats)}`);
  assert.equal(stats.successful, 2, `stats ${JSON.stringify(stats)}`);
  assert.equal(stats.failed, 1, `stats ${JSON.stringify(stats)}`);
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0].status, 400);
  assert.equal(dropped[0].error?.type, 'mapper_parsing_exception');
  assert.deepEqual(dropped[0].document, docs[1]);
  const { body } = await client.search({
    index: INDEX, body: { query: { term: { groupid: '4' } }, sort: ['date'] } });
  assert.equal(body.hits.total.value, 2);
  sameSource(body.hits.hits[0]._source, docs[0], 'first helper document');
  sameSource(body.hits.hits[1]._source, docs[2], 'second helper document');
});

let failed = 0;
for (const [name, fn] of steps) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
    if (e.meta) console.log(`     HTTP ${e.meta.statusCode} ${JSON.stringify(e.meta.body)}`);
    break; // later steps build on earlier ones
  }
}
await client.close();
process.exit(failed ? 1 : 0);
