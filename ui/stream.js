// stream.js -- GET /v1/events read with a streaming fetch (EventSource
// cannot send the bearer token), parsed as server-sent events; after a
// drop it reconnects with Last-Event-ID, so the daemon replays what was
// missed, or says "reset" when that is too old.

import { request } from './api.js';

const QUIET_MS = 40000;   // the daemon comments every 15 s: silence is a dead link
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 4000;

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// One message's lines ("event:", "data:", "id:"; comments skipped), or null.
function parse(block) {
  const m = { event: 'message', id: null, data: [] };
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const c = line.indexOf(':');
    const key = c < 0 ? line : line.slice(0, c);
    const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
    if (key === 'data') m.data.push(value);
    else if (key === 'event') m.event = value;
    else if (key === 'id') m.id = value;
  }
  if (m.id === null && m.data.length === 0) return null;
  return { event: m.event, id: m.id, data: m.data.join('\n') };
}

// Read messages from a response body until it ends, is aborted, or is
// silent for QUIET_MS.
async function read(body, ctl, onMessage) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let timer;
  const arm = () => { clearTimeout(timer); timer = setTimeout(() => ctl.abort(), QUIET_MS); };
  try {
    for (arm(); ; arm()) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      for (let i; (i = buf.indexOf('\n\n')) >= 0; buf = buf.slice(i + 2)) {
        const m = parse(buf.slice(0, i));
        if (m) onMessage(m);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

// Follow the event stream for ever. onMessage gets {event, id, data};
// onStatus 'live' or 'reconnecting'.
export async function follow({ onMessage, onStatus }) {
  let lastId = null;
  let delay = RETRY_MIN_MS;
  for (;;) {
    const ctl = new AbortController();
    try {
      const extra = lastId === null ? {} : { 'Last-Event-ID': lastId };
      const r = await request('GET', '/v1/events', { signal: ctl.signal, headers: extra });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      onStatus('live');
      delay = RETRY_MIN_MS;
      await read(r.body, ctl, (m) => {
        if (m.id !== null) lastId = m.id;
        onMessage(m);
      });
    } catch {
      // dropped, refused or unreachable: try again below
    }
    ctl.abort();
    onStatus('reconnecting');
    await sleep(delay);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}
