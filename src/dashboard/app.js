// The globus-timer dashboard (issue 16): the jobs page (`/`) with the run timeline, and a
// job's page (`/job/<id>`). Plain browser script, served by the daemon as it is: no build
// step, no CDN, no inline script (the page's CSP is default-src 'self'). Data from the
// daemon's JSON routes with the session cookie (same origin); live changes from its
// Server-Sent Events at /events. Everything from the daemon is put in the page as text
// (textContent), never as HTML.

(() => {
  const main = document.getElementById('main');
  const tip = document.getElementById('tip');
  const toast = document.getElementById('toast');
  const DAY = 24 * 3600_000;
  const ZOOMS = [
    ['1m', 60_000],
    ['15m', 15 * 60_000],
    ['1h', 3600_000],
    ['6h', 6 * 3600_000],
    ['1d', DAY],
    ['7d', 7 * DAY],
    ['30d', 30 * DAY],
    ['90d', 90 * DAY],
  ];

  // ---------------------------------------------------------------------------------------
  // Small helpers

  /** An element with attributes and children (strings become text nodes). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Number.POSITIVE_INFINITY)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    return el;
  }

  class SessionGone extends Error {}

  async function api(path, init = {}) {
    const res = await fetch(path, { credentials: 'same-origin', ...init, headers: { Accept: 'application/json', ...(init.headers ?? {}) } });
    if (res.status === 401) throw new SessionGone('session expired');
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error(body?.error?.detail ?? body?.detail ?? body?.message ?? `HTTP ${res.status}`);
    return body;
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? '' : 's'}`;
  }

  /** 3h 02m, 4m 05s, 12s, 350 ms. */
  function duration(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    const neg = ms < 0;
    let s = Math.abs(ms) / 1000;
    let text;
    if (s < 1) text = `${Math.round(Math.abs(ms))} ms`;
    else if (s < 60) text = `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
    else if (s < 3600) text = `${Math.floor(s / 60)}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
    else if (s < 86400) text = `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
    else {
      s = Math.floor(s / 3600);
      text = `${Math.floor(s / 24)}d ${s % 24}h`;
    }
    return neg ? `-${text}` : text;
  }

  function ago(iso) {
    if (!iso) return '—';
    const ms = Date.now() - Date.parse(iso);
    return ms < 5000 ? 'just now' : `${duration(ms).replace(/ \d+s$/, '')} ago`;
  }

  /** Local date and time, seconds only when they are not :00. */
  function when(iso, withDate = true) {
    if (!iso) return '—';
    const d = new Date(iso);
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: d.getSeconds() ? '2-digit' : undefined, hour12: false });
    if (!withDate) return time;
    const today = new Date().toDateString() === d.toDateString();
    return today ? time : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
  }

  const UNITS = [
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'min'],
    [1, 's'],
  ];

  function every(seconds) {
    for (const [size, unit] of UNITS) {
      if (seconds % size === 0) {
        const n = seconds / size;
        return unit === 's' || unit === 'min' ? `${n} ${unit}` : plural(n, unit);
      }
    }
    return `${seconds} s`;
  }

  /** The schedule in words: "every 1 day from 02:00", "cron 0 2 * * * (Europe/Berlin)", "once at …". */
  function scheduleWords(job) {
    const cron = job.cron ?? job.schedule?.cron ?? null;
    const tz = job.timezone ?? job.schedule?.timezone ?? null;
    const interval = job.interval ?? job.schedule?.interval_seconds ?? null;
    let text;
    if (job.schedule?.type === 'once') text = `once at ${when(job.schedule.datetime)}`;
    else if (cron) text = `cron ${cron}${tz ? ` (${tz})` : ''}`;
    // A daily (weekly…) job: the time of day is what matters; else the date too when it is not today.
    else if (interval) text = `every ${every(interval)} from ${when(job.start, interval % 86400 !== 0)}`;
    else text = '—';
    const stop = job.stop_after;
    if (stop?.n_runs && job.schedule?.type !== 'once') text += `, ${plural(stop.n_runs, 'run')}`;
    else if (stop?.date) text += `, until ${when(stop.date)}`;
    return text;
  }

  /**
   * Why a job is red: its last run that ended failed (`endedState`: a run in progress does not
   * turn it green, or it would blink with every retry), or it is inactive for a reason other
   * than the user's pause.
   */
  function failure(job, endedState) {
    if (endedState === 'failed') return 'last run failed';
    if (job.status === 'inactive' && job.inactive_reason && job.inactive_reason.cause !== 'user') return `inactive: ${job.inactive_reason.cause}`;
    return null;
  }

  function statusBadge(job, failed) {
    if (failed) return h('span', { class: 'badge fail' }, 'FAILED');
    // `scheduled`, not `active`: in the timeline `active` is a run in progress.
    const word = { loaded: 'scheduled', inactive: 'paused', ended: 'ended', finished: 'ended', deleted: 'deleted' }[job.status] ?? job.status;
    if (job.status === 'inactive' && job.inactive_reason?.cause !== 'user') return h('span', { class: 'badge warn' }, 'inactive');
    return h('span', { class: `badge ${word}` }, word);
  }

  function runBadge(state) {
    if (!state) return h('span', { class: 'muted' }, 'no runs yet');
    return h('span', { class: `run ${state}` }, state);
  }

  /** A live countdown: the 1 s ticker rewrites every [data-at]. */
  function countdown(iso, job) {
    if (!iso || (job && job.status !== 'loaded')) return h('span', { class: 'muted' }, '—');
    return h('span', { class: 'countdown', 'data-at': iso, title: new Date(iso).toLocaleString() }, countdownText(iso));
  }

  function countdownText(iso) {
    const ms = Date.parse(iso) - Date.now();
    return ms <= 500 ? 'due now' : ms < 1000 ? 'in <1s' : `in ${duration(ms)}`;
  }

  function showToast(text, bad = false) {
    toast.textContent = text;
    toast.className = bad ? 'toast bad' : 'toast';
    toast.hidden = false;
    clearTimeout(showToast.timer);
    showToast.timer = setTimeout(() => {
      toast.hidden = true;
    }, 4000);
  }

  function sessionGone() {
    main.replaceChildren(
      h(
        'section',
        { class: 'panel gone' },
        h('h2', {}, 'This dashboard session has ended'),
        h('p', {}, 'A session lasts 12 hours, and ends when the API token is rotated or the daemon restarts. Open the dashboard again with:'),
        h('pre', {}, h('code', {}, 'globus-timer dashboard')),
      ),
    );
  }

  function fail(err) {
    if (err instanceof SessionGone) sessionGone();
    else showToast(err.message, true);
  }

  // ---------------------------------------------------------------------------------------
  // The tooltip of a run mark

  function showTip(run, lane, e) {
    const dur = run.done === null ? Date.now() - run.fired : run.done - run.fired;
    tip.replaceChildren(
      h('div', { class: 'tip-head' }, h('strong', {}, lane.name), ' ', runBadge(run.state)),
      h(
        'dl',
        {},
        h('dt', {}, run.manual ? 'asked' : 'slot'),
        h('dd', {}, when(new Date(run.slot).toISOString())),
        h('dt', {}, 'late'),
        h('dd', {}, run.late === null ? 'manual run' : duration(run.late)),
        h('dt', {}, run.done === null ? 'running' : 'took'),
        h('dd', {}, duration(dur)),
      ),
      run.summary ? h('div', { class: 'tip-summary' }, run.summary) : null,
    );
    tip.hidden = false;
    const x = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y = e.clientY + 16 + tip.offsetHeight > window.innerHeight ? e.clientY - tip.offsetHeight - 10 : e.clientY + 16;
    tip.style.left = `${x}px`;
    tip.style.top = `${y}px`;
  }

  function hideTip() {
    tip.hidden = true;
  }

  function timelinePanel(title, onOpen, lanePx = 18) {
    const plotEl = h('div', { class: 'timeline', id: 'timeline' });
    const tl = window.createTimeline(plotEl, { onHover: showTip, onLeave: hideTip, onOpen, lanePx });
    const buttons = ZOOMS.map(([label, ms]) => h('button', { type: 'button', class: 'zoom', dataset: { ms: String(ms) }, onclick: () => zoom(ms) }, label));
    function zoom(ms) {
      tl.show(ms);
      for (const b of buttons) b.classList.toggle('on', Number(b.dataset.ms) === ms);
    }
    const legend = h(
      'div',
      { class: 'legend' },
      ['succeeded', 'failed', 'active', 'pending'].map((s) => h('span', { class: `key ${s}` }, s)),
    );
    const panel = h(
      'section',
      { class: 'panel timeline-panel' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', {}, title),
        legend,
        h('div', { class: 'zooms', role: 'group', 'aria-label': 'zoom' }, buttons),
        h('span', { class: 'hint' }, 'drag or wheel to zoom'),
      ),
      plotEl,
    );
    return { panel, tl, zoom };
  }

  /** The zoom that shows every run: the smallest button span that reaches back to the oldest (the newest 90 days at most). */
  function fittingZoom(runs) {
    const oldest = runs.reduce((m, r) => Math.min(m, r.slot), Date.now());
    const need = (Date.now() - oldest) * 1.08;
    return (ZOOMS.find(([, ms]) => ms >= need) ?? ZOOMS[ZOOMS.length - 1])[1];
  }

  /** A run event's run as the timeline keeps it (dashboard-routes.ts TimelineRun). */
  function timelineRunOfEvent(e) {
    return timelineRun(e.run, e.job_id, e.run_id);
  }

  /** A run (a job history entry) as the timeline keeps it, under `id`. */
  function timelineRun(r, jobId, id) {
    return {
      id,
      job: jobId,
      slot: Date.parse(r.slot),
      fired: Date.parse(r.ran_at),
      done: r.completed_at ? Date.parse(r.completed_at) : null,
      state: r.run_state,
      manual: r.manual,
      late: r.lateness_ms,
      summary: r.summary,
    };
  }

  // ---------------------------------------------------------------------------------------
  // The jobs page

  async function jobsPage() {
    document.getElementById('crumbs').replaceChildren();
    const tbody = h('tbody', {});
    const table = h(
      'table',
      { class: 'jobs', id: 'jobs' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { class: 'band' }),
          h('th', {}, 'Status'),
          h('th', {}, 'Name'),
          h('th', {}, 'Schedule'),
          h('th', {}, 'Last result'),
          h('th', {}, 'Next run'),
          h('th', { class: 'num' }, 'Runs'),
          h('th', { class: 'num' }, 'Errors'),
        ),
      ),
      tbody,
    );
    const jobsPanel = h('section', { class: 'panel' }, table);
    const { panel, tl, zoom } = timelinePanel('Run timeline', (id) => {
      location.href = `/job/${id}`;
    });
    main.replaceChildren(jobsPanel, panel);

    let jobs = [];
    /** Each job's newest ended run (`at`: when it ended): a list document carries only the newest run, which may be in progress. */
    const lastEnded = new Map();
    const noteEnded = (jobId, at, state) => {
      if (!(lastEnded.get(jobId)?.at > at)) lastEnded.set(jobId, { at, state });
    };
    const endedState = (job, last) => {
      if (last?.completed_at) noteEnded(job.job_id, Date.parse(last.completed_at), last.run_state);
      return lastEnded.get(job.job_id)?.state;
    };
    async function loadJobs() {
      const body = await api('/dashboard/api/jobs');
      jobs = body.jobs
        .map((job) => ({ job, last: job.results?.data?.[0] ?? null }))
        .map((x) => ({ ...x, failed: failure(x.job, endedState(x.job, x.last)) }))
        // Failed first: the eye lands on them; then by name.
        .sort((a, b) => (a.failed ? 0 : 1) - (b.failed ? 0 : 1) || a.job.name.localeCompare(b.job.name));
      renderJobs();
    }

    function renderJobs() {
      tbody.replaceChildren(
        ...jobs.map(({ job, last, failed }) =>
          h(
            'tr',
            { class: failed ? 'failed' : '', dataset: { jobId: job.job_id }, onclick: () => (location.href = `/job/${job.job_id}`) },
            h('td', { class: 'band' }),
            h('td', {}, statusBadge(job, failed)),
            h('td', { class: 'name' }, h('a', { href: `/job/${job.job_id}`, title: job.job_id }, job.name || job.job_id.slice(0, 8))),
            h('td', { class: 'schedule' }, scheduleWords(job)),
            h(
              'td',
              {},
              last
                ? [runBadge(last.run_status), ' ', h('span', { class: 'muted', title: last.ran_at }, ago(last.end_timestamp ?? last.ran_at))]
                : runBadge(null),
            ),
            h('td', {}, countdown(job.next_run, { status: job.status === 'loaded' ? 'loaded' : 'x' })),
            h('td', { class: 'num' }, String(job.n_runs)),
            h('td', { class: `num ${job.n_errors > 0 ? 'errors' : 'muted'}` }, String(job.n_errors)),
          ),
        ),
      );
      if (jobs.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No jobs yet. Submit one with: globus-timer job submit …')));
      const failedCount = jobs.filter((j) => j.failed).length;
      const scheduled = jobs.filter((j) => j.job.status === 'loaded').length;
      document
        .getElementById('counts')
        .replaceChildren(
          h('span', { class: 'count' }, plural(jobs.length, 'job')),
          h('span', { class: 'count' }, `${scheduled} scheduled`),
          h('span', { class: `count ${failedCount > 0 ? 'failed' : 'ok'}`, id: 'failed-count' }, failedCount > 0 ? `${failedCount} failed` : 'no failures'),
        );
      document.title = failedCount > 0 ? `(${failedCount} failed) globus-timer` : 'globus-timer';
      tl.setLanes(jobs.map(({ job, failed }) => ({ id: job.job_id, name: job.name || job.job_id.slice(0, 8), failed: Boolean(failed) })));
    }

    const { runs } = await api(`/dashboard/api/runs?since=${Date.now() - 90 * DAY}`);
    for (const r of runs) if (r.done !== null) noteEnded(r.job, r.done, r.state);
    await loadJobs();
    tl.setRuns(runs);
    zoom(fittingZoom(runs));
    window.dashboard = { timeline: tl, page: 'jobs' };

    const reload = throttle(() => loadJobs().catch(fail), 1000);
    return {
      onEvents(events) {
        const runEvents = events.filter((e) => e.type === 'run');
        for (const e of runEvents) if (e.run.completed_at) noteEnded(e.job_id, Date.parse(e.run.completed_at), e.run.run_state);
        tl.upsert(runEvents.map(timelineRunOfEvent));
        reload();
      },
      tick: () => tl.tick(),
      reload: async () => {
        await loadJobs();
        tl.setRuns((await api(`/dashboard/api/runs?since=${Date.now() - 90 * DAY}`)).runs);
      },
    };
  }

  // ---------------------------------------------------------------------------------------
  // One job's page

  async function jobPage(jobId) {
    const head = h('section', { class: 'panel job-head' });
    const settings = h('section', { class: 'panel settings' });
    const { panel, tl, zoom } = timelinePanel('Runs', () => {}, 44);
    const runsBody = h('tbody', {});
    const runsPanel = h(
      'section',
      { class: 'panel runs-panel' },
      h('div', { class: 'panel-head' }, h('h2', {}, 'Runs, newest first')),
      h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          { class: 'runs', id: 'runs' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'Slot'),
              h('th', {}, 'Fired'),
              h('th', { class: 'num' }, 'Late'),
              h('th', {}, 'Status'),
              h('th', { class: 'num' }, 'Took'),
              h('th', {}, 'Summary'),
            ),
          ),
          runsBody,
        ),
      ),
    );
    main.replaceChildren(head, h('div', { class: 'two' }, settings, runsPanel), panel);
    let first = true;

    async function load() {
      const { job, runs } = await api(`/dashboard/api/jobs/${encodeURIComponent(jobId)}`);
      const failed = failure(job, runs.find((r) => r.completed_at)?.run_state);
      document.title = `${job.name} · globus-timer`;
      document.getElementById('crumbs').replaceChildren(h('a', { href: '/' }, 'Jobs'), h('span', { class: 'sep' }, '›'), h('span', {}, job.name));
      document.getElementById('counts').replaceChildren();
      const busy = (btn, fn) => async () => {
        btn.disabled = true;
        try {
          await fn();
        } catch (err) {
          fail(err);
        } finally {
          btn.disabled = false;
          load().catch(fail);
        }
      };
      const post = (what) => api(`/jobs/${job.job_id}/${what}`, { method: 'POST' });
      const pause = h('button', { type: 'button', class: 'act', id: 'pause', disabled: job.status !== 'loaded' }, 'Pause');
      const resume = h('button', { type: 'button', class: 'act', id: 'resume', disabled: job.status !== 'inactive' }, 'Resume');
      const runNow = h('button', { type: 'button', class: 'act primary', id: 'run-now', disabled: job.status === 'deleted' }, 'Run now');
      pause.addEventListener(
        'click',
        busy(pause, async () => showToast((await post('pause')).message)),
      );
      resume.addEventListener(
        'click',
        busy(resume, async () => showToast((await post('resume')).message)),
      );
      runNow.addEventListener(
        'click',
        busy(runNow, async () => showToast((await post('run')).message)),
      );
      head.className = `panel job-head${failed ? ' failed' : ''}`;
      head.replaceChildren(
        h('div', { class: 'title' }, h('h1', {}, job.name || job.job_id), statusBadge(job, failed), failed ? h('span', { class: 'why' }, failed) : null),
        h('div', { class: 'actions' }, pause, resume, runNow),
      );
      const reason = job.inactive_reason
        ? `${job.inactive_reason.cause}${job.inactive_reason.detail ? `: ${typeof job.inactive_reason.detail === 'string' ? job.inactive_reason.detail : JSON.stringify(job.inactive_reason.detail)}` : ''}`
        : null;
      const rows = [
        ['Schedule', scheduleWords(job)],
        ['Next run', countdown(job.next_run, job)],
        ['Last ran', job.last_ran_at ? `${when(job.last_ran_at)} (${ago(job.last_ran_at)})` : '—'],
        ['Runs', `${job.n_runs} (${job.n_errors} failed)`],
        ['Skipped', `${job.skipped_slots.missed} missed, ${job.skipped_slots.overlap} overlapping`],
        ['Policy', `overlap ${job.policy.overlap}, misfire ${job.policy.misfire}`],
        ['Inactive', reason],
        ['Action URL', job.callback_url],
        ['Scope', job.scope],
        // The daemon sends whether a command is set, never the command (it may hold a secret).
        [
          'On failure',
          job.on_failure ? `${job.on_failure.command_set ? 'a command is set' : 'no command'}; notify ${job.on_failure.notify ? 'on' : 'off'}` : null,
        ],
        ['Started', when(job.start)],
        ['Job id', h('code', {}, job.job_id)],
      ].filter(([, v]) => v !== null && v !== undefined);
      settings.replaceChildren(
        h('div', { class: 'panel-head' }, h('h2', {}, 'Settings')),
        h(
          'dl',
          { class: 'kv' },
          rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
        ),
      );
      runsBody.replaceChildren(
        ...runs.map((r) =>
          h(
            'tr',
            { class: r.run_state === 'failed' ? 'failed' : '' },
            h('td', {}, r.manual ? h('span', { class: 'muted' }, 'manual') : when(r.slot)),
            h('td', {}, when(r.ran_at)),
            h('td', { class: 'num' }, r.lateness_ms === null ? '—' : duration(r.lateness_ms)),
            h('td', {}, runBadge(r.run_state)),
            h('td', { class: 'num' }, r.completed_at ? duration(Date.parse(r.completed_at) - Date.parse(r.ran_at)) : '…'),
            h('td', { class: 'summary', title: r.summary }, r.summary),
          ),
        ),
      );
      if (runs.length === 0) runsBody.append(h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No runs yet.')));
      tl.setLanes([{ id: job.job_id, name: job.name || job.job_id.slice(0, 8), failed: Boolean(failed) }]);
      const marks = runs.map((r) => timelineRun(r, job.job_id, r.run_id ?? r.request_id));
      tl.setRuns(marks);
      if (first) {
        first = false;
        zoom(fittingZoom(marks));
      }
    }

    await load();
    window.dashboard = { timeline: tl, page: 'job' };
    const reload = throttle(() => load().catch(fail), 1000);
    return {
      onEvents(events) {
        if (events.some((e) => e.job_id === jobId)) reload();
      },
      tick: () => tl.tick(),
      reload: load,
    };
  }

  /**
   * `fn` at most once per `ms`, and at least once per `ms` while calls keep coming: the hub
   * publishes every 50 ms on a busy daemon, so a debounce would never fire. A call in the
   * quiet after a run is made at the end of the `ms` (the last change is always shown).
   */
  function throttle(fn, ms) {
    let last = 0;
    let timer = null;
    return () => {
      if (timer !== null) return;
      const wait = Math.max(0, last + ms - Date.now());
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, wait);
    };
  }

  // ---------------------------------------------------------------------------------------
  // Live: the event stream, the clock

  function live(page) {
    const dot = document.getElementById('live');
    const text = document.getElementById('live-text');
    let es = null;
    /** After a refused stream (503: too many open) the browser gives up for good: we start a new one, 2 s doubling to 30 s. */
    let backoffMs = 2000;
    let retry = null;
    function connect() {
      retry = null;
      es = new EventSource('/events');
      es.onopen = () => {
        backoffMs = 2000;
        dot.className = 'live on';
        text.textContent = 'live';
        // Whatever happened while the stream was down.
        page.reload().catch(fail);
      };
      es.onmessage = (m) => {
        try {
          page.onEvents(JSON.parse(m.data));
        } catch (err) {
          console.error(err);
        }
      };
      es.onerror = async () => {
        dot.className = 'live off';
        text.textContent = 'reconnecting…';
        // A stream refused for the session (token rotated, expired): stop, and say so.
        try {
          await api('/dashboard/api/session');
        } catch (err) {
          if (err instanceof SessionGone) {
            es.close();
            clearTimeout(retry);
            text.textContent = 'signed out';
            sessionGone();
            return;
          }
        }
        // A closed one (not a 200) is not retried by the browser: a new EventSource is.
        if (es.readyState === EventSource.CLOSED && retry === null) {
          retry = setTimeout(connect, backoffMs);
          backoffMs = Math.min(backoffMs * 2, 30_000);
        }
      };
    }
    connect();
    setInterval(() => {
      for (const el of document.querySelectorAll('[data-at]')) el.textContent = countdownText(el.dataset.at);
    }, 1000);
    setInterval(() => page.tick(), 5000);
  }

  async function start() {
    const m = /^\/job\/([0-9a-f-]{36})$/i.exec(location.pathname);
    try {
      const page = m ? await jobPage(m[1].toLowerCase()) : await jobsPage();
      document.body.dataset.ready = 'true';
      live(page);
    } catch (err) {
      fail(err);
    }
  }

  start();
})();
