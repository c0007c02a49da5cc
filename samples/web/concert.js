// One concert: its performances, and the way into the queue on a queue-gated sale.
import { el, message } from './dom.js';

export function mountConcert(root, ctx, concertId) {
  const { api, session, clock } = ctx;
  const msg = el('p', { class: 'message', hidden: true, id: 'concert-message' });
  root.replaceChildren(el('p', {}, el('a', { href: '#/' }, '← all concerts')), msg);
  let alive = true;
  api.get(`/api/concerts/${concertId}`).then(
    (c) => {
      if (!alive) return;
      const gated = c.salesPolicy ? c.salesPolicy.queueGated !== false : false;
      const admitted = !gated || session.queueToken(concertId, clock);
      const list = el('ul', { class: 'performances' });
      for (const p of c.performances) {
        const when = new Date(p.startsAt).toLocaleString();
        const link = el(
          'a',
          { href: `#/seats/${p.optionId}?concert=${concertId}`, class: 'performance', 'data-option-id': String(p.optionId) },
          `${when} · ${p.hall} · ${p.availableSeatCount.toLocaleString()} of ${p.totalSeatCount.toLocaleString()} left`,
        );
        list.append(el('li', {}, admitted ? link : `${when} · ${p.hall}`));
      }
      const parts = [
        el('h2', {}, c.title),
        el('p', {}, `${c.artist} · ${c.venue} · ${c.promoter}`),
        el('p', {}, el('span', { class: `status st-${c.saleStatus}` }, c.saleStatus.replaceAll('_', ' '))),
      ];
      if (gated && !admitted) {
        const join = el('button', { type: 'button', id: 'join-queue', class: 'primary' }, 'Join the queue');
        join.disabled = !session.token();
        join.addEventListener('click', () => ctx.navigate(`#/queue/${concertId}`));
        parts.push(
          el('p', {}, 'This sale is queue-gated: join the waiting room to choose seats.'),
          join,
          session.token() ? null : el('p', { class: 'hint' }, 'Log in (top right) first.'),
        );
      }
      parts.push(el('h3', {}, 'Performances'), list);
      root.append(...parts.filter(Boolean));
    },
    (e) => message(msg, `Could not load the concert: ${e.message}`, 'error'),
  );
  return () => {
    alive = false;
  };
}
