// The HTTP API: bearer token from the session, problem+json errors as ApiError, and the
// clock synced from any body that carries `serverNow` (corrected by the answer's `Age`).
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = problem && problem.code;
    this.problem = problem;
  }
}

export class Api {
  constructor(session, clock) {
    this.session = session;
    this.clock = clock;
  }

  async request(method, path, { body, headers = {} } = {}) {
    const h = { Accept: 'application/json', ...headers };
    const token = this.session.token();
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, { code: 'NETWORK', detail: 'the server could not be reached' });
    }
    const text = await resp.text();
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (!resp.ok) throw new ApiError(resp.status, json);
    if (json && typeof json.serverNow === 'string') {
      // A cached answer (the CDN keeps public reads a second) says how long it waited.
      const age = Number.parseInt(resp.headers.get('Age') || '0', 10);
      this.clock.sync(json.serverNow, 'http', age);
    }
    return json;
  }

  get(path, opts) {
    return this.request('GET', path, opts);
  }
  post(path, body, opts = {}) {
    return this.request('POST', path, { ...opts, body });
  }
  del(path, opts) {
    return this.request('DELETE', path, opts);
  }
}

export function newRequestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
