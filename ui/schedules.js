// schedules.js -- recurring schedules (GET /v1/schedules) with pause and
// resume (PATCH {"paused": ...}). A daemon without the endpoint (404)
// says so instead.

import { ApiError, call, get } from './api.js';
import { fill, h } from './dom.js';
import { clock, duration } from './format.js';

const REFRESH_MS = 10000;   // schedules have no events: read them again

// "cron 30 2 * * * (Europe/Berlin)" or "every 5 min".
const when = (s) => (s.cron ? `cron ${s.cron} (${s.time_zone ?? 'UTC'})` : `every ${duration(s.every_ms)}`);

// What a schedule runs: "sleep" or "job: backup".
const what = (s) => (s.task?.kind === 'command' ? `job: ${s.task.job}` : s.task?.kind ?? 'sleep');

export class Schedules {
  constructor(el) {
    this.el = el;
    this.timer = null;
    this.onError = () => {};
  }

  // Read the schedules and show them; again every REFRESH_MS.
  async load() {
    clearTimeout(this.timer);
    try {
      this.show((await get('/v1/schedules')).schedules);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return this.absent();
      fill(this.el, h('p', { class: 'note' }, `Schedules: ${e.message}`));
    }
    this.timer = setTimeout(() => this.load(), REFRESH_MS);
    return undefined;
  }

  // This daemon has no schedules endpoint: say so, and stop asking.
  absent() {
    this.el.dataset.schedules = 'absent';
    fill(this.el, h('p', { class: 'note' }, 'No schedules endpoint on this daemon.'));
  }

  // The schedules table.
  show(list) {
    this.el.dataset.schedules = 'present';
    if (!list.length) {
      fill(this.el, h('p', { class: 'note' }, 'No schedules.'));
      return;
    }
    fill(this.el, h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, ['name', 'when', 'task', 'next run', 'last run', 'runs / skipped', '']
        .map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, list.map((s) => this.row(s))))));
  }

  // One schedule, with its pause or resume button.
  row(s) {
    const action = s.paused ? 'resume' : 'pause';
    return h('tr', { 'data-schedule-id': s.id, 'data-paused': String(s.paused) },
      h('td', null, s.name ?? s.id), h('td', null, when(s)), h('td', null, what(s)),
      h('td', null, s.paused ? 'paused' : clock(s.next_run_at)),
      h('td', null, clock(s.last_run_at)), h('td', null, `${s.runs} / ${s.skipped_runs}`),
      h('td', null, h('button', { type: 'button', class: 'small', 'data-action': action,
        onclick: () => this.setPaused(s.id, !s.paused) }, s.paused ? 'Resume' : 'Pause')));
  }

  // PATCH the schedule's paused flag, then show the list again.
  async setPaused(id, paused) {
    try {
      await call('PATCH', `/v1/schedules/${id}`, { body: { paused } });
    } catch (e) {
      this.onError(e.message);
    }
    await this.load();
  }
}
