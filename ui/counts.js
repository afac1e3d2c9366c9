// counts.js -- tasks per state: walked once through GET /v1/tasks (every
// page), then kept live from events. Only tasks that can still change are
// remembered; a terminal task is a number.

import { get } from './api.js';
import { STATES, TERMINAL, rank } from './format.js';

const WALK_PAGES = 50;   // at most 50 000 tasks are counted at start

export class Counts {
  constructor(onChange) {
    this.onChange = onChange;   // (counts, {complete, partial})
    this.reset();
  }

  // Forget everything (before a new walk).
  reset() {
    this.n = Object.fromEntries(STATES.map((s) => [s, 0]));
    this.live = new Map();     // id -> state, for tasks not terminal
    this.ended = new Set();    // terminal ids, kept while walking
    this.walking = true;
    this.partial = false;
    this.generation = (this.generation ?? 0) + 1;
  }

  // A task is in this state. From the walk (listed) a state that is not
  // further along than what an event said is ignored; events always count.
  set(id, state, listed = false) {
    const old = this.live.get(id) ?? (this.ended.has(id) ? 'ended' : null);
    if (old === 'ended' || old === state) return;
    if (listed && old !== null && rank(state) <= rank(old)) return;
    if (old !== null) this.n[old]--;
    this.n[state]++;
    if (TERMINAL.has(state)) {
      this.live.delete(id);
      if (this.walking) this.ended.add(id);
    } else {
      this.live.set(id, state);
    }
    this.changed();
  }

  changed() {
    this.onChange(this.n, { complete: !this.walking, partial: this.partial });
  }

  // Count every stored task, newest first, page by page.
  async walk() {
    const gen = this.generation;
    let token = null;
    for (let page = 0; page < WALK_PAGES; page++) {
      const q = token ? `&page_token=${encodeURIComponent(token)}` : '';
      const doc = await get(`/v1/tasks?limit=1000${q}`);
      if (gen !== this.generation) return;
      for (const t of doc.tasks) this.set(t.id, t.state, true);
      token = doc.next_page_token;
      if (token === null) break;
    }
    this.partial = token !== null;
    this.walking = false;
    this.ended.clear();
    this.changed();
  }
}
