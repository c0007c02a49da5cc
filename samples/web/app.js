// ticketrush demo client: routes, dev login, and the realtime status line.
import { Api } from './api.js';
import { ServerClock } from './clock.js';
import { Realtime } from './realtime.js';
import { Session } from './session.js';
import { mountCards } from './cards.js';
import { mountConcert } from './concert.js';
import { mountQueue } from './queue.js';
import { mountSeats } from './seats.js';
import { el } from './dom.js';

const clock = new ServerClock();
const session = new Session();
const api = new Api(session, clock);
const wsScheme = location.protocol === 'https:' ? 'wss' : 'ws';
const realtime = new Realtime({ clock, session, socketUrl: `${wsScheme}://${location.host}/ws` });
const view = document.getElementById('view');
const ctx = {
  api,
  clock,
  session,
  realtime,
  navigate: (hash) => {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};
// For tests and the curious: the page's live state.
window.ticketrush = { clock, realtime, session };

let unmount = () => {};
function route() {
  unmount();
  const hash = location.hash || '#/';
  const [path, query = ''] = hash.slice(1).split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'concert' && parts[1]) unmount = mountConcert(view, ctx, parts[1]);
  else if (parts[0] === 'queue' && parts[1]) unmount = mountQueue(view, ctx, parts[1]);
  else if (parts[0] === 'seats' && parts[1]) unmount = mountSeats(view, ctx, parts[1], params.get('concert'));
  else unmount = mountCards(view, ctx);
  // Screens other than the cards need the mode too: one snapshot tells it.
  if (parts.length && realtime.mode === null) {
    api.get('/api/concerts/search?size=1').then(
      (s) => realtime.configure(s.realtimeMode, s.hybridPollIntervalMillis),
      () => realtime.configure('polling', 30_000),
    );
  }
}
window.addEventListener('hashchange', route);

// Realtime status line; the fallback is said out loud.
const modeLine = document.getElementById('mode');
const banner = document.getElementById('banner');
realtime.onStatus((s) => {
  if (!s.mode) return;
  const secs = Math.round(s.intervalMs / 1000);
  const live = { open: 'live', connecting: 'connecting…', failed: 'unavailable', closed: 'off' }[s.socketState];
  modeLine.dataset.mode = s.mode;
  modeLine.dataset.socket = s.socketState;
  modeLine.textContent =
    s.mode === 'polling'
      ? `Updates: polling every ${secs} s`
      : s.mode === 'hybrid'
        ? `Updates: live push (${live}) + check every ${secs} s`
        : `Updates: live push (${live})`;
  banner.hidden = !s.fallback;
  banner.textContent = s.fallback
    ? `Live updates are unavailable; falling back to polling every ${secs} s and retrying.`
    : '';
});

// Dev login: the local runtime signs a token for a sample user.
const login = document.getElementById('login');
function renderLogin() {
  if (session.token()) {
    const out = el('button', { type: 'button', id: 'logout' }, 'Log out');
    out.addEventListener('click', () => session.logout());
    login.replaceChildren(el('span', { id: 'who' }, `${session.user()} (${session.tier()})`), out);
    return;
  }
  const user = el(
    'select',
    { id: 'login-user' },
    ...[
      ['buyer-basic', 'BASIC'],
      ['buyer-silver', 'SILVER'],
      ['buyer-gold', 'GOLD'],
      ['buyer-vip', 'VIP'],
    ].map(([u, t]) => el('option', { value: u, 'data-tier': t }, u)),
  );
  const tier = el('select', { id: 'login-tier' }, ...['BASIC', 'SILVER', 'GOLD', 'VIP'].map((t) => el('option', { value: t }, t)));
  user.addEventListener('change', () => {
    tier.value = user.selectedOptions[0].dataset.tier;
  });
  const go = el('button', { type: 'button', id: 'login-go' }, 'Dev login');
  const err = el('span', { class: 'error' });
  go.addEventListener('click', () => session.login(user.value, tier.value).catch((e) => (err.textContent = e.message)));
  login.replaceChildren(user, tier, go, err);
}
session.onChange(() => {
  renderLogin();
  realtime.reconnect();
  route();
});
renderLogin();
route();
