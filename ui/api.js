// api.js -- every call to the daemon: the bearer token (kept for this
// browser session only), the prompt on 401, and problem+json errors.

const KEY = 'evtaskd.token';
let prompt = async () => { throw new Error('no token prompt'); };
let asking = null;   // the prompt in progress: every 401 waits for it

// An answer other than 2xx, with the daemon's problem+json when there is one.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// Set what asks for a token: async (refused: boolean) => token.
export function setTokenPrompt(fn) { prompt = fn; }

// The token of this browser session, or null.
export const token = () => sessionStorage.getItem(KEY);

// Forget the token (the next call asks again if it needs one).
export function forgetToken() { sessionStorage.removeItem(KEY); }

// Headers for a call: extra ones and the bearer token.
export function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : { ...extra };
}

// Wait for a token after a 401 to a call sent with `sent` (null: none).
async function needToken(sent) {
  if (token() !== sent) return;   // another call got a new one meanwhile
  asking ??= prompt(sent !== null).then((t) => {
    sessionStorage.setItem(KEY, t);
    asking = null;
  });
  await asking;
}

// fetch() with the token; on 401 ask for one and send again.
export async function request(method, path, { body, signal, headers: extra } = {}) {
  for (;;) {
    const sent = token();
    const h = body === undefined ? extra : { 'Content-Type': 'application/json', ...extra };
    const r = await fetch(path, {
      method, signal, cache: 'no-store', headers: headers(h),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status !== 401) return r;
    await r.body?.cancel();
    await needToken(sent);
  }
}

// A call answered with JSON: the document, or an ApiError.
export async function call(method, path, opts) {
  const r = await request(method, path, opts);
  const type = r.headers.get('Content-Type') ?? '';
  const doc = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, typeof doc === 'object' ? doc : null);
  return doc;
}

// GET a JSON document.
export const get = (path, opts) => call('GET', path, opts);
