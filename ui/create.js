// create.js -- the "New task" form: a sleep task, or a task of any job the
// daemon has, its fields built from GET /v1/jobs (each arg with its
// pattern, whether it is required, and its description).

import { ApiError, call, get } from './api.js';
import { $, fill, h } from './dom.js';

// A number field (milliseconds), optional unless required.
const msField = (name, label, attrs = {}) => h('label', null, label,
  h('input', { name, type: 'number', min: 0, step: 1, inputmode: 'numeric', ...attrs }));

// A job's arg pattern as a browser regex (anchored), or null if it is
// POSIX syntax a browser cannot read: the daemon checks it anyway.
function regex(pattern) {
  try { return new RegExp(`^(?:${pattern})$`); } catch { return null; }
}

// The input of one arg of a job.
function argField(name, spec) {
  const input = h('input', { name: `arg.${name}`, required: spec.required, autocomplete: 'off',
    'aria-describedby': `hint-${name}` });
  const re = regex(spec.pattern);
  input.addEventListener('input', () => {
    const ok = !re || input.value === '' || re.test(input.value);
    input.setCustomValidity(ok ? '' : `must match ${spec.pattern}`);
  });
  return h('label', null, h('span', null, name, spec.required ? h('abbr', { title: 'required' }, ' *') : null), input,
    h('small', { id: `hint-${name}`, class: 'hint' }, spec.description ?? '', ' ', h('code', null, spec.pattern)));
}

export class CreateForm {
  // dialog: the <dialog>; onCreated(task).
  constructor(dialog, { onCreated }) {
    this.dialog = dialog;
    this.onCreated = onCreated;
    this.jobs = [];
    this.form = $('form', dialog);
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(e.submitter); });
    $('select[name="what"]', dialog).addEventListener('change', () => this.fields());
    $('[data-action="close"]', dialog).addEventListener('click', () => dialog.close());
  }

  // Read the jobs (GET /v1/jobs) and offer them.
  async loadJobs() {
    this.jobs = (await get('/v1/jobs')).jobs;
    const what = $('select[name="what"]', this.dialog);
    const keep = what.value;
    fill(what, h('option', { value: '' }, 'sleep task'),
      this.jobs.map((j) => h('option', { value: j.name }, `job: ${j.name}`)));
    what.value = this.jobs.some((j) => j.name === keep) ? keep : '';
    this.fields();
    return this.jobs;
  }

  // Open the form (with the jobs as they are now).
  async open() {
    this.error('');
    this.dialog.showModal();
    await this.loadJobs().catch((e) => this.error(e.message));
  }

  // The fields for the chosen sleep task or job.
  fields() {
    const name = $('select[name="what"]', this.dialog).value;
    const job = this.jobs.find((j) => j.name === name);
    const desc = job ? job.description : 'Sleeps, then succeeds; its cleanup takes cleanup_ms.';
    fill($('.kind-fields', this.dialog),
      h('p', { class: 'hint' }, desc ?? ''),
      job ? Object.entries(job.args).map(([n, spec]) => argField(n, spec))
        : [msField('duration_ms', 'Duration (ms)', { required: true, value: 30000 }),
          msField('cleanup_ms', 'Cleanup (ms)')]);
  }

  // The create body from the form.
  body() {
    const data = new FormData(this.form);
    const job = data.get('what');
    const body = job ? { kind: 'command', job, args: {} } : {};
    for (const [k, v] of data) {
      if (v === '' || k === 'what') continue;
      if (k.startsWith('arg.')) body.args[k.slice(4)] = v;
      else body[k] = k.endsWith('_ms') ? Number(v) : v;
    }
    return body;
  }

  // POST /v1/tasks; on 201 close and show the task, else say why.
  async submit() {
    this.error('');
    try {
      const t = await call('POST', '/v1/tasks', { body: this.body() });
      this.dialog.close();
      this.onCreated(t);
    } catch (e) {
      const errs = e instanceof ApiError ? e.problem?.errors ?? [] : [];
      this.error(e.message, errs.map((x) => `${x.pointer ?? ''}: ${x.detail ?? x.message ?? ''}`));
    }
  }

  // Show (or clear) an error under the form.
  error(msg, lines = []) {
    const box = $('.form-error', this.dialog);
    box.hidden = !msg;
    fill(box, msg, lines.length ? h('ul', null, lines.map((l) => h('li', null, l))) : null);
  }
}
