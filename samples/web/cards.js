// Concert cards: one search snapshot, then whatever the realtime mode says. Countdowns tick
// on the server clock; a card flips to OPEN by itself at the server's opening second.
import { formatCountdown } from './clock.js';
import { el } from './dom.js';

const SEARCH = '/api/concerts/search?size=50&sort=saleOpensAt';
const BEFORE_OPEN = new Set(['PREOPEN', 'OPEN_SOON_1H', 'OPEN_SOON_5M']);

export function mountCards(root, ctx) {
  const { api, clock, realtime } = ctx;
  const cards = new Map(); // concertId -> { card, node }
  const grid = el('section', { class: 'cards', id: 'cards' });
  const note = el('p', { class: 'note', id: 'cards-note' }, 'Loading concerts…');
  root.replaceChildren(el('h2', {}, 'Concerts'), note, grid);
  const cleanups = [];

  const applySnapshot = (snap) => {
    realtime.configure(snap.realtimeMode, snap.hybridPollIntervalMillis);
    const seen = new Set();
    for (const card of snap.items) {
      seen.add(String(card.concertId));
      upsert(card, true);
    }
    for (const [id, entry] of cards) {
      if (!seen.has(id)) {
        entry.node.remove();
        cards.delete(id);
      }
    }
    note.textContent = `${snap.totalElements} concerts`;
  };

  const upsert = (card, fromSnapshot) => {
    const id = String(card.concertId);
    let entry = cards.get(id);
    if (!entry) {
      if (!fromSnapshot) return; // a refresh for a concert outside this page of results
      entry = { card, node: renderCard(card, ctx) };
      cards.set(id, entry);
      grid.append(entry.node);
    }
    entry.card = { ...entry.card, ...card };
    paint(entry, clock);
  };

  const snapshot = () =>
    api.get(SEARCH).then(applySnapshot, (e) => {
      note.textContent = `Could not load concerts: ${e.message}`;
    });

  // Pushed cards are computed for the general public. A logged-in buyer may see a sale
  // differently (a presale for their tier), so each pushed card of a concert on this page is
  // read again with their token: one request per changed card, only when a push arrives.
  const applyPushed = (card) => {
    if (!cards.has(String(card.concertId))) return;
    if (!ctx.session.token()) return upsert(card, false);
    api.get(`/api/concerts/${card.concertId}`).then(
      (detail) => upsert(detail, false),
      () => upsert(card, false),
    );
  };
  cleanups.push(
    realtime.subscribe('concerts.live', (msg) => {
      if (msg.type !== 'CONCERTS_REFRESH' || !msg.payload) return;
      const p = msg.payload;
      for (const card of p.items || []) applyPushed(card);
      if (p.realtimeMode) realtime.configure(p.realtimeMode, p.hybridPollIntervalMillis);
    }),
  );
  cleanups.push(realtime.addPoll(snapshot));
  cleanups.push(realtime.onResync(snapshot));
  const ticker = setInterval(() => {
    for (const entry of cards.values()) paint(entry, clock);
  }, 100);
  cleanups.push(() => clearInterval(ticker));
  snapshot();
  return () => cleanups.forEach((fn) => fn());
}

function renderCard(card, ctx) {
  const button = el('button', { class: 'reserve', type: 'button' });
  button.addEventListener('click', () => ctx.navigate(`#/concert/${card.concertId}`));
  return el(
    'article',
    { class: 'card', 'data-concert-id': String(card.concertId) },
    el('span', { class: 'status' }),
    el('h3', { class: 'title' }, card.title),
    el('p', { class: 'artist' }, card.artist),
    el('p', { class: 'venue' }, card.venue),
    el('p', { class: 'countdown' }),
    el('div', { class: 'seats' }, el('span', { class: 'seat-count' }), el('meter', { min: '0', max: '1' })),
    button,
  );
}

// The card as of the server's current second. Before opening, the fields are the server's;
// at the opening second the card shows what the server would then answer (OPEN, book now)
// without waiting for the next refresh, which then replaces it.
function paint(entry, clock) {
  const { card, node } = entry;
  let status = card.saleStatus;
  let button = {
    visible: card.reservationButtonVisible,
    enabled: card.reservationButtonEnabled,
    label: card.reservationButtonLabel,
  };
  let seconds = null;
  if (card.saleOpensAt && BEFORE_OPEN.has(card.saleStatus)) {
    seconds = clock.secondsUntil(card.saleOpensAt);
    if (seconds === 0) {
      status = 'OPEN';
      button = { visible: true, enabled: true, label: 'Book now' };
    }
  }
  node.dataset.status = status;
  const badge = node.querySelector('.status');
  badge.textContent = status.replaceAll('_', ' ');
  badge.className = `status st-${status}`;
  const cd = node.querySelector('.countdown');
  if (seconds !== null && seconds > 0) {
    cd.hidden = false;
    cd.dataset.seconds = String(seconds);
    cd.textContent = `Opens in ${formatCountdown(seconds)}`;
  } else {
    cd.hidden = true;
    delete cd.dataset.seconds;
    cd.textContent = '';
  }
  node.querySelector('.seat-count').textContent =
    `${card.availableSeatCount.toLocaleString()} / ${card.totalSeatCount.toLocaleString()} seats left`;
  node.querySelector('meter').value = card.remainingRate;
  const b = node.querySelector('.reserve');
  b.hidden = !button.visible;
  b.disabled = !button.enabled;
  b.textContent = button.label;
}
