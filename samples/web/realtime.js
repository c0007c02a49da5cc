// Follows the realtime mode the server decides (`realtimeMode` in every search answer and
// CONCERTS_REFRESH):
//   websocket: one WebSocket, topic pushes only; no timer-driven HTTP at all.
//   hybrid:    the WebSocket plus a corrective poll every hybridPollIntervalMillis.
//   polling:   no WebSocket; poll every hybridPollIntervalMillis.
// If the WebSocket cannot be opened or drops, the page polls instead (and says so) until a
// reconnect succeeds; then it takes one corrective read and stops polling again.
const PING_EVERY_MS = 60_000;
const OPEN_TIMEOUT_MS = 5_000;
const RECONNECT_MS = [2_000, 5_000, 10_000, 30_000];

export class Realtime {
  constructor({ clock, session, socketUrl }) {
    this.clock = clock;
    this.session = session;
    this.socketUrl = socketUrl;
    this.mode = null;
    this.intervalMs = 30_000;
    this.socket = null;
    this.socketState = 'closed'; // closed | connecting | open | failed
    this.failures = 0;
    this.topics = new Map(); // topic -> Set(handler)
    this.acked = new Set(); // topics the server confirmed (SUBSCRIBED) on this socket
    this.polls = new Map(); // fn -> { id, every } (null while not polling)
    this.resyncs = new Set();
    this.statusListeners = new Set();
    this.pingTimer = null;
    this.reconnectTimer = null;
    this.counters = { socketsOpened: 0, messages: 0, pongs: 0 };
  }

  // Apply a mode and interval from the server; idempotent.
  configure(mode, intervalMs) {
    if (!['websocket', 'hybrid', 'polling'].includes(mode)) mode = 'websocket';
    const changed = mode !== this.mode || intervalMs !== this.intervalMs;
    this.mode = mode;
    if (Number.isFinite(intervalMs) && intervalMs > 0) this.intervalMs = intervalMs;
    if (this.mode === 'polling') {
      this.closeSocket();
      this.socketState = 'closed';
    } else if (this.socketState === 'closed') {
      this.openSocket();
    }
    if (changed) this.reschedulePolls();
    this.emitStatus();
  }

  usesSocket() {
    return this.mode === 'websocket' || this.mode === 'hybrid';
  }
  socketLive() {
    return this.usesSocket() && this.socketState === 'open';
  }
  // Polling in place of a socket that failed, through the reconnect attempts, until one opens.
  fallback() {
    return this.usesSocket() && this.failures > 0 && this.socketState !== 'open';
  }
  pollNeeded() {
    return this.mode === 'hybrid' || this.mode === 'polling' || this.fallback();
  }

  // A screen's periodic read; runs only while the mode (or a fallback) asks for polling.
  addPoll(fn) {
    this.polls.set(fn, null);
    this.reschedulePolls();
    return () => {
      const t = this.polls.get(fn);
      if (t) clearInterval(t.id);
      this.polls.delete(fn);
    };
  }

  // Called after a reconnect, when pushes may have been missed.
  onResync(fn) {
    this.resyncs.add(fn);
    return () => this.resyncs.delete(fn);
  }

  onStatus(fn) {
    this.statusListeners.add(fn);
    fn(this.status());
    return () => this.statusListeners.delete(fn);
  }

  status() {
    return {
      mode: this.mode,
      socketState: this.socketState,
      fallback: this.fallback(),
      intervalMs: this.intervalMs,
    };
  }

  isSubscribed(topic) {
    return this.socketLive() && this.acked.has(topic);
  }

  subscribe(topic, handler) {
    let set = this.topics.get(topic);
    if (!set) {
      set = new Set();
      this.topics.set(topic, set);
      this.send({ action: 'subscribe', topic });
    }
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.topics.get(topic) === set) {
        this.topics.delete(topic);
        this.send({ action: 'unsubscribe', topic });
      }
    };
  }

  // A new identity: user topics belong to the token the socket was opened with.
  reconnect() {
    if (!this.usesSocket()) return;
    this.closeSocket();
    this.openSocket();
  }

  send(msg) {
    if (this.socket && this.socketState === 'open') this.socket.send(JSON.stringify(msg));
  }

  openSocket() {
    if (!this.usesSocket()) return;
    const token = this.session.token();
    const url = this.socketUrl + (token ? `?token=${encodeURIComponent(token)}` : '');
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.socketFailed();
      return;
    }
    this.socket = ws;
    this.socketState = 'connecting';
    this.emitStatus();
    const openTimer = setTimeout(() => {
      if (this.socket === ws && this.socketState === 'connecting') {
        ws.close();
        this.socketFailed();
      }
    }, OPEN_TIMEOUT_MS);
    ws.addEventListener('open', () => {
      clearTimeout(openTimer);
      if (this.socket !== ws) return;
      const recovered = this.failures > 0;
      this.failures = 0;
      this.socketState = 'open';
      this.counters.socketsOpened += 1;
      for (const topic of this.topics.keys()) this.send({ action: 'subscribe', topic });
      this.send({ action: 'ping' });
      this.pingTimer = setInterval(() => this.send({ action: 'ping' }), PING_EVERY_MS);
      this.reschedulePolls();
      this.emitStatus();
      if (recovered) for (const fn of this.resyncs) fn();
    });
    ws.addEventListener('message', (ev) => this.onMessage(ev.data));
    ws.addEventListener('close', () => {
      clearTimeout(openTimer);
      if (this.socket === ws) this.socketFailed();
    });
  }

  closeSocket() {
    this.acked.clear();
    clearInterval(this.pingTimer);
    clearTimeout(this.reconnectTimer);
    const ws = this.socket;
    this.socket = null;
    if (ws) ws.close();
  }

  socketFailed() {
    this.acked.clear();
    clearInterval(this.pingTimer);
    this.socket = null;
    if (!this.usesSocket()) return;
    this.socketState = 'failed';
    const wait = RECONNECT_MS[Math.min(this.failures, RECONNECT_MS.length - 1)];
    this.failures += 1;
    this.reschedulePolls();
    this.emitStatus();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (this.socketState === 'failed') this.openSocket();
    }, wait);
  }

  onMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    this.counters.messages += 1;
    const serverNow = msg.serverNow || (msg.payload && msg.payload.serverNow);
    if (serverNow) this.clock.sync(serverNow, msg.type === 'PONG' ? 'pong' : 'push');
    if (msg.type === 'PONG') {
      this.counters.pongs += 1;
      return;
    }
    if (msg.type === 'SUBSCRIBED') this.acked.add(msg.topic);
    if (msg.type === 'UNSUBSCRIBED') this.acked.delete(msg.topic);
    if (msg.type === 'ERROR') console.warn('push refused', msg.topic, msg.payload);
    const handlers = this.topics.get(msg.topic);
    if (handlers) for (const fn of [...handlers]) fn(msg);
  }

  // Keeps every poll on a steady beat: timers restart only when polling starts, stops or
  // changes interval, never because the socket's state moved.
  reschedulePolls() {
    const want = this.pollNeeded() ? this.intervalMs : null;
    for (const [fn, timer] of this.polls) {
      if (timer && timer.every === want) continue;
      if (timer) clearInterval(timer.id);
      this.polls.set(fn, want ? { id: setInterval(fn, want), every: want } : null);
    }
  }

  emitStatus() {
    const s = this.status();
    for (const fn of this.statusListeners) fn(s);
  }
}
