// app.js -- the dashboard: loads what is stored, then follows the event
// stream; wires the counts, the table, the detail, the forms and dialogs.

import { call, forgetToken, get, setTokenPrompt, token } from './api.js';
import { Counts } from './counts.js';
import { CreateForm } from './create.js';
import { TaskDetail } from './detail.js';
import { $, fill, h } from './dom.js';
import { STATES } from './format.js';
import { Schedules } from './schedules.js';
import { follow } from './stream.js';
import { TaskTable } from './tasks.js';

const FRESH_KEEP = 2000;   // tasks whose latest event JSON is remembered

// The latest JSON of recently changed tasks, and when it came.
class Fresh {
  constructor() { this.map = new Map(); }

  put(t) {
    this.map.delete(t.id);
    this.map.set(t.id, { t, at: performance.now() });
    if (this.map.size > FRESH_KEEP) this.map.delete(this.map.keys().next().value);
  }

  // A task's event JSON if it came after `since`.
  get(id, since) {
    const e = this.map.get(id);
    return e && e.at >= since ? e.t : null;
  }

  // Every task whose event came after `since`, oldest first.
  all(since) { return [...this.map.values()].filter((e) => e.at >= since).map((e) => e.t); }

  has(id) { return this.map.has(id); }
}

const fresh = new Fresh();
const pending = new Map();   // events not yet drawn: id -> task
let drawScheduled = false;

const table = new TaskTable($('#tasks tbody'), {
  onCancel: (t) => askCancel(t),
  onEmpty: (empty) => { $('#tasks-empty').hidden = !empty; },
  onMore: (more) => { $('#more').hidden = !more; },
});
const detail = new TaskDetail($('#detail'), {
  onCancel: (t) => askCancel(t),
  onClose: () => { location.hash = ''; },
});
const counts = new Counts(() => scheduleDraw());
const create = new CreateForm($('#create-dialog'), {
  onCreated: (t) => {
    // Its events may have come first (and be newer): then they show it.
    if (!fresh.has(t.id)) table.upsert(t);
    location.hash = `#task/${t.id}`;
  },
});
const schedules = new Schedules($('#schedules'));

// A short message at the top (errors of actions).
function notice(text) {
  const el = $('#notice');
  el.hidden = !text;
  el.textContent = text;
}
schedules.onError = notice;

// The counts strip: one button per state, which also filters the table.
function countsStrip() {
  fill($('#counts'), STATES.map((s) => h('button', {
    type: 'button', class: `count ${s}`, 'data-filter-state': s, title: `Show ${s} tasks`,
    onclick: () => { $('#filters [name="state"]').value = s; applyFilters(); },
  }, h('span', { class: 'n', 'data-count-state': s }, '0'), h('span', { class: 'label' }, s))));
}

// Draw what changed, at most once a frame (and within 250 ms when hidden).
function scheduleDraw() {
  if (drawScheduled) return;
  drawScheduled = true;
  const timer = setTimeout(draw, 250);
  requestAnimationFrame(() => { clearTimeout(timer); draw(); });
}

function draw() {
  if (!drawScheduled) return;
  drawScheduled = false;
  for (const s of STATES) $(`[data-count-state="${s}"]`).textContent = String(counts.n[s]);
  $('#counts').dataset.complete = String(!counts.walking);
  $('#counts').classList.toggle('partial', counts.partial);
  for (const t of pending.values()) {
    table.upsert(t);
    if (detail.shows(t.id)) detail.show(t);
  }
  pending.clear();
}

// A message of the event stream: a task changed, or a reset.
function onMessage(m) {
  if (m.event === 'reset') {
    resync();
  } else if (m.event === 'task') {
    const t = JSON.parse(m.data);
    fresh.put(t);
    counts.set(t.id, t.state);
    pending.set(t.id, t);
    scheduleDraw();
    if (t.schedule_id) schedules.load();
  }
}

// The stream's state, shown in the header ("live", "reconnecting").
function onStatus(s) {
  const el = $('#stream');
  el.dataset.stream = s;
  el.textContent = s === 'live' ? 'live' : 'reconnecting…';
}

// Read everything again: at start, and after a reset (events were lost).
async function resync() {
  counts.reset();
  scheduleDraw();
  await Promise.all([counts.walk(), table.load(fresh), schedules.load()])
    .catch((e) => notice(`Could not read the daemon: ${e.message}`));
}

// The filters' values into the table, and the table reloaded.
function applyFilters() {
  const f = new FormData($('#filters'));
  const kind = f.get('kind');
  table.filter = {
    state: f.get('state'),
    kind: kind.startsWith('job:') ? 'command' : kind,
    job: kind.startsWith('job:') ? kind.slice(4) : '',
    name: f.get('name').trim(),
  };
  table.load(fresh).catch((e) => notice(e.message));
}

// The kind/job filter's options: sleep, command and every job.
function kindOptions(jobs) {
  const sel = $('#filters [name="kind"]');
  const keep = sel.value;
  fill(sel, h('option', { value: '' }, 'all'), h('option', { value: 'sleep' }, 'sleep'),
    h('option', { value: 'command' }, 'command (any job)'),
    jobs.map((j) => h('option', { value: `job:${j.name}` }, `job: ${j.name}`)));
  sel.value = keep;
}

// Ask for a reason and confirmation, then DELETE the task.
function askCancel(t) {
  const dialog = $('#cancel-dialog');
  $('#cancel-id').textContent = t.name ? `${t.name} (${t.id})` : t.id;
  dialog.returnValue = '';
  dialog.querySelector('form').reset();
  dialog.showModal();
  dialog.addEventListener('close', async () => {
    if (dialog.returnValue !== 'confirm') return;
    const reason = new FormData(dialog.querySelector('form')).get('reason').trim();
    const q = new URLSearchParams({ wait: 'false' });
    if (reason) q.set('reason', reason);
    try {
      await call('DELETE', `/v1/tasks/${t.id}?${q}`);
    } catch (e) {
      notice(`Cancel of ${t.id}: ${e.message}`);
    }
  }, { once: true });
}

// Ask for the token (once per browser session; again if it was refused).
function askToken(refused) {
  const dialog = $('#token-dialog');
  $('#token-msg').textContent = refused
    ? 'The daemon refused that token (401). Enter the right one.'
    : 'This daemon needs a bearer token (auth.token_file). It is kept for this browser session only.';
  dialog.querySelector('form').reset();
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      $('#forget-token').hidden = false;
      resolve(new FormData(dialog.querySelector('form')).get('token').trim());
    }, { once: true });
  });
}

// The hash names the task shown: #task/ID.
async function route() {
  const m = /^#task\/([0-9A-Za-z]{26})$/.exec(location.hash);
  if (!m) { detail.hide(); table.select(null); return; }
  table.select(m[1]);
  const since = performance.now();
  try {
    const t = await get(`/v1/tasks/${m[1]}`);
    if (location.hash === `#task/${m[1]}`) detail.show(fresh.get(t.id, since) ?? t);
  } catch (e) {
    notice(`Task ${m[1]}: ${e.message}`);
  }
}

// Controls in the page itself.
function wire() {
  $('#filters').addEventListener('input', applyFilters);
  $('#filters').addEventListener('submit', (e) => e.preventDefault());
  $('#more').addEventListener('click', () => table.more(fresh).catch((e) => notice(e.message)));
  $('#new-task').addEventListener('click', () => create.open());
  $('#forget-token').addEventListener('click', () => { forgetToken(); location.reload(); });
  $('#notice').addEventListener('click', () => notice(''));
  $('#token-dialog').addEventListener('cancel', (e) => e.preventDefault());
  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !document.querySelector('dialog[open]') && detail.task) location.hash = '';
  });
  setInterval(() => table.tick(), 1000);
}

// Start: the jobs (which asks for the token if needed), the stream, the rest.
async function start() {
  countsStrip();
  wire();
  setTokenPrompt(askToken);
  $('#forget-token').hidden = token() === null;
  kindOptions(await create.loadJobs());
  follow({ onMessage, onStatus });
  await resync();
  route();
}

start().catch((e) => notice(`Could not start: ${e.message}`));
