// Who is logged in (a dev token from the local runtime) and the admission tokens this tab
// holds, kept in sessionStorage so each tab and browser context is its own buyer.
const store = window.sessionStorage;

export class Session {
  constructor() {
    this.listeners = new Set();
  }

  token() {
    const exp = Number(store.getItem('tr.tokenExp') || 0);
    if (exp && exp * 1000 < Date.now()) return null;
    return store.getItem('tr.token');
  }
  user() {
    return this.token() ? store.getItem('tr.user') : null;
  }
  tier() {
    return this.token() ? store.getItem('tr.tier') : null;
  }

  async login(user, tier) {
    const resp = await fetch('/local/dev-token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user, tier }),
    });
    const body = await resp.json().catch(() => null);
    if (!resp.ok) {
      throw new Error((body && body.detail) || `dev login failed (HTTP ${resp.status})`);
    }
    store.setItem('tr.token', body.token);
    store.setItem('tr.user', body.user);
    store.setItem('tr.tier', body.tier);
    store.setItem('tr.tokenExp', String(body.expiresAt ? Date.parse(body.expiresAt) / 1000 : 0));
    this.changed();
  }

  logout() {
    for (const k of Object.keys(store)) if (k.startsWith('tr.')) store.removeItem(k);
    this.changed();
  }

  // Admission token for a queue-gated sale, while the server clock says it is valid.
  queueToken(concertId, clock) {
    const raw = store.getItem(`tr.queue.${concertId}`);
    if (!raw) return null;
    const { token, expiresAt, user } = JSON.parse(raw);
    if (user !== this.user()) return null;
    if (expiresAt && Date.parse(expiresAt) <= clock.now()) return null;
    return token;
  }
  setQueueToken(concertId, token, expiresAt) {
    store.setItem(`tr.queue.${concertId}`, JSON.stringify({ token, expiresAt, user: this.user() }));
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  changed() {
    for (const fn of this.listeners) fn();
  }
}
