// The web client in headless Chromium (Debian's, driven by playwright-core) against real
// ticketrush-local processes, one per realtime mode, over the sample catalog in their own
// database. The five checks run concurrently; the longest window is 20 s.
//
// Needs: TICKETRUSH_LOCAL (the binary), BROWSER_DATABASE_URL, BROWSER_REDIS_URL, and the
// usual local secrets and AWS endpoint (the Makefile's `browser-test` target sets them).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = required('TICKETRUSH_LOCAL');
const DATABASE_URL = required('BROWSER_DATABASE_URL');
const REDIS_URL = required('BROWSER_REDIS_URL');
const PORT_BASE = Number(process.env.BROWSER_PORT_BASE || 0);
const ARTIFACTS = process.env.BROWSER_ARTIFACTS || path.join(ROOT, 'target/browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RUN_ID = `${Date.now().toString(36)}${process.pid}`;

// Each mode gets its own server, Redis key prefix, push queue and connection tables, so one
// server's dispatcher never takes another's pushes.
const MODES = {
  websocket: { interval: 2000, port: PORT_BASE && PORT_BASE + 1 },
  // One admitted buyer per concert at a time, so the queue test has someone waiting.
  hybrid: { interval: 4000, port: PORT_BASE && PORT_BASE + 2, env: { QUEUE_MAX_ACTIVE: '1' } },
  polling: { interval: 2000, port: PORT_BASE && PORT_BASE + 3 },
};

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set (see the Makefile's browser-test target)`);
  return v;
}

function serverEnv(mode) {
  const m = MODES[mode];
  return {
    ...process.env,
    DATABASE_URL,
    REDIS_URL,
    REDIS_KEY_PREFIX: `br${RUN_ID}${mode[0]}`,
    REALTIME_MODE: mode,
    HYBRID_POLL_INTERVAL_MILLIS: String(m.interval),
    CONNECTIONS_TABLE: `browser-${mode}-connections`,
    SUBSCRIPTIONS_TABLE: `browser-${mode}-subscriptions`,
    PUSH_QUEUE_NAME: `browser-${mode}-push`,
    PUSH_DLQ_NAME: `browser-${mode}-push-dlq`,
    TICKETRUSH_BIND: `127.0.0.1:${m.port || 0}`,
    ...(m.env || {}),
    RUST_LOG: process.env.RUST_LOG || 'warn',
  };
}

function startServer(mode) {
  const child = spawn(BIN, ['serve'], { env: serverEnv(mode), stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => {
    log += d;
    if (process.env.BROWSER_SERVER_LOGS) process.stderr.write(`[${mode}] ${d}`);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start:\n${log}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/is up at (http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], log: () => log });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${mode} server exited (${code}):\n${log}`));
    });
  });
}

const servers = {};
let browser;
let adminToken;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The catalog once; then each mode's queue and tables.
  await run(BIN, ['setup', '--samples', path.join(ROOT, 'samples/catalog.json')], { env: serverEnv('websocket') });
  await Promise.all(['hybrid', 'polling'].map((m) => run(BIN, ['setup'], { env: serverEnv(m) })));
  const started = await Promise.all(Object.keys(MODES).map(startServer));
  Object.keys(MODES).forEach((m, i) => (servers[m] = started[i]));
  adminToken = (
    await run(BIN, ['token', '--user', 'ops-admin', '--tier', 'VIP', '--admin'], { env: serverEnv('websocket') })
  ).stdout.trim();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  for (const s of Object.values(servers)) s.child.kill('SIGINT');
});

// A page that records its /api requests, WebSockets, frames and script errors.
async function openPage(context, url) {
  const page = await context.newPage();
  const rec = { api: [], sockets: [], sent: [], received: [], errors: [] };
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) rec.api.push({ at: Date.now(), method: r.method(), path: u.pathname + u.search });
  });
  page.on('websocket', (ws) => {
    rec.sockets.push(ws.url());
    ws.on('framesent', (f) => rec.sent.push(String(f.payload)));
    ws.on('framereceived', (f) => rec.received.push({ at: Date.now(), data: String(f.payload) }));
  });
  page.on('pageerror', (e) => rec.errors.push(e.message));
  await page.goto(url);
  return { page, rec };
}

async function api(base, method, p, { token, body, headers: extra } = {}) {
  const headers = { Accept: 'application/json', ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers['Content-Type'] = 'application/json';
  const resp = await fetch(base + p, { method, headers, body: body && JSON.stringify(body) });
  const json = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error(`${method} ${p}: ${resp.status} ${JSON.stringify(json)}`);
  return json;
}

async function cardBySlugTitle(base, q) {
  const r = await api(base, 'GET', `/api/concerts/search?q=${encodeURIComponent(q)}`);
  assert.equal(r.items.length, 1, `one concert matches ${q}`);
  return r.items[0];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const searches = (rec) => rec.api.filter((r) => r.path.startsWith('/api/concerts/search'));
const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: false });

describe('web client in Chromium', { concurrency: true }, () => {
  test('websocket mode: one search, then pushes only; a card flips to OPEN at the server second', async (t) => {
    const base = servers.websocket.url;
    const card = await cardBySlugTitle(base, 'Thunder Bloom');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const started = Date.now();
    const { page, rec } = await openPage(context, `${base}/`);
    const sel = `.card[data-concert-id="${card.concertId}"]`;
    await page.waitForSelector(`${sel} .countdown[data-seconds]`);
    await page.waitForFunction((t) => window.ticketrush.realtime.isSubscribed(t), 'concerts.live');

    // The instant the card's status turned OPEN, read by a MutationObserver in the page (its
    // clock is this machine's, the server's, in this test), free of the driver's polling.
    await page.evaluate((s) => {
      const node = document.querySelector(s);
      new MutationObserver(() => {
        if (node.dataset.status === 'OPEN' && !window.flippedAt) window.flippedAt = Date.now();
      }).observe(node, { attributes: true, attributeFilter: ['data-status'] });
    }, sel);
    // The sale is moved to open a few seconds from now; the page hears it only as a
    // CONCERTS_REFRESH push, and must then flip by itself at that instant.
    const opensAt = new Date(Date.now() + 7_000);
    opensAt.setUTCMilliseconds(0);
    await api(base, 'PUT', `/api/concerts/${card.concertId}/sales-policy`, {
      token: adminToken,
      body: { generalSaleStartsAt: opensAt.toISOString(), maxSeatsPerUser: 4, queueGated: true },
    });
    await page.waitForFunction(
      (s) => Number(document.querySelector(`${s} .countdown`).dataset.seconds) <= 8,
      sel,
      { timeout: 5_000 },
    );
    assert.notEqual(await page.getAttribute(sel, 'data-status'), 'OPEN');
    await page.waitForFunction(() => window.flippedAt, null, { timeout: 20_000 });
    const flippedAt = await page.evaluate(() => window.flippedAt);
    assert.ok(
      Math.abs(flippedAt - opensAt.getTime()) <= 1000,
      `flipped ${flippedAt - opensAt.getTime()} ms from the open instant`,
    );
    const offset = await page.evaluate(() => window.ticketrush.clock.offsetMs);
    t.diagnostic(
      `card flipped to OPEN ${flippedAt - opensAt.getTime()} ms after the open instant (page's server-clock offset ${offset} ms; same machine, so 0 is exact)`,
    );
    assert.equal(await page.textContent(`${sel} .reserve`), 'Book now');
    assert.equal(await page.isEnabled(`${sel} .reserve`), true);
    await shot(page, 'websocket-cards-after-open');

    await sleep(Math.max(0, started + 20_000 - Date.now()));
    assert.equal(searches(rec).length, 1, `search calls: ${JSON.stringify(rec.api)}`);
    assert.deepEqual(
      rec.api.filter((r) => !r.path.startsWith('/api/concerts/search')),
      [],
      'no other /api request',
    );
    assert.equal(rec.sockets.length, 1, 'one WebSocket');
    assert.ok(rec.sent.some((f) => JSON.parse(f).topic === 'concerts.live'), 'subscribed to concerts.live');
    assert.equal(await page.getAttribute('#mode', 'data-socket'), 'open');
    assert.equal(await page.isHidden('#banner'), true, 'no fallback banner');
    assert.deepEqual(rec.errors, []);
    await context.close();
  });

  test('websocket mode: a presale member keeps their own view when the public card is pushed', async () => {
    const base = servers.websocket.url;
    const card = await cardBySlugTitle(base, 'LUMEN Fan');
    const sel = `.card[data-concert-id="${card.concertId}"]`;
    const open = async (login) => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const { page, rec } = await openPage(context, `${base}/`);
      await page.waitForSelector(sel);
      if (login) {
        await page.evaluate((u) => window.ticketrush.session.login(u, 'GOLD'), `buyer-gold-${RUN_ID}`);
        await page.waitForSelector('#who');
        await page.waitForSelector(sel);
      }
      await page.waitForFunction((t) => window.ticketrush.realtime.isSubscribed(t), 'concerts.live');
      return { context, page, rec };
    };
    const [gold, anon] = await Promise.all([open(true), open(false)]);
    assert.equal(await gold.page.textContent(`${sel} .reserve`), 'Presale: book now');
    assert.equal(await anon.page.textContent(`${sel} .reserve`), 'Presale for GOLD and above');

    const now = Date.now();
    await api(base, 'PUT', `/api/concerts/${card.concertId}/sales-policy`, {
      token: adminToken,
      body: {
        presaleStartsAt: new Date(now - 600_000).toISOString(),
        presaleMinTier: 'GOLD',
        generalSaleStartsAt: new Date(now + 172_800_000).toISOString(),
        maxSeatsPerUser: 3,
        queueGated: true,
      },
    });
    const refreshed = (rec) =>
      rec.received.some((f) => {
        const m = JSON.parse(f.data);
        return m.type === 'CONCERTS_REFRESH' && m.payload.items.some((c) => c.concertId === card.concertId);
      });
    for (const x of [gold, anon]) {
      for (let i = 0; !refreshed(x.rec) && i < 100; i++) await sleep(100);
      assert.ok(refreshed(x.rec), 'the refresh was pushed');
    }
    // The member's page reads its own card again; the public page takes the pushed one.
    const reread = () => gold.rec.api.some((r) => r.path === `/api/concerts/${card.concertId}`);
    for (let i = 0; !reread() && i < 50; i++) await sleep(100);
    assert.ok(reread(), 'the member re-read the card');
    await sleep(300);
    assert.equal(await gold.page.textContent(`${sel} .reserve`), 'Presale: book now');
    assert.equal(await gold.page.isEnabled(`${sel} .reserve`), true);
    assert.equal(await anon.page.textContent(`${sel} .reserve`), 'Presale for GOLD and above');
    assert.deepEqual(anon.rec.api.filter((r) => !r.path.startsWith('/api/concerts/search')), []);
    for (const x of [gold, anon]) {
      assert.deepEqual(x.rec.errors, []);
      await x.context.close();
    }
  });

  test('hybrid mode: the socket plus corrective searches at the configured interval', async (t) => {
    const { interval } = MODES.hybrid;
    const context = await browser.newContext();
    const { page, rec } = await openPage(context, `${servers.hybrid.url}/`);
    await page.waitForSelector('.card');
    await sleep(interval * 4 + interval / 2);
    // The page's own resource timings: when the browser started each search. The first
    // interval runs from the snapshot's answer, which is when the page learned the mode.
    const timings = await page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((e) => new URL(e.name).pathname === '/api/concerts/search')
        .map((e) => ({ start: e.startTime, end: e.responseEnd })),
    );
    assert.equal(timings.length, searches(rec).length, 'every search has a timing');
    assert.ok(timings.length >= 4, `at least three corrective searches, got ${timings.length - 1}`);
    const gaps = timings.slice(1).map((t, i) => Math.round(t.start - (i === 0 ? timings[0].end : timings[i].start)));
    t.diagnostic(`hybrid corrective search gaps (ms): ${gaps.join(', ')}`);
    for (const gap of gaps) {
      assert.ok(Math.abs(gap - interval) <= interval * 0.2, `gap ${gap} ms vs ${interval} ms (gaps ${gaps})`);
    }
    assert.equal(rec.sockets.length, 1, 'hybrid opens the WebSocket too');
    assert.equal(await page.getAttribute('#mode', 'data-socket'), 'open');
    assert.deepEqual(rec.errors, []);
    await context.close();
  });

  test('polling mode: no WebSocket, searches at the interval; dev login from the header', async (t) => {
    const { interval } = MODES.polling;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, rec } = await openPage(context, `${servers.polling.url}/`);
    await page.waitForSelector('.card');
    await page.selectOption('#login-user', 'buyer-silver');
    assert.equal(await page.inputValue('#login-tier'), 'SILVER');
    await page.click('#login-go');
    await page.waitForSelector('#who');
    assert.equal(await page.textContent('#who'), 'buyer-silver (SILVER)');
    await sleep(interval * 3 + interval / 2);
    assert.deepEqual(rec.sockets, [], 'no WebSocket in polling mode');
    assert.ok(searches(rec).length >= 4, `polled: ${searches(rec).length} searches`);
    assert.match(await page.textContent('#mode'), /polling every 2 s/);
    await shot(page, 'polling-cards');
    assert.deepEqual(rec.errors, []);
    await context.close();
  });

  test('queue: the rank arrives live and QUEUE_ACTIVE moves the buyer on', async (t) => {
    const base = servers.hybrid.url;
    const concert = await cardBySlugTitle(base, 'Echo Valley');
    const login = async (user) =>
      (await api(base, 'POST', '/local/dev-token', { body: { user, tier: 'BASIC' } })).token;
    // The one active place goes to a buyer outside the browser.
    const first = await login(`buyer-first-${RUN_ID}`);
    let standing = await api(base, 'POST', `/api/queue/${concert.concertId}/join`, { token: first });
    for (let i = 0; standing.status !== 'ACTIVE' && i < 50; i++) {
      await sleep(200);
      standing = await api(base, 'GET', `/api/queue/${concert.concertId}/status`, { token: first });
    }
    assert.equal(standing.status, 'ACTIVE');

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, rec } = await openPage(context, `${base}/`);
    await page.waitForSelector('.card');
    await page.evaluate((u) => window.ticketrush.session.login(u, 'BASIC'), `buyer-second-${RUN_ID}`);
    await page.goto(`${base}/#/queue/${concert.concertId}`);
    await page.waitForFunction(() => document.querySelector('#queue-rank')?.textContent === '1');
    await page.waitForFunction(
      (topic) => window.ticketrush.realtime.isSubscribed(topic),
      `queue.${concert.concertId}`,
    );
    const rankPush = () => rec.received.some((f) => JSON.parse(f.data).type === 'QUEUE_RANK');
    for (let i = 0; !rankPush() && i < 50; i++) await sleep(100);
    assert.ok(rankPush(), 'a QUEUE_RANK push arrived');
    await shot(page, 'queue-waiting');

    // The first buyer holds a seat and gives it back: the freed seat admits the next buyer.
    // (Leaving the queue would not: an admitted buyer's slot counts until the token expires.)
    const detail = await api(base, 'GET', `/api/concerts/${concert.concertId}`);
    const optionId = detail.performances[0].optionId;
    const seats = await api(base, 'GET', `/api/options/${optionId}/seats?page=0&size=50`);
    const seat = seats.seats.find((s) => s.status === 'AVAILABLE');
    const asFirst = { token: first, headers: { 'X-Queue-Token': standing.activeToken } };
    await api(base, 'POST', `/api/options/${optionId}/seats/${seat.seatId}/select`, {
      ...asFirst,
      body: { requestId: `first-select-${RUN_ID}` },
    });
    const held = await api(base, 'POST', '/api/holds', {
      ...asFirst,
      body: { optionId, seatIds: [seat.seatId], requestId: `first-hold-${RUN_ID}` },
    });
    await api(base, 'POST', `/api/reservations/${held.reservationId}/cancel`, { token: first });
    await page.waitForSelector('.performance', { timeout: 10_000 });
    const pushed = rec.received.some((f) => JSON.parse(f.data).type === 'QUEUE_ACTIVE');
    t.diagnostic(`admitted by ${pushed ? 'a QUEUE_ACTIVE push' : 'a status read'}`);
    assert.ok(
      pushed || rec.api.some((r) => r.path.endsWith('/status')),
      'admission came from a push or a status read',
    );
    assert.deepEqual(rec.errors, []);
    await context.close();
  });

  test('websocket mode with the socket refused: falls back to polling and says so', async (t) => {
    const { interval } = MODES.websocket;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Every WebSocket this page opens is closed at once, as a broken proxy would.
    await context.routeWebSocket(/\/ws/, (ws) => ws.close({ code: 1011, reason: 'refused by the test' }));
    const { page, rec } = await openPage(context, `${servers.websocket.url}/`);
    await page.waitForSelector('#banner:not([hidden])');
    assert.match(await page.textContent('#banner'), /falling back to polling every 2 s/);
    const shownAt = Date.now();
    await sleep(interval * 2 + interval / 2);
    const polled = searches(rec).filter((r) => r.at >= shownAt - interval);
    assert.ok(polled.length >= 2, `polled ${polled.length} times after the fallback`);
    assert.equal(await page.isVisible('#banner'), true, 'the banner stays while retrying');
    await shot(page, 'websocket-fallback-banner');
    assert.deepEqual(rec.errors, []);
    await context.close();
  });

  test('two buyers: A selecting shows in B within 1 s, B gets 409, A releases one seat and holds the other', async (t) => {
    const base = servers.websocket.url;
    const concert = await cardBySlugTitle(base, 'Midnight Orchestra');
    const detail = await api(base, 'GET', `/api/concerts/${concert.concertId}`);
    const optionId = detail.performances[0].optionId;
    const buyers = await Promise.all(
      ['a', 'b'].map(async (who) => {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const { page, rec } = await openPage(context, `${base}/#/concert/${concert.concertId}`);
        await page.evaluate((u) => window.ticketrush.session.login(u, 'GOLD'), `buyer-${who}-${RUN_ID}`);
        await page.click('#join-queue');
        // Admitted (QUEUE_ACTIVE) brings the buyer back to the performances.
        await page.click(`.performance[data-option-id="${optionId}"]`, { timeout: 15_000 });
        await page.waitForSelector('#seatmap[data-ready="true"]');
        await page.waitForFunction((t) => window.ticketrush.realtime.isSubscribed(t), `seats.${optionId}`);
        return { context, page, rec };
      }),
    );
    const [a, b] = buyers;
    for (const x of buyers) {
      // Admitted by the join answer or a QUEUE_ACTIVE push, never by polling the status.
      assert.deepEqual(x.rec.api.filter((r) => r.path.endsWith('/status')), []);
    }
    const seatId = await a.page.getAttribute('.seat[data-status="AVAILABLE"]', 'data-seat-id');
    const seat = `.seat[data-seat-id="${seatId}"]`;
    // Both instants are taken inside the pages (one machine, one clock): when A's click
    // event fires, and when B's seat turns SELECTING (a MutationObserver), so the driver's
    // own latency is not counted.
    await a.page.evaluate((s) => {
      document.querySelector(s).addEventListener('click', () => (window.clickedAt = Date.now()), true);
    }, seat);
    await b.page.evaluate((s) => {
      const node = document.querySelector(s);
      new MutationObserver(() => {
        if (node.dataset.status === 'SELECTING' && !window.seenAt) window.seenAt = Date.now();
      }).observe(node, { attributes: true, attributeFilter: ['data-status'] });
    }, seat);
    await a.page.click(seat);
    await b.page.waitForSelector(`${seat}[data-status="SELECTING"]`, { timeout: 5_000 });
    const seenAfter = (await b.page.evaluate(() => window.seenAt)) - (await a.page.evaluate(() => window.clickedAt));
    assert.ok(seenAfter <= 1000, `B saw SELECTING ${seenAfter} ms after A's click`);
    t.diagnostic(`B saw A's seat as SELECTING ${seenAfter} ms after the click`);
    await a.page.waitForSelector(`${seat}.mine`);

    await b.page.click(seat);
    await b.page.waitForSelector('#seat-message:not([hidden])');
    assert.equal(await b.page.textContent('#seat-message'), 'someone else is choosing this seat');
    await shot(b.page, 'seatmap-b-sees-selecting');

    // A second seat: selected, then released by clicking it again; B sees both.
    const otherId = await a.page.getAttribute('.seat[data-status="AVAILABLE"]', 'data-seat-id');
    const other = `.seat[data-seat-id="${otherId}"]`;
    await a.page.click(other);
    await a.page.waitForSelector(`${other}.mine`);
    await b.page.waitForSelector(`${other}[data-status="SELECTING"]`, { timeout: 5_000 });
    await a.page.click(other);
    await a.page.waitForSelector(`${other}[data-status="AVAILABLE"]:not(.mine)`);
    await b.page.waitForSelector(`${other}[data-status="AVAILABLE"]`, { timeout: 5_000 });

    await a.page.click('#confirm-hold');
    await a.page.waitForSelector('#reservation:not([hidden])');
    assert.equal(await a.page.textContent('#reservation-status'), 'HOLD');
    const secs = Number(await a.page.getAttribute('#hold-countdown', 'data-seconds'));
    assert.ok(secs > 0, `hold countdown ${secs}`);
    await b.page.waitForSelector(`${seat}[data-status="HOLD"]`, { timeout: 5_000 });
    await shot(a.page, 'seatmap-a-hold');
    for (const x of buyers) {
      assert.deepEqual(x.rec.errors, []);
      await x.context.close();
    }
  });

  test('clock skew: an hour off, the countdown still matches the server', async (t) => {
    const base = servers.websocket.url;
    const card = await cardBySlugTitle(base, 'Neon Tides');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.clock.install({ time: Date.now() + 3_600_000 });
    const { page, rec } = await openPage(context, `${base}/`);
    const cd = `.card[data-concert-id="${card.concertId}"] .countdown[data-seconds]`;
    await page.waitForSelector(cd);
    const skew = (await page.evaluate(() => Date.now())) - Date.now();
    assert.ok(Math.abs(skew - 3_600_000) < 5_000, `browser clock is ${skew} ms ahead`);
    for (let i = 0; i < 3; i++) {
      const before = (await cardBySlugTitle(base, 'Neon Tides')).saleOpensInSeconds;
      const shown = Number(await page.getAttribute(cd, 'data-seconds'));
      const afterward = (await cardBySlugTitle(base, 'Neon Tides')).saleOpensInSeconds;
      assert.ok(
        shown <= before + 1 && shown >= afterward - 1,
        `page shows ${shown} s, server said ${before}..${afterward} s`,
      );
      t.diagnostic(`skewed page shows ${shown} s; server said ${before} s then ${afterward} s`);
      await sleep(700);
    }
    await shot(page, 'clock-skew-cards');
    assert.deepEqual(rec.errors, []);
    await context.close();
  });

});
