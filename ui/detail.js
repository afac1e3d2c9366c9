// detail.js -- one task: its state and actions, the cancellation receipt,
// the cleanup outcome, the state timeline, the live output of a command,
// and every member of its JSON.

import { headers } from './api.js';
import { fill, h } from './dom.js';
import { CANCELLABLE, bytes, clock, duration, epoch, kindLabel } from './format.js';

const OUTPUT_KEEP = 256 * 1024;   // characters of output kept on the page

// A definition list from [term, value] pairs (null values left out).
function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

// A JSON value as the detail shows it: plain text, or indented JSON.
function value(v) {
  if (v === null) return h('span', { class: 'none' }, 'null');
  if (typeof v === 'object') return h('pre', { class: 'json' }, JSON.stringify(v, null, 2));
  return String(v);
}

// The receipt: who asked, why, what was killed, did anything survive.
function receipt(c) {
  if (!c) return null;
  const k = c.kill;
  const kill = k ? facts([
    ['method', k.method],
    ['signal', k.signal],
    ['signalled', clock(k.signalled_at)],
    ['escalated', k.escalated ? 'yes: SIGKILL was needed' : 'no'],
    ['ended', clock(k.ended_at)],
    ['survivors', h('span', { class: k.survivors ? 'bad' : 'good', 'data-survivors': k.survivors },
      k.survivors ? `${k.survivors} still alive when the cleanup started` : '0 (verified none left)')],
  ]) : h('p', { class: 'note' }, 'No kill: no process was running.');
  return h('section', { class: 'card receipt', 'data-part': 'receipt' },
    h('h3', null, 'Cancellation receipt'),
    facts([['reason', c.reason], ['message', c.message], ['requested', clock(c.requested_at)],
      ['requests', c.requests]]),
    h('h4', null, 'Kill'), kill);
}

// How the cleanup went, with the kind's facts (exit code, output tail).
function cleanup(c) {
  if (!c) return null;
  const took = c.finished_at ? duration(epoch(c.finished_at) - epoch(c.started_at)) : null;
  return h('section', { class: 'card cleanup', 'data-part': 'cleanup', 'data-cleanup-state': c.state },
    h('h3', null, 'Cleanup ', h('span', { class: `state ${c.state}` }, c.state)),
    facts([['started', clock(c.started_at)], ['finished', clock(c.finished_at)], ['took', took],
      ['detail', c.detail], ['exit code', c.exit_code], ['signal', c.signal],
      ['output', c.output_bytes === undefined ? null : bytes(c.output_bytes)]]),
    c.output ? h('pre', { class: 'output small' }, c.output) : null);
}

// The state timeline, from the task's own times.
function timeline(t) {
  const c = t.cancellation;
  const steps = [
    [t.created_at, 'scheduled', 'created'],
    [t.start_at !== t.created_at ? t.start_at : null, 'scheduled', 'due to start'],
    [t.started_at, 'running', 'started'],
    ...(t.attempts ?? []).map((a) => [a.finished_at, a.state, `attempt ${a.attempt} ended ${a.state}`]),
    [c?.requested_at, 'cancelling', `cancel requested (${c?.reason})`],
    [c?.kill?.signalled_at, 'cancelling', `SIG${c?.kill?.signal} sent`],
    [c?.kill?.ended_at, 'cancelling', 'every process gone'],
    [t.cleanup?.started_at, 'cancelling', 'cleanup started'],
    [t.cleanup?.finished_at, t.cleanup?.state, `cleanup ${t.cleanup?.state}`],
    [t.finished_at, t.state, t.state],
  ].filter(([at]) => at).sort((a, b) => epoch(a[0]) - epoch(b[0]));
  return h('section', { class: 'card', 'data-part': 'timeline' }, h('h3', null, 'Timeline'),
    h('ol', { class: 'timeline' }, steps.map(([at, state, what]) =>
      h('li', { class: state }, h('time', { datetime: at }, clock(at)), ' ', what))));
}

// Every member of the task, as the API returned it.
function members(t) {
  return h('details', { class: 'card', 'data-part': 'members' },
    h('summary', null, 'Every member'),
    h('dl', { class: 'facts members' }, Object.entries(t).map(([k, v]) =>
      [h('dt', null, k), h('dd', null, value(v))])));
}

export class TaskDetail {
  // el: the <aside>; onCancel(task) asks for a cancel; onClose().
  constructor(el, { onCancel, onClose }) {
    this.el = el;
    this.onCancel = onCancel;
    this.onClose = onClose;
    this.task = null;
    this.output = null;   // {id, pre, ctl}
  }

  // Show a task (or update the one shown).
  show(t) {
    const same = this.task?.id === t.id;
    this.task = t;
    this.el.hidden = false;
    this.el.dataset.detailId = t.id;   // not data-task-id: that marks rows
    this.el.dataset.detailState = t.state;
    if (!same) this.stopOutput();
    const out = t.kind === 'command' ? this.outputSection(t) : null;
    fill(this.el, this.head(t), receipt(t.cancellation), cleanup(t.cleanup),
      out, timeline(t), members(t));
  }

  // Close the panel.
  hide() {
    this.stopOutput();
    this.task = null;
    this.el.hidden = true;
    delete this.el.dataset.detailId;
    delete this.el.dataset.detailState;
  }

  // Title, state, facts and the cancel button.
  head(t) {
    const cancel = CANCELLABLE.has(t.state)
      ? h('button', { type: 'button', class: 'danger', 'data-action': 'cancel', onclick: () => this.onCancel(t) }, 'Cancel…')
      : null;
    return h('header', { class: 'detail-head' },
      h('div', { class: 'title' },
        h('h2', null, t.name ?? 'Task'),
        h('button', { type: 'button', class: 'close', 'aria-label': 'Close the detail', onclick: () => this.onClose() }, '×')),
      h('p', null, h('code', null, t.id)),
      h('p', { class: 'row' }, h('span', { class: `state ${t.state}`, 'data-part': 'state' }, t.state), ' ', cancel),
      facts([['kind', kindLabel(t)], ['args', t.args ? JSON.stringify(t.args) : null],
        ['created', clock(t.created_at)], ['exit code', t.result?.exit_code ?? null],
        ['signal', t.result?.signal ?? null]]));
  }

  // The live output section: its <pre> survives re-renders.
  outputSection(t) {
    if (this.output?.id !== t.id) this.startOutput(t.id);
    return h('section', { class: 'card', 'data-part': 'output' }, h('h3', null, 'Output'), this.output.pre);
  }

  // Follow GET /v1/tasks/ID/output?follow=true into a <pre>.
  startOutput(id) {
    const pre = h('pre', { class: 'output', 'data-output': id, tabindex: 0 });
    const ctl = new AbortController();
    this.output = { id, pre, ctl };
    this.follow(id, pre, ctl).catch(() => {});
  }

  // Read the output stream; after a drop, resume at the offset reached.
  async follow(id, pre, ctl) {
    const at = { offset: 0, decoder: new TextDecoder() };
    while (!ctl.signal.aborted) {
      try {
        if (await this.readOutput(id, pre, ctl, at)) return;
      } catch {
        await new Promise((resolve) => { setTimeout(resolve, 1000); });
      }
    }
  }

  // One output request from at.offset; true once it has all been read.
  async readOutput(id, pre, ctl, at) {
    const r = await fetch(`/v1/tasks/${id}/output?follow=true&offset=${at.offset}`,
      { headers: headers(), signal: ctl.signal, cache: 'no-store' });
    if (!r.ok) return true;
    at.offset = Number(r.headers.get('Evtaskd-Output-Start') ?? at.offset);
    const reader = r.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return true;   // the task is terminal and everything was sent
      at.offset += value.length;
      this.append(pre, at.decoder.decode(value, { stream: true }));
    }
  }

  // Append text, keep the tail, follow the end if the reader was there.
  append(pre, text) {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let s = pre.textContent + text;
    if (s.length > OUTPUT_KEEP) s = s.slice(s.length - OUTPUT_KEEP);
    pre.textContent = s;
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  stopOutput() {
    this.output?.ctl.abort();
    this.output = null;
  }

  // Is this task the one shown?
  shows(id) { return this.task?.id === id; }
}
