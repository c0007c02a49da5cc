// The seat map of one performance: seats coloured by status, other buyers' clicks applied
// live from SEAT_STATUS batches (in the order they arrive, each batch in its own order),
// click to select and again to release, then confirm the hold and watch its countdown.
import { formatCountdown } from './clock.js';
import { newRequestId } from './api.js';
import { el, message } from './dom.js';

const PAGE = 2000;

export function mountSeats(root, ctx, optionId, concertId) {
  const { api, clock, session, realtime } = ctx;
  const seats = new Map(); // seatId -> { seat, node }
  const mine = new Map(); // seatId -> expiresAt
  const msg = el('p', { class: 'message', hidden: true, id: 'seat-message' });
  const picked = el('span', { id: 'picked' }, 'none');
  const confirm = el('button', { type: 'button', id: 'confirm-hold', class: 'primary', disabled: true }, 'Confirm hold');
  const map = el('div', { class: 'seatmap', id: 'seatmap' }, 'Loading seats…');
  const title = el('h2', {}, 'Seats');
  const reservation = el('section', { class: 'reservation', id: 'reservation', hidden: true });
  root.replaceChildren(
    el('p', {}, el('a', { href: concertId ? `#/concert/${concertId}` : '#/' }, '← back')),
    title,
    legend(),
    el('div', { class: 'seatbar' }, el('span', {}, 'Your seats: ', picked), confirm),
    msg,
    reservation,
    map,
  );
  const cleanups = [];
  let loaded = false;
  let buffered = [];
  let holdRequest = null;

  const applyBatch = (batch) => {
    for (const { seatId, status } of batch.seats || []) {
      const entry = seats.get(String(seatId));
      if (!entry) continue;
      entry.seat.status = status;
      if (status !== 'SELECTING') mine.delete(String(seatId));
      paintSeat(entry, mine);
    }
    paintPicked();
  };

  // Subscribe before the snapshot so nothing between the two is missed.
  cleanups.push(
    realtime.subscribe(`seats.${optionId}`, (m) => {
      if (m.type === 'SUBSCRIBED') map.dataset.live = 'true';
      if (m.type !== 'SEAT_STATUS' || !m.payload) return;
      if (loaded) applyBatch(m.payload);
      else buffered.push(m.payload);
    }),
  );

  const load = async () => {
    const all = [];
    let startsAt = null;
    for (let page = 0; ; page += 1) {
      const p = await api.get(`/api/options/${optionId}/seats?page=${page}&size=${PAGE}`);
      startsAt = p.startsAt;
      all.push(...p.seats);
      if (!p.hasNext) break;
    }
    return { all, startsAt };
  };

  const render = ({ all }) => {
    const sections = new Map();
    for (const s of all) {
      if (!sections.has(s.section)) sections.set(s.section, new Map());
      const rows = sections.get(s.section);
      if (!rows.has(s.row)) rows.set(s.row, []);
      rows.get(s.row).push(s);
    }
    map.replaceChildren();
    const natural = (a, b) => a.localeCompare(b, undefined, { numeric: true });
    for (const name of sections.keys()) {
      const rows = new Map([...sections.get(name)].sort(([a], [b]) => natural(a, b)));
      const block = el('div', { class: 'section' }, el('h4', {}, name));
      for (const [row, list] of rows) {
        const line = el('div', { class: 'row' }, el('span', { class: 'rowname' }, row));
        for (const s of list.sort((a, b) => a.number - b.number)) {
          const node = el('button', {
            type: 'button',
            class: 'seat',
            'data-seat-id': String(s.seatId),
            title: `${s.section} row ${s.row} seat ${s.number} · ${s.grade} · ${s.price.toLocaleString()}`,
          });
          const entry = { seat: s, node };
          seats.set(String(s.seatId), entry);
          paintSeat(entry, mine);
          line.append(node);
        }
        block.append(line);
      }
      map.append(block);
    }
  };

  // Corrective read (hybrid, polling, after a reconnect): the server's map wins, our own
  // selections stay ours while the server still shows them SELECTING.
  const refresh = () =>
    load().then(({ all }) => {
      for (const s of all) {
        const entry = seats.get(String(s.seatId));
        if (!entry) continue;
        entry.seat.status = s.status;
        if (s.status !== 'SELECTING') mine.delete(String(s.seatId));
        paintSeat(entry, mine);
      }
      paintPicked();
    }, () => {});

  load().then(
    (data) => {
      title.textContent = `Seats · ${new Date(data.startsAt).toLocaleString()}`;
      render(data);
      loaded = true;
      for (const b of buffered) applyBatch(b);
      buffered = [];
      map.dataset.ready = 'true';
      cleanups.push(realtime.addPoll(refresh));
      cleanups.push(realtime.onResync(refresh));
    },
    (e) => {
      map.textContent = '';
      message(msg, `Could not load the seat map: ${e.message}`, 'error');
    },
  );

  const queueHeader = () => {
    const t = concertId && session.queueToken(concertId, clock);
    return t ? { 'X-Queue-Token': t } : {};
  };

  map.addEventListener('click', async (ev) => {
    const node = ev.target.closest('.seat');
    if (!node || reservation.dataset.reservationId) return;
    const id = node.dataset.seatId;
    const entry = seats.get(id);
    if (!session.token()) return message(msg, 'Log in first (top right).', 'error');
    message(msg, '');
    try {
      if (mine.has(id)) {
        await api.del(`/api/options/${optionId}/seats/${id}/select`, { headers: queueHeader() });
        mine.delete(id);
        entry.seat.status = 'AVAILABLE';
      } else if (entry.seat.status === 'AVAILABLE' || entry.seat.status === 'SELECTING') {
        // A seat another buyer is choosing may be about to come free: the server decides.
        const r = await api.post(
          `/api/options/${optionId}/seats/${id}/select`,
          { requestId: newRequestId() },
          { headers: queueHeader() },
        );
        mine.set(id, r.expiresAt);
        entry.seat.status = 'SELECTING';
      } else {
        return message(msg, seatTakenText(entry.seat.status), 'warn');
      }
      holdRequest = null;
    } catch (e) {
      if (e.code === 'SEAT_ALREADY_SELECTED') {
        entry.seat.status = 'SELECTING';
        message(msg, 'someone else is choosing this seat', 'warn');
      } else if (e.code === 'SEAT_UNAVAILABLE') {
        message(msg, 'this seat is already taken', 'warn');
      } else if (e.code === 'QUEUE_TOKEN_REQUIRED') {
        message(msg, 'Your turn in the queue has ended; join the queue again.', 'error');
      } else {
        message(msg, e.message, 'error');
      }
    }
    paintSeat(entry, mine);
    paintPicked();
  });

  confirm.addEventListener('click', async () => {
    const seatIds = [...mine.keys()].map(Number);
    if (seatIds.length === 0) return;
    // The same request id on a retry, so a lost answer cannot make a second hold.
    holdRequest = holdRequest || { requestId: newRequestId(), seatIds };
    confirm.disabled = true;
    try {
      const r = await api.post(
        '/api/holds',
        { optionId: Number(optionId), seatIds: holdRequest.seatIds, requestId: holdRequest.requestId },
        { headers: queueHeader() },
      );
      mine.clear();
      for (const s of r.seats || []) {
        const entry = seats.get(String(s.seatId));
        if (entry) {
          entry.seat.status = 'HOLD';
          entry.node.classList.add('mine-hold');
          paintSeat(entry, mine);
        }
      }
      showReservation(r);
      message(msg, 'Hold confirmed.', 'ok');
    } catch (e) {
      message(msg, `Hold failed: ${e.message}`, 'error');
    }
    paintPicked();
  });

  const showReservation = (r) => {
    reservation.hidden = false;
    reservation.dataset.reservationId = String(r.reservationId);
    const status = el('strong', { id: 'reservation-status' }, r.status);
    const countdown = el('span', { id: 'hold-countdown' });
    reservation.replaceChildren(
      el('h3', {}, `Reservation ${r.reservationId}`),
      el('p', {}, 'Status: ', status),
      el('p', {}, 'Seats: ', (r.seats || []).map((s) => seatName(s)).join(', ')),
      el('p', {}, 'Hold expires in ', countdown),
    );
    const tick = () => {
      const secs = clock.secondsUntil(r.holdExpiresAt);
      countdown.dataset.seconds = String(secs);
      countdown.textContent = secs > 0 ? formatCountdown(secs) : 'expired';
    };
    tick();
    const t = setInterval(tick, 250);
    cleanups.push(() => clearInterval(t));
    if (session.token()) {
      cleanups.push(
        realtime.subscribe('reservations', (m) => {
          const p = m.payload || {};
          if (m.type === 'RESERVATION_STATUS' && String(p.reservationId) === String(r.reservationId) && p.status) {
            status.textContent = p.status;
          }
        }),
      );
    }
  };

  const paintPicked = () => {
    const names = [...mine.keys()].map((id) => seatName(seats.get(id)?.seat || { seatId: id }));
    picked.textContent = names.length ? names.join(', ') : 'none';
    confirm.disabled = names.length === 0 || Boolean(reservation.dataset.reservationId);
  };

  return () => {
    cleanups.forEach((fn) => fn());
  };
}

function seatName(s) {
  return s.section ? `${s.section} ${s.row}-${s.number}` : `seat ${s.seatId}`;
}

function seatTakenText(status) {
  return status === 'SELECTING' ? 'someone else is choosing this seat' : 'this seat is already taken';
}

function paintSeat(entry, mine) {
  const id = String(entry.seat.seatId);
  const own = mine.has(id);
  entry.node.dataset.status = entry.seat.status;
  entry.node.className = `seat s-${entry.seat.status}${own ? ' mine' : ''}${entry.node.classList.contains('mine-hold') ? ' mine-hold' : ''}`;
}

function legend() {
  const item = (cls, text) => el('span', { class: 'legend-item' }, el('span', { class: `seat ${cls}` }), text);
  return el(
    'p',
    { class: 'legend' },
    item('s-AVAILABLE', 'available'),
    item('s-SELECTING mine', 'yours'),
    item('s-SELECTING', 'being chosen'),
    item('s-HOLD', 'on hold'),
    item('s-CONFIRMED', 'sold'),
  );
}
