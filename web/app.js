// app.js: asks gasketd's /healthz and shows the answer in #status.
'use strict';

function showStatus(text, state) {
  const el = document.getElementById('status');
  el.textContent = text;
  el.dataset.state = state;
}

async function checkHealth() {
  try {
    const res = await fetch('/healthz', {cache: 'no-store'});
    const body = await res.json();
    showStatus(body.status || String(res.status), res.ok ? 'ok' : 'down');
  } catch (err) {
    showStatus('unreachable', 'down');
  }
}

checkHealth();
setInterval(checkHealth, 10000);
