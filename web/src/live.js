// live.js: the live feed, MQTT over WebSocket at /mqtt on the page's own
// host (the session cookie identifies the browser: no password is sent).
// mqtt.js (window.mqtt, vendor/mqtt.min.js) reconnects by itself every 2 s;
// the state goes to onState: 'live', 'reconnecting' or 'down'.

// onReconnected: connected again after a loss; onFailed: an attempt ended
// without a connection (gasketd away, or the session no longer valid).
export function connectLive({topics, onMessage, onState, onReconnected, onFailed}) {
  const lib = window.mqtt;
  if (!lib || !topics.length) {
    onState('down');
    return {close() {}};
  }
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/mqtt';
  let connectedBefore = false;
  let up = false;
  const client = lib.connect(url, {
    protocolVersion: 4,
    clean: true,
    clientId: 'gasket-dash-' + Math.random().toString(16).slice(2, 12),
    keepalive: 30,
    reconnectPeriod: 2000,
    connectTimeout: 10000,
    resubscribe: false,
    // Native timers: the default worker timers need a blob: worker, which
    // the page's Content-Security-Policy (rightly) forbids.
    timerVariant: 'native',
  });
  client.on('connect', () => {
    up = true;
    client.subscribe(topics.map((t) => [t.topic, {qos: t.qos}]).reduce((o, [k, v]) => {
      o[k] = v;
      return o;
    }, {}), (err) => {
      onState(err ? 'down' : 'live');
      if (!err && connectedBefore && onReconnected) onReconnected();
      connectedBefore = true;
    });
  });
  client.on('reconnect', () => onState('reconnecting'));
  client.on('offline', () => onState('down'));
  client.on('close', () => {
    if (!up && onFailed) onFailed();
    up = false;
    if (!client.reconnecting) onState('down');
  });
  client.on('error', () => onState('down')); // a refused CONNECT: retried
  client.on('message', (topic, payload) => {
    let text = '';
    try {
      text = new TextDecoder().decode(payload);
    } catch {
      return;
    }
    onMessage(topic, text);
  });
  return {
    close() {
      client.end(true);
    },
  };
}
