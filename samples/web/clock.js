// The server's clock as this page knows it: an offset from the local clock, taken from
// every `serverNow` the server sends (snapshots, pushes, PONG). Countdowns read `now()`,
// so a wrong or shifted local clock does not move them.
export class ServerClock {
  constructor() {
    this.offsetMs = 0;
    this.synced = false;
    this.lastSource = null;
  }

  sync(serverNow, source) {
    const server = Date.parse(serverNow);
    if (Number.isNaN(server)) return;
    this.offsetMs = server - Date.now();
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
