// i18n.js: the dashboard's words in English and Korean, and the formats of
// numbers, dates (in the server's time zone) and ages. The language comes
// from localStorage ('gasket.lang', set by the switch), else the browser's.

const STRINGS = {
  en: {
    skip: 'Skip to content', mainNav: 'Main',
    overview: 'Overview', alarms: 'Alarms', map: 'Map', group: 'Group',
    loading: 'Loading…',
    live: 'Live', reconnecting: 'Reconnecting…', disconnected: 'Disconnected',
    liveTitle: 'Live updates over MQTT/WebSocket',
    langSwitch: '한국어', langSwitchTitle: '한국어로 보기',
    logout: 'Log out', signedInAs: 'Signed in as {user} ({role})',
    role_admin: 'admin', role_viewer: 'viewer',
    st_ok: 'OK', st_warning: 'Warning', st_alarm: 'Alarm', st_offline: 'Offline',
    all: 'All', groups: 'groups', byStatus: 'Groups by status',
    filter: 'Filter groups', filterPlaceholder: 'Group or gas…',
    lastSeen: 'Last seen', never: 'never',
    justNow: 'just now', agoS: '{n} s ago', agoM: '{n} min ago', agoH: '{n} h ago', agoD: '{n} d ago',
    noGroups: 'No readings yet. Devices post to a route (e.g. POST /gasdetector); the groups appear here.',
    noMatch: 'No group matches the filter.',
    noValues: 'No measurements in the last reading.',
    groupTitle: 'Group {id}', back: 'All groups',
    position: 'Position', noPosition: 'no position',
    range: 'Range', r15m: '15 min', r1h: '1 h', r24h: '24 h', r7d: '7 d', r30d: '30 d', custom: 'Custom',
    from: 'From', to: 'To', apply: 'Apply',
    badRange: 'The end must come after the start.',
    bucket: 'one point = {iv}', csv: 'Download CSV',
    min: 'min', max: 'max', avg: 'avg', count: 'readings',
    noData: 'No data in this range.',
    unknownGroup: 'No readings from group {id}.',
    levels: 'Levels', lvl_warn: 'warning', lvl_alarm: 'alarm', lvl_clear: 'clear',
    active: 'Active', recent: 'Recently cleared', noActive: 'No active alarm.', noRecent: 'No cleared alarm yet.',
    severity: 'Severity', rule: 'Rule', value: 'Value', peak: 'peak',
    raised: 'Raised', cleared: 'Cleared', acknowledged: 'Acknowledged', state: 'State',
    state_active: 'active', state_cleared: 'cleared',
    ack: 'Acknowledge', ackBy: '{who}, {when}', notAcked: 'not yet',
    ackForbidden: 'Only an admin may acknowledge alarms.',
    ackDone: 'Alarm {id} acknowledged.',
    mapTitle: 'Map', mapNote: 'Groups placed by their GPS position (no map tiles: works offline). Select one to open it.',
    withoutGps: 'Without position', allPlaced: 'Every group has a position.',
    noGps: 'No group has a GPS position yet.',
    signIn: 'Sign in', user: 'User name', password: 'Password',
    wrongLogin: 'Wrong user name or password.',
    tooMany: 'Too many attempts. Try again in {n} s.',
    expired: 'Your session has ended. Please sign in again.',
    loginNeeded: 'Sign in to see the gas levels.',
    cannotReach: 'Cannot reach gasketd: {msg}',
    noSession: 'This gasketd does not offer dashboard sessions ({msg}).',
    error: 'Error: {msg}',
    retry: 'Retry',
    emergency: 'Emergency signal from a device',
    unit: 'unit',
    time: 'Time',
  },
  ko: {
    skip: '본문으로 건너뛰기', mainNav: '주 메뉴',
    overview: '개요', alarms: '경보', map: '지도', group: '그룹',
    loading: '불러오는 중…',
    live: '실시간', reconnecting: '다시 연결하는 중…', disconnected: '연결 끊김',
    liveTitle: 'MQTT/WebSocket 실시간 갱신',
    langSwitch: 'English', langSwitchTitle: 'View in English',
    logout: '로그아웃', signedInAs: '{user} ({role}) 로그인됨',
    role_admin: '관리자', role_viewer: '조회자',
    st_ok: '정상', st_warning: '주의', st_alarm: '경보', st_offline: '오프라인',
    all: '전체', groups: '그룹', byStatus: '상태별 그룹 수',
    filter: '그룹 찾기', filterPlaceholder: '그룹 또는 가스…',
    lastSeen: '마지막 수신', never: '없음',
    justNow: '방금', agoS: '{n}초 전', agoM: '{n}분 전', agoH: '{n}시간 전', agoD: '{n}일 전',
    noGroups: '아직 측정값이 없습니다. 장치가 경로(예: POST /gasdetector)로 보내면 그룹이 여기에 나타납니다.',
    noMatch: '조건에 맞는 그룹이 없습니다.',
    noValues: '마지막 측정에 값이 없습니다.',
    groupTitle: '그룹 {id}', back: '전체 그룹',
    position: '위치', noPosition: '위치 없음',
    range: '기간', r15m: '15분', r1h: '1시간', r24h: '24시간', r7d: '7일', r30d: '30일', custom: '직접 지정',
    from: '시작', to: '끝', apply: '적용',
    badRange: '끝은 시작보다 뒤여야 합니다.',
    bucket: '한 점 = {iv}', csv: 'CSV 내려받기',
    min: '최소', max: '최대', avg: '평균', count: '측정 수',
    noData: '이 기간에는 자료가 없습니다.',
    unknownGroup: '그룹 {id}의 측정값이 없습니다.',
    levels: '기준', lvl_warn: '주의', lvl_alarm: '경보', lvl_clear: '해제',
    active: '진행 중', recent: '최근 해제됨', noActive: '진행 중인 경보가 없습니다.', noRecent: '아직 해제된 경보가 없습니다.',
    severity: '등급', rule: '규칙', value: '값', peak: '최고',
    raised: '발생', cleared: '해제', acknowledged: '확인', state: '상태',
    state_active: '진행 중', state_cleared: '해제됨',
    ack: '확인', ackBy: '{who}, {when}', notAcked: '미확인',
    ackForbidden: '경보 확인은 관리자만 할 수 있습니다.',
    ackDone: '경보 {id}을(를) 확인했습니다.',
    mapTitle: '지도', mapNote: 'GPS 위치에 따라 그룹을 표시합니다(지도 타일 없이 오프라인에서 동작). 선택하면 그룹을 엽니다.',
    withoutGps: '위치 없는 그룹', allPlaced: '모든 그룹에 위치가 있습니다.',
    noGps: '아직 GPS 위치가 있는 그룹이 없습니다.',
    signIn: '로그인', user: '사용자 이름', password: '비밀번호',
    wrongLogin: '사용자 이름 또는 비밀번호가 틀렸습니다.',
    tooMany: '시도가 너무 많습니다. {n}초 후에 다시 시도하세요.',
    expired: '세션이 끝났습니다. 다시 로그인하세요.',
    loginNeeded: '가스 농도를 보려면 로그인하세요.',
    cannotReach: 'gasketd에 연결할 수 없습니다: {msg}',
    noSession: '이 gasketd는 대시보드 세션을 제공하지 않습니다 ({msg}).',
    error: '오류: {msg}',
    retry: '다시 시도',
    emergency: '장치에서 비상 신호',
    unit: '단위',
    time: '시각',
  },
};

const KEY = 'gasket.lang';
let lang = pickLang();
let zone;
const fmtCache = new Map();

function pickLang() {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved && STRINGS[saved]) return saved;
  } catch { /* storage may be off */ }
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return nav.toLowerCase().startsWith('ko') ? 'ko' : 'en';
}

export function getLang() {
  return lang;
}

export function setLang(l) {
  if (!STRINGS[l]) return;
  lang = l;
  document.documentElement.lang = l;
  fmtCache.clear();
  try {
    localStorage.setItem(KEY, l);
  } catch { /* not remembered */ }
}

// t('agoS', {n: 3}) -> '3 s ago'; an unknown key is shown as itself.
export function t(key, vars) {
  let s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// The server's time zone (config.timezone), if the browser knows it.
export function setZone(tz) {
  zone = undefined;
  fmtCache.clear();
  if (!tz) return;
  try {
    new Intl.DateTimeFormat('en', {timeZone: tz});
    zone = tz;
  } catch { /* unknown zone: the browser's own */ }
}

export function getZone() {
  return zone;
}

function partsFormat() {
  let f = fmtCache.get('parts');
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {timeZone: zone, hourCycle: 'h23', year: 'numeric',
      month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit'});
    fmtCache.set('parts', f);
  }
  return f;
}

// {year, month, day, hour, minute, second} of ms in the zone.
export function zoneParts(ms) {
  const o = {};
  for (const p of partsFormat().formatToParts(new Date(ms))) if (p.type !== 'literal') o[p.type] = +p.value;
  if (o.hour === 24) o.hour = 0;
  return o;
}

const pad = (n) => String(n).padStart(2, '0');

// '2026-05-10 14:03:22' in the zone ('' for a bad time).
export function fmtDateTime(ms, withSeconds = true) {
  if (!Number.isFinite(ms)) return '';
  const p = zoneParts(ms);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}` +
    (withSeconds ? ':' + pad(p.second) : '');
}

// The zone's offset from UTC at ms, in ms.
function zoneOffset(ms) {
  const p = zoneParts(ms);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
}

// 'YYYY-MM-DD HH:MM[:SS]' as a wall-clock time in the zone (gasket's stored
// `date`, a datetime-local input) -> epoch ms; other text by Date.parse
// (ISO 8601 with an offset). NaN when it is no date.
export function parseZoned(text) {
  if (typeof text === 'number') return text;
  if (typeof text !== 'string') return NaN;
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?$/.exec(text.trim());
  if (!m) return Date.parse(text);
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  let t = wall - zoneOffset(wall);
  t = wall - zoneOffset(t); // right on both sides of a DST change
  return t;
}

// The value of a datetime-local input showing ms in the zone.
export function toLocalInput(ms) {
  return fmtDateTime(ms, false).replace(' ', 'T');
}

export function fmtAgo(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return t('never');
  const s = Math.floor((now - ms) / 1000);
  if (s < 1) return t('justNow');
  if (s < 60) return t('agoS', {n: s});
  if (s < 3600) return t('agoM', {n: Math.floor(s / 60)});
  if (s < 86400) return t('agoH', {n: Math.floor(s / 3600)});
  return t('agoD', {n: Math.floor(s / 86400)});
}

// A reading's value: at most 2 decimals from 1 up, 3 significant digits below.
export function fmtNum(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  const opts = a >= 100 ? {maximumFractionDigits: 1}
    : a >= 1 || a === 0 ? {maximumFractionDigits: 2} : {maximumSignificantDigits: 3};
  let f = fmtCache.get('n' + JSON.stringify(opts));
  if (!f) {
    f = new Intl.NumberFormat(lang === 'ko' ? 'ko-KR' : 'en-US', opts);
    fmtCache.set('n' + JSON.stringify(opts), f);
  }
  return f.format(v);
}
