// The page's server clock, outside the browser: which samples it trusts and how it rounds.
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerClock, formatCountdown } from '../../samples/web/clock.js';

// Drive both clocks the page reads: the wall clock and the monotonic one.
let wall;
let mono;
beforeEach(() => {
  wall = Date.parse('2026-12-01T10:00:00.000Z');
  mono = 5_000;
  Date.now = () => wall;
  Object.defineProperty(globalThis, 'performance', { value: { now: () => mono }, configurable: true });
});
const pass = (ms) => {
  wall += ms;
  mono += ms;
};
const iso = (ms) => new Date(ms).toISOString();

test('every sample can only lag, so the largest offset of the last minute wins', () => {
  const c = new ServerClock();
  c.sync(iso(wall + 5_000 - 300), 'http'); // a server 5 s ahead, heard 300 ms late
  assert.equal(c.offsetMs, 4_700);
  pass(1_000);
  c.sync(iso(wall + 5_000 - 40), 'pong');
  assert.equal(c.offsetMs, 4_960);
  pass(1_000);
  c.sync(iso(wall + 5_000 - 900), 'push'); // a refresh stamped before it queued
  assert.equal(c.offsetMs, 4_960, 'a later but staler sample does not pull the clock back');
  assert.equal(c.now(), wall + 4_960);
});

test('samples age out after a minute, so a server clock that steps back is followed', () => {
  const c = new ServerClock();
  c.sync(iso(wall + 2_000), 'http');
  pass(61_000);
  c.sync(iso(wall - 1_000), 'pong');
  assert.equal(c.offsetMs, -1_000);
});

test('a jump of the local clock drops the old samples at once', () => {
  const c = new ServerClock();
  c.sync(iso(wall), 'http');
  wall += 3_600_000; // the wall clock jumps an hour; the monotonic clock does not
  c.sync(iso(wall - 3_600_000), 'pong');
  assert.equal(c.offsetMs, -3_600_000);
});

test("a cached answer's Age moves its serverNow forward, and nonsense Age is ignored", () => {
  const c = new ServerClock();
  c.sync(iso(wall + 5_000 - 2_300), 'http', 2); // a CDN kept it 2.3 s; Age says 2
  assert.equal(c.offsetMs, 4_700);
  const d = new ServerClock();
  d.sync(iso(wall), 'http', Number.NaN);
  d.sync(iso(wall), 'http', -3);
  assert.equal(d.offsetMs, 0);
});

test('seconds until an instant round up, as the server rounds saleOpensInSeconds', () => {
  const c = new ServerClock();
  c.sync(iso(wall), 'http');
  assert.equal(c.secondsUntil(iso(wall + 1)), 1);
  assert.equal(c.secondsUntil(iso(wall + 1_000)), 1);
  assert.equal(c.secondsUntil(iso(wall + 1_001)), 2);
  assert.equal(c.secondsUntil(iso(wall)), 0);
  assert.equal(c.secondsUntil(iso(wall - 5_000)), 0);
  assert.equal(c.secondsUntil('not a time'), null);
});

test('countdowns read as hours, minutes and seconds, with days when far', () => {
  assert.equal(formatCountdown(59), '00:00:59');
  assert.equal(formatCountdown(3_661), '01:01:01');
  assert.equal(formatCountdown(2 * 86_400 + 5), '2d 00:00:05');
});
