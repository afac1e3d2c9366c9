// tasks.js -- the task table: filtered by state and kind through the API,
// by job and name in the page, paged through history with page tokens,
// and kept live from events (rows appear, change state, or leave the
// filter). Every row has data-task-id and data-state.

import { get } from './api.js';
import { $, fill, h } from './dom.js';
import { CANCELLABLE, age, duration, kindLabel, shortId, taskDuration } from './format.js';

const PAGE = 100;

export class TaskTable {
  // body: the <tbody>; onCancel(task) asks for a cancel.
  constructor(body, { onCancel, onEmpty, onMore }) {
    this.body = body;
    this.onCancel = onCancel;
    this.onEmpty = onEmpty;   // (empty: boolean)
    this.onMore = onMore;     // (more: boolean)
    this.rows = new Map();    // id -> <tr>, newest first in the table
    this.filter = { state: '', kind: '', job: '', name: '' };
    this.next = null;         // page token of the next older page
    this.loading = 0;         // counts loads: an older one's answer is dropped
    this.selected = null;
  }

  // Does a task pass the filters?
  matches(t) {
    const f = this.filter;
    if (f.state && !f.state.split(',').includes(t.state)) return false;
    if (f.kind && t.kind !== f.kind) return false;
    if (f.job && t.job !== f.job) return false;
    return !f.name || (t.name ?? '').toLowerCase().includes(f.name.toLowerCase());
  }

  // The list URL for the filters the API knows, from a page token.
  url(token) {
    const q = new URLSearchParams({ limit: PAGE });
    if (this.filter.state) q.set('state', this.filter.state);
    if (this.filter.kind) q.set('kind', this.filter.kind);
    if (token) q.set('page_token', token);
    return `/v1/tasks?${q}`;
  }

  // Load the newest page again (filters changed, or a reset). fresh(id,
  // since) gives a task's JSON from an event newer than since, if any.
  async load(fresh) {
    const n = ++this.loading;
    const since = performance.now();
    const page = await get(this.url(null));
    if (n !== this.loading) return;
    this.rows.clear();
    this.body.replaceChildren();
    this.show(page, fresh, since);
    for (const t of fresh.all(since)) this.upsert(t);
  }

  // Append the next older page.
  async more(fresh) {
    if (!this.next) return;
    const since = performance.now();
    this.show(await get(this.url(this.next)), fresh, since);
  }

  // Add a page's rows at the end (a fresher event's JSON wins).
  show(page, fresh, since) {
    for (const listed of page.tasks) {
      const t = fresh.get(listed.id, since) ?? listed;
      if (this.matches(t) && !this.rows.has(t.id)) this.append(t);
    }
    this.next = page.next_page_token;
    this.onMore(this.next !== null);
    this.onEmpty(this.rows.size === 0);
  }

  // A task changed (from the event stream): update, insert or drop its row.
  upsert(t) {
    const tr = this.rows.get(t.id);
    if (tr && !this.matches(t) && t.id !== this.selected) this.remove(t.id);
    else if (tr) this.fillRow(tr, t);
    else if (this.matches(t) && this.inWindow(t.id)) this.insert(t);
    this.onEmpty(this.rows.size === 0);
  }

  // Is an id among the pages loaded (newer than the oldest row shown)?
  inWindow(id) {
    const last = this.body.lastElementChild;
    return this.next === null || !last || id > last.dataset.taskId;
  }

  remove(id) {
    this.rows.get(id)?.remove();
    this.rows.delete(id);
  }

  append(t) { this.body.append(this.row(t)); }

  // Insert a row where its id sorts (ids are time-ordered: newest first).
  insert(t) {
    let before = this.body.firstElementChild;
    while (before && before.dataset.taskId > t.id) before = before.nextElementSibling;
    this.body.insertBefore(this.row(t), before);
  }

  // A new row for a task.
  row(t) {
    const tr = h('tr', { 'data-task-id': t.id });
    tr.addEventListener('click', (e) => {
      if (!e.target.closest('button, a')) location.hash = `#task/${t.id}`;
    });
    this.rows.set(t.id, tr);
    return this.fillRow(tr, t);
  }

  // Fill a row's cells from a task.
  fillRow(tr, t) {
    tr.task = t;
    tr.dataset.state = t.state;
    tr.classList.toggle('selected', t.id === this.selected);
    const cancel = CANCELLABLE.has(t.state)
      ? h('button', { type: 'button', class: 'small danger', 'data-action': 'cancel',
        'aria-label': `Cancel task ${t.id}`, onclick: () => this.onCancel(t) }, 'Cancel')
      : null;
    fill(tr,
      h('td', { class: 'id' }, h('a', { href: `#task/${t.id}`, title: t.id }, shortId(t.id))),
      h('td', { class: 'name' }, t.name ?? h('span', { class: 'none' }, '—')),
      h('td', { class: 'kind' }, kindLabel(t)),
      h('td', null, h('span', { class: `state ${t.state}` }, t.state)),
      h('td', { class: 'age', title: t.created_at }, age(t.created_at)),
      h('td', { class: 'dur' }, duration(taskDuration(t))),
      h('td', { class: 'act' }, cancel));
    return tr;
  }

  // Mark the row of the task shown in detail.
  select(id) {
    this.rows.get(this.selected)?.classList.remove('selected');
    this.selected = id;
    this.rows.get(id)?.classList.add('selected');
  }

  // Update ages and running durations (once a second).
  tick() {
    const now = Date.now();
    for (const tr of this.rows.values()) {
      $('.age', tr).textContent = age(tr.task.created_at, now);
      if (tr.task.started_at && !tr.task.finished_at) {
        $('.dur', tr).textContent = duration(taskDuration(tr.task, now));
      }
    }
  }
}
