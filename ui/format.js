// format.js -- states, and times, durations and sizes as people read them.

export const STATES = ['scheduled', 'running', 'cancelling', 'succeeded',
  'failed', 'cancelled', 'timed_out'];
export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled',
  'timed_out']);
// What a cancel can still stop (a cancel of a cancelling task only joins).
export const CANCELLABLE = new Set(['scheduled', 'running']);

// How far a state is along a task's life (terminal states are last).
export function rank(state) {
  return TERMINAL.has(state) ? 3 : STATES.indexOf(state);
}

// Milliseconds since the epoch of an RFC 3339 time, or null.
export const epoch = (iso) => (iso ? Date.parse(iso) : null);

// A duration in ms: "850 ms", "12.3 s", "4 min 3 s", "2 h 5 min", "3 d 4 h".
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const parts = [[86400, 'd'], [3600, 'h'], [60, 'min'], [1, 's']];
  const out = [];
  let left = Math.floor(s);
  for (const [unit, name] of parts) {
    if (left >= unit || out.length) out.push(`${Math.floor(left / unit)} ${name}`);
    left %= unit;
    if (out.length === 2) break;
  }
  return out.join(' ');
}

// How long ago: "12 s", "3 min" (no "ago": the column says so).
export function age(iso, now = Date.now()) {
  const t = epoch(iso);
  return t === null ? '' : duration(Math.max(0, now - t)).replace(/ \d+ \w+$/, '');
}

// A task's running time: started to finished (or now), else what it plans.
export function taskDuration(t, now = Date.now()) {
  const start = epoch(t.started_at);
  if (start === null) return t.duration_ms ?? null;
  return (epoch(t.finished_at) ?? now) - start;
}

// A local time with milliseconds, for timelines.
export function clock(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `.${pad(d.getMilliseconds(), 3)}`;
}

// "sleep", or "command · backup".
export const kindLabel = (t) => (t.kind === 'command' && t.job ? `command · ${t.job}` : t.kind);

// A byte count: "512 B", "3.2 KiB", "1.5 MiB".
export function bytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

// The end of an id: enough to tell tasks apart in a table.
export const shortId = (id) => `…${id.slice(-8)}`;
