// The server's clock as this page knows it: an offset from the local clock, taken from
// every `serverNow` the server sends (snapshots, pushes, PONG). Countdowns read `now()`,
// so a wrong or shifted local clock does not move them.
//
// A `serverNow` is stamped before the message travels (a pushed refresh is stamped when its
// cards were computed, before the queue and the socket), so each sample can only put the
// server behind its true time, never ahead. The estimate is therefore the largest offset
// seen in the last minute; older samples age out, and all are dropped when the local clock
// jumps, so a corrected server or local clock is followed within that minute.
const WINDOW_MS = 60_000;
const JUMP_MS = 1_000;

export class ServerClock {
  constructor() {
    this.offsetMs = 0;
    this.synced = false;
    this.lastSource = null;
    this.samples = []; // { offset, mono }
    this.wallMinusMono = null;
  }

  // `ageSeconds` is an HTTP answer's `Age`: how long a shared cache (the CDN) kept it
  // after the server stamped it. Age is rounded down, so the corrected sample still lags.
  sync(serverNow, source, ageSeconds = 0) {
    const parsed = Date.parse(serverNow);
    if (Number.isNaN(parsed)) return;
    const age = Number.isFinite(ageSeconds) && ageSeconds > 0 ? ageSeconds : 0;
    const server = parsed + age * 1000;
    const local = Date.now();
    const mono = performance.now();
    const wallMinusMono = local - mono;
    if (this.wallMinusMono !== null && Math.abs(wallMinusMono - this.wallMinusMono) > JUMP_MS) {
      this.samples = [];
    }
    this.wallMinusMono = wallMinusMono;
    this.samples = this.samples.filter((x) => mono - x.mono <= WINDOW_MS);
    this.samples.push({ offset: server - local, mono });
    this.offsetMs = Math.max(...this.samples.map((x) => x.offset));
    this.synced = true;
    this.lastSource = source;
  }

  now() {
    return Date.now() + this.offsetMs;
  }

  // Whole seconds until `iso`, rounded up as the server rounds saleOpensInSeconds; 0 once due.
  secondsUntil(iso) {
    const at = Date.parse(iso);
    if (Number.isNaN(at)) return null;
    const ms = at - this.now();
    return ms <= 0 ? 0 : Math.ceil(ms / 1000);
  }
}

export function formatCountdown(seconds) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const two = (n) => String(n).padStart(2, '0');
  return d > 0 ? `${d}d ${two(h)}:${two(m)}:${two(s)}` : `${two(h)}:${two(m)}:${two(s)}`;
}
