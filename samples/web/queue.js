// The waiting room: join, show the rank live (QUEUE_RANK on the buyer's own topic), go on
// at QUEUE_ACTIVE. Without live push (polling mode or a failed socket) the status is read
// at the mode's interval instead.
import { el, message } from './dom.js';

// The server drops a waiting buyer it has not seen for a while (QUEUE_ABANDON_AFTER_SECS,
// 90 s by default); a status read marks the buyer present.
const PRESENCE_MS = 30_000;

export function mountQueue(root, ctx, concertId) {
  const { api, session, realtime } = ctx;
  const rank = el('strong', { id: 'queue-rank' }, '…');
  const wait = el('span', { id: 'queue-wait' });
  const state = el('p', { id: 'queue-state' }, 'Joining…');
  const msg = el('p', { class: 'message', hidden: true, id: 'queue-message' });
  root.replaceChildren(
    el('p', {}, el('a', { href: `#/concert/${concertId}` }, '← back')),
    el('h2', {}, 'Waiting room'),
    state,
    el('p', { class: 'rank' }, 'Your place: ', rank, ' ', wait),
    msg,
  );
  if (!session.token()) {
    message(msg, 'Log in first (top right).', 'error');
    return () => {};
  }
  let done = false;
  const cleanups = [];

  const admitted = (token, expiresAt) => {
    if (done) return;
    done = true;
    session.setQueueToken(concertId, token, expiresAt);
    state.textContent = 'You are in. Choose your seats.';
    ctx.navigate(`#/concert/${concertId}`);
  };
  const show = (view) => {
    if (view.status === 'ACTIVE' && view.activeToken) return admitted(view.activeToken, view.activeExpiresAt);
    if (view.status === 'NOT_IN_QUEUE') {
      state.textContent = 'You are no longer in the queue.';
      return;
    }
    state.textContent = 'Waiting. This page moves on by itself when it is your turn.';
    if (view.rank != null) rank.textContent = String(view.rank);
    if (view.estimatedWaitSeconds != null) wait.textContent = `(about ${view.estimatedWaitSeconds} s)`;
  };
  const status = () =>
    done ||
    api.get(`/api/queue/${concertId}/status`).then(show, (e) => message(msg, e.message, 'error'));

  cleanups.push(
    realtime.subscribe(`queue.${concertId}`, (m) => {
      const p = m.payload || {};
      if (m.type === 'QUEUE_RANK') {
        if (p.rank != null) rank.textContent = String(p.rank);
        if (p.estimatedWaitSeconds != null) wait.textContent = `(about ${p.estimatedWaitSeconds} s)`;
      } else if (m.type === 'QUEUE_ACTIVE' && p.activeToken) {
        admitted(p.activeToken, p.expiresAt);
      }
    }),
  );
  cleanups.push(realtime.addPoll(status));
  cleanups.push(realtime.onResync(status));
  // Only when nothing else reads the status often enough (live push, or a long interval).
  const presence = setInterval(() => {
    if (!realtime.pollNeeded() || realtime.intervalMs > PRESENCE_MS) status();
  }, PRESENCE_MS);
  cleanups.push(() => clearInterval(presence));

  api.post(`/api/queue/${concertId}/join`, {}).then(show, (e) => {
    state.textContent = 'Could not join.';
    message(msg, e.message, 'error');
  });
  return () => {
    done = true;
    cleanups.forEach((fn) => fn());
  };
}
