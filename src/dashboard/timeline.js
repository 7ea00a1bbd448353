// The run timeline (issue 16 item 3), drawn with uPlot: one lane per job, a mark per run at
// its slot, coloured by its state, as long as it ran (fired → completed; a run in progress
// grows to now), a few pixels at least. uPlot gives the time axis, the canvas, drag-to-zoom
// and the coordinates; the marks are drawn in its draw hook. Plain browser script (no
// build step): the daemon serves this file as it is.

(() => {
  // Buttons go from 1 hour to 90 days; wheel and drag down to a minute, for a job that runs every few seconds.
  const MIN_SPAN_MS = 60_000;
  const MAX_SPAN_MS = 90 * 24 * 3600_000;
  const AXIS_PX = 30;
  /** uPlot's own room above the plot and below its axis. */
  const PAD_PX = 18;
  const LABEL_PX = 150;
  const MIN_MARK_PX = 4;

  function cssVar(el, name) {
    return getComputedStyle(el).getPropertyValue(name).trim();
  }

  function clip(text, n) {
    return text.length > n ? `${text.slice(0, n - 1)}…` : text;
  }

  /**
   * `el`: the container. `onHover(run, lane, event)` / `onLeave()`: the tooltip is the page's.
   * `onOpen(jobId)`: a click on a lane.
   */
  function createTimeline(el, { onHover, onLeave, onOpen, lanePx = 24 }) {
    let lanes = []; // [{ id, name, failed }]
    let laneOf = new Map();
    const runs = new Map(); // id → run
    let view = { min: Date.now() - 3600_000, max: Date.now() + 180_000 };
    let follow = true;
    let span = 3600_000;
    let plot = null;

    const colors = () => ({
      succeeded: cssVar(el, '--ok'),
      failed: cssVar(el, '--fail'),
      active: cssVar(el, '--active'),
      pending: cssVar(el, '--pending'),
      axis: cssVar(el, '--muted'),
      grid: cssVar(el, '--grid'),
      now: cssVar(el, '--now'),
      band: cssVar(el, '--fail-soft'),
    });

    const height = () => Math.max(lanes.length, 1) * lanePx + AXIS_PX + PAD_PX;
    /** Lane i (0 at the top) spans y in [n-1-i, n-i]. */
    const laneY = (i) => lanes.length - 1 - i;

    function markBox(u, run, i, dpr) {
      const end = run.done ?? Date.now();
      const x0 = u.valToPos(run.slot, 'x', true);
      const x1 = u.valToPos(run.slot + Math.max(0, end - run.fired), 'x', true);
      const y0 = u.valToPos(laneY(i) + 0.82, 'y', true);
      const y1 = u.valToPos(laneY(i) + 0.18, 'y', true);
      return { x: x0, y: y0, w: Math.max(x1 - x0, MIN_MARK_PX * dpr), h: y1 - y0 };
    }

    function draw(u) {
      const c = colors();
      const ctx = u.ctx;
      const dpr = uPlot.pxRatio;
      const { left, top, width, height: h } = u.bbox;
      ctx.save();
      ctx.beginPath();
      ctx.rect(left, top, width, h);
      ctx.clip();
      // A failed job's lane is tinted red across the whole width: seen before any mark is.
      lanes.forEach((lane, i) => {
        const y0 = u.valToPos(laneY(i) + 1, 'y', true);
        const y1 = u.valToPos(laneY(i), 'y', true);
        if (lane.failed) {
          ctx.fillStyle = c.band;
          ctx.fillRect(left, y0, width, y1 - y0);
        }
        ctx.fillStyle = c.grid;
        ctx.fillRect(left, y1 - dpr, width, dpr);
      });
      const { min, max } = u.scales.x;
      for (const run of runs.values()) {
        const i = laneOf.get(run.job);
        if (i === undefined) continue;
        const end = run.slot + Math.max(0, (run.done ?? Date.now()) - run.fired);
        if (end < min || run.slot > max) continue;
        const b = markBox(u, run, i, dpr);
        ctx.fillStyle = c[run.state] ?? c.pending;
        ctx.fillRect(b.x, b.y, b.w, b.h);
      }
      const nowX = u.valToPos(Date.now(), 'x', true);
      ctx.fillStyle = c.now;
      ctx.fillRect(nowX - dpr / 2, top, dpr * 1.5, h);
      ctx.restore();
    }

    function runAt(u, cssX, cssY) {
      const i = lanes.length - 1 - Math.floor(u.posToVal(cssY, 'y'));
      const lane = lanes[i];
      if (!lane) return { lane: null, run: null };
      let best = null;
      for (const run of runs.values()) {
        if (run.job !== lane.id) continue;
        // CSS px of the plotting area, as the mouse event's offsetX.
        const x0 = u.valToPos(run.slot, 'x');
        const x1 = u.valToPos(run.slot + Math.max(0, (run.done ?? Date.now()) - run.fired), 'x');
        if (cssX >= x0 - 2 && cssX <= x0 + Math.max(x1 - x0, MIN_MARK_PX) + 2 && (!best || run.slot > best.slot)) best = run;
      }
      return { lane, run: best };
    }

    function build() {
      const c = colors();
      plot?.destroy();
      el.textContent = '';
      const opts = {
        width: Math.max(el.clientWidth, 300),
        height: height(),
        ms: 1,
        legend: { show: false },
        cursor: { y: false, points: { show: false }, drag: { x: true, y: false, setScale: false } },
        select: { show: true },
        scales: { x: { time: true, auto: false }, y: { auto: false, range: () => [0, Math.max(lanes.length, 1)] } },
        axes: [
          { stroke: c.axis, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 }, size: AXIS_PX, font: '12px system-ui, sans-serif' },
          {
            stroke: c.axis,
            size: LABEL_PX,
            gap: 8,
            font: '12px system-ui, sans-serif',
            splits: () => lanes.map((_, i) => laneY(i) + 0.5),
            values: (_u, splits) => splits.map((v) => clip(lanes[lanes.length - 1 - Math.floor(v)]?.name ?? '', 20)),
            grid: { show: false },
            ticks: { show: false },
          },
        ],
        series: [{}, { stroke: 'transparent', points: { show: false } }],
        hooks: {
          draw: [draw],
          setSelect: [
            (u) => {
              if (u.select.width < 4) return;
              const min = u.posToVal(u.select.left, 'x');
              const max = u.posToVal(u.select.left + u.select.width, 'x');
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              follow = false;
              setView(min, max);
            },
          ],
        },
      };
      plot = new uPlot(
        opts,
        [
          [view.min, view.max],
          [null, null],
        ],
        el,
      );
      plot.setScale('x', view);
      plot.over.addEventListener('mousemove', (e) => {
        const { lane, run } = runAt(plot, e.offsetX, e.offsetY);
        if (run) onHover(run, lane, e);
        else onLeave();
        plot.over.style.cursor = lane ? 'pointer' : '';
      });
      plot.over.addEventListener('mouseleave', onLeave);
      plot.over.addEventListener('click', (e) => {
        if (plot.select.width > 0) return;
        const { lane } = runAt(plot, e.offsetX, e.offsetY);
        if (lane) onOpen(lane.id);
      });
      plot.over.addEventListener(
        'wheel',
        (e) => {
          e.preventDefault();
          const at = plot.posToVal(e.offsetX, 'x');
          const f = e.deltaY > 0 ? 1.25 : 0.8;
          follow = false;
          setView(at - (at - plot.scales.x.min) * f, at + (plot.scales.x.max - at) * f);
        },
        { passive: false },
      );
      el.dataset.marks = String(countMarks());
    }

    function setView(min, max) {
      let s = Math.min(Math.max(max - min, MIN_SPAN_MS), MAX_SPAN_MS);
      const mid = (min + max) / 2;
      span = s;
      view = { min: mid - s / 2, max: mid + s / 2 };
      if (follow) {
        s = span;
        view = { min: Date.now() - s * 0.94, max: Date.now() + s * 0.06 };
      }
      plot?.setScale('x', view);
      el.dataset.span = String(Math.round(span));
    }

    function countMarks() {
      let n = 0;
      for (const run of runs.values()) if (laneOf.has(run.job)) n++;
      return n;
    }

    function changed() {
      el.dataset.marks = String(countMarks());
      plot?.redraw(false, false);
    }

    /** Runs older than the widest zoom can show are dropped: a tab left open for weeks keeps a bounded map. */
    function prune() {
      const oldest = Date.now() - MAX_SPAN_MS;
      for (const [id, run] of runs) if (run.slot < oldest) runs.delete(id);
    }

    // Events come in batches every 50 ms on a busy daemon: the canvas is redrawn once per frame, not per run.
    let frame = null;
    function changedSoon() {
      if (frame !== null) return;
      frame = requestAnimationFrame(() => {
        frame = null;
        prune();
        changed();
      });
    }

    let built = false;
    window.addEventListener('resize', () => plot?.setSize({ width: Math.max(el.clientWidth, 300), height: height() }));
    // Rebuilt on a scheme change: the axes' colours are options, not CSS.
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => built && build());

    return {
      setLanes(next) {
        const same = next.length === lanes.length && next.every((l, i) => l.id === lanes[i].id && l.name === lanes[i].name);
        lanes = next;
        laneOf = new Map(next.map((l, i) => [l.id, i]));
        if (!built) {
          built = true;
          build();
        } else if (!same) {
          plot.setSize({ width: Math.max(el.clientWidth, 300), height: height() });
          plot.redraw(false, true);
        }
        changed();
      },
      setRuns(list) {
        runs.clear();
        for (const r of list) runs.set(r.id, r);
        prune();
        changed();
      },
      /** A batch of new or changed runs: drawn on the next frame. */
      upsert(list) {
        for (const run of list) runs.set(run.id, run);
        if (list.length > 0) changedSoon();
      },
      /** Zoom to the last `ms` and follow now. */
      show(ms) {
        follow = true;
        setView(Date.now() - ms, Date.now());
      },
      /** Moves the window with the clock while following; redraws runs in progress. */
      tick() {
        if (follow) setView(0, span);
        else plot?.redraw(false, false);
      },
      /** `job|slot` of each run with a lane: what a test compares with `job history`. */
      keys: () => [...runs.values()].filter((r) => laneOf.has(r.job)).map((r) => `${r.job}|${r.slot}`),
      span: () => span,
      /** Where the mark of run `key` (`job|slot`) is on the page, in CSS px: for a test's mouse. */
      point(key) {
        const run = [...runs.values()].find((r) => `${r.job}|${r.slot}` === key);
        const i = run && laneOf.get(run.job);
        if (!plot || i === undefined) return null;
        const box = plot.over.getBoundingClientRect();
        return { x: box.left + plot.valToPos(run.slot, 'x') + 1, y: box.top + plot.valToPos(laneY(i) + 0.5, 'y') };
      },
    };
  }

  window.createTimeline = createTimeline;
})();
