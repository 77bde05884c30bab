// apps/report/report.js: draws mpimr-report's page from the JSON embedded in it.
//
// The page carries three <script type="application/json"> blocks: report-data-source
// (which files the report was made from), report-data-stats (a job's --stats) and
// report-data-trace (its --trace timeline, or null). Every chart is inline SVG built
// here; nothing is fetched. Each section is drawn on its own, so one that fails
// leaves the others standing. At the end <body data-rendered> is "ok", or
// "error" with the causes in #report-error (an uncaught error does the same).
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";

  // Colours of the job's own kinds of span, and the lane group each is drawn in.
  // "work" is what the rank's thread did; "rounds" the shuffle rounds in flight.
  const SPAN_KINDS = {
    "map slice": { group: "work", color: "#4e79a7" },
    "send wait": { group: "work", color: "#e15759" },
    "shuffle tail": { group: "work", color: "#bab0ac" },
    "reduce": { group: "work", color: "#59a14f" },
    "output": { group: "work", color: "#edc948" },
    "round header": { group: "rounds", color: "#b07aa1" },
    "round data": { group: "rounds", color: "#f28e2b" },
    "fold round": { group: "rounds", color: "#76b7b2" },
  };
  const GROUP_ORDER = ["work", "rounds", "named"];
  // Named spans and ranks' memory lines take colours from this list in turn.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"];

  const errors = [];

  // Shows `text` in #report-error and marks the page as failed.
  function reportError(text) {
    errors.push(text);
    const box = document.getElementById("report-error");
    if (box) {
      box.hidden = false;
      box.textContent = errors.join("\n");
    }
    document.body.dataset.rendered = "error";
  }

  window.onerror = function (message, source, line, column, error) {
    reportError("script error: " + (error && error.message ? error.message : message) +
      (line ? " (line " + line + ")" : ""));
    return false;
  };

  // ---- Building elements -------------------------------------------------

  // An HTML element with attributes (or properties for "text"/"className") and children.
  function html(tag, attributes, children) {
    const node = document.createElement(tag);
    setAttributes(node, attributes);
    appendAll(node, children);
    return node;
  }

  // An SVG element likewise; a "title" attribute becomes a <title> child (the hover text).
  function svg(tag, attributes, children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttributes(node, attributes);
    appendAll(node, children);
    return node;
  }

  function setAttributes(node, attributes) {
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "title" && node.namespaceURI === SVG_NS) {
        const title = document.createElementNS(SVG_NS, "title");
        title.textContent = String(value);
        node.appendChild(title);
      } else node.setAttribute(name, String(value));
    }
  }

  function appendAll(node, children) {
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }

  // Replaces a container's content with a note that its data is missing.
  function showMissing(container, id, text) {
    container.replaceChildren(html("p", { class: "missing", id: id, text: text }));
  }

  // ---- Numbers -----------------------------------------------------------

  // A finite number, or null for anything else (absent, a string, null).
  function numberOrNull(value) {
    return typeof value === "number" && Number.isFinite(value) ? value : null;
  }

  // The largest and smallest of `f` over a list (spreading a long list into Math.max would overflow the stack).
  function largest(list, f) {
    let best = -Infinity;
    for (const item of list) best = Math.max(best, f(item));
    return best;
  }

  function smallest(list, f) {
    let best = Infinity;
    for (const item of list) best = Math.min(best, f(item));
    return best;
  }

  const itself = (value) => value;

  // Decimal units, as the job's summary line prints them (1 MB = 10^6 bytes).
  function formatBytes(bytes) {
    if (bytes === null) return "–";
    const units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let value = bytes, unit = 0;
    while (Math.abs(value) >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit++;
    }
    return unit === 0 ? value.toFixed(0) + " B" : value.toFixed(value >= 100 ? 0 : 1) + " " + units[unit];
  }

  function formatCount(count) {
    if (count === null) return "–";
    return Number.isInteger(count) ? count.toLocaleString("en-US") : count.toPrecision(4);
  }

  function formatSeconds(seconds) {
    if (seconds === null) return "–";
    if (seconds !== 0 && Math.abs(seconds) < 1) return (seconds * 1000).toPrecision(3) + " ms";
    return seconds.toFixed(3) + " s";
  }

  // A time axis's label: one unit and one number of decimals for the whole axis, from its step.
  function formatTick(seconds, step, end) {
    const milliseconds = end < 1;
    const value = milliseconds ? seconds * 1000 : seconds;
    const unitStep = milliseconds ? step * 1000 : step;
    const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(unitStep) + 1e-9)));
    return value.toFixed(decimals) + (milliseconds ? " ms" : " s");
  }

  function formatRatio(ratio) {
    return ratio === null ? "–" : ratio.toFixed(2) + "×";
  }

  // Round numbers from 0 to at least `max`, about `count` of them: steps of 1, 2 or 5 times a power of ten.
  function niceTicks(max, count) {
    if (!(max > 0)) return [0, 1];
    const rough = max / count;
    const power = Math.pow(10, Math.floor(Math.log10(rough)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) || 10 * power;
    const ticks = [];
    for (let tick = 0; tick < max + step / 2; tick += step) ticks.push(Number(tick.toPrecision(12)));
    if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
    return ticks;
  }

  // The width to draw a chart in: its container's, within reason.
  function chartWidth(container) {
    return Math.max(480, Math.min(4000, container.clientWidth || 960));
  }

  // ---- Reading the data --------------------------------------------------

  function readJsonBlock(id) {
    const block = document.getElementById(id);
    if (!block) throw new Error("the page has no #" + id + " data block");
    return JSON.parse(block.textContent);
  }

  // The stats' per-rank figures with the questions the page asks of them.
  function readStats(stats) {
    const ranks = Array.isArray(stats.ranks) ? stats.ranks.filter((r) => r && typeof r === "object") : [];
    const count = numberOrNull(stats.nranks) !== null ? stats.nranks : ranks.length;
    const values = (key) => ranks.map((r) => numberOrNull(r[key]));
    const present = (key) => values(key).some((v) => v !== null);
    const sum = (key) => present(key) ? values(key).reduce((a, v) => a + (v || 0), 0) : null;
    const max = (key) => present(key) ? largest(values(key).filter((v) => v !== null), itself) : null;
    const min = (key) => present(key) ? smallest(values(key).filter((v) => v !== null), itself) : null;
    return { raw: stats, ranks, count, values, present, sum, max, min };
  }

  // Spans, memory samples and track names from trace-event JSON (an object with traceEvents, or an array).
  function readTrace(trace) {
    const events = Array.isArray(trace) ? trace : trace && Array.isArray(trace.traceEvents) ? trace.traceEvents : [];
    const spans = [], memory = [], trackNames = new Map();
    let label = null, ranks = 0;
    for (const e of events) {
      if (!e || typeof e !== "object") continue;
      const rank = Number.isInteger(e.tid) && e.tid >= 0 ? e.tid : 0;
      const ts = numberOrNull(e.ts);
      if (e.ph === "X" && ts !== null) {
        const duration = Math.max(0, numberOrNull(e.dur) || 0);
        const args = e.args && typeof e.args === "object" ? e.args : {};
        spans.push({
          rank, name: String(e.name), start: ts / 1e6, end: (ts + duration) / 1e6,
          round: numberOrNull(args.round), bytes: numberOrNull(args.bytes),
        });
        ranks = Math.max(ranks, rank + 1);
      } else if (e.ph === "C" && e.name === "memory" && ts !== null && e.args &&
        numberOrNull(e.args.bytes) !== null) {
        memory.push({ rank, time: ts / 1e6, bytes: e.args.bytes });
        ranks = Math.max(ranks, rank + 1);
      } else if (e.ph === "M" && e.args && typeof e.args.name === "string") {
        if (e.name === "thread_name") {
          trackNames.set(rank, e.args.name);
          ranks = Math.max(ranks, rank + 1);
        } else if (e.name === "process_name") label = e.args.name;
      }
    }
    let end = 0;
    for (const s of spans) end = Math.max(end, s.end);
    for (const m of memory) end = Math.max(end, m.time);
    return { spans, memory, trackNames, label, ranks, end };
  }

  // ---- The header ----------------------------------------------------------

  // One figure of the header; the detail line is left out where the figure itself is unknown ("–").
  function figure(label, value, detail) {
    return html("div", { class: "figure" }, [
      html("dt", { text: label }),
      html("dd", { text: value }),
      detail && value !== "–" ? html("dd", { class: "detail", text: detail }) : null,
    ]);
  }

  function drawHeader(source, job, timeline) {
    const title = timeline && timeline.label && timeline.label !== "mpimr job" ? timeline.label : null;
    document.getElementById("report-title").textContent = "mpimr job report" + (title ? ": " + title : "");
    document.title = "mpimr report: " + (title || source.stats_file);
    document.getElementById("report-source").textContent = "From " + source.stats_file +
      (source.trace_file ? " and " + source.trace_file : " (no timeline given)") + ".";
    document.getElementById("report-footer").textContent = "Written by " + source.generator + ".";

    const time = job.max("time_total");
    const input = job.sum("input_bytes");
    const figures = [
      figure("Ranks", formatCount(job.count)),
      figure("Total time", formatSeconds(time), job.present("time_map") ?
        "map up to " + formatSeconds(job.max("time_map")) + ", reduce up to " + formatSeconds(job.max("time_reduce")) : null),
      figure("Input", formatBytes(input), [
        job.present("input_records") ? formatCount(job.sum("input_records")) + " records" : null,
        input !== null && time > 0 ? formatBytes(input / time) + "/s" : null,
      ].filter(Boolean).join(", ") || null),
      figure("Output", formatBytes(job.sum("bytes_output")),
        job.present("pairs_output") ? formatCount(job.sum("pairs_output")) + " pairs" : null),
      figure("Pairs emitted", formatCount(job.sum("pairs_emitted")),
        job.present("pairs_sent") ? formatCount(job.sum("pairs_sent")) + " sent (" + formatBytes(job.sum("bytes_sent")) + ")" : null),
      figure("Shuffle rounds", formatCount(job.max("rounds")), "the most on one rank"),
      figure("Peak RSS", formatBytes(job.max("peak_rss_bytes")), "the largest rank"),
    ];
    const spilled = job.sum("spill_bytes");
    if (spilled) figures.push(figure("Spilled", formatBytes(spilled), formatCount(job.sum("spill_runs")) + " runs"));
    const bad = job.sum("bad_records");
    if (bad !== null) figures.push(figure("Bad records skipped", formatCount(bad)));
    document.getElementById("job-figures").replaceChildren(...figures);

    const warning = skewWarning(job);
    if (warning) {
      const box = document.getElementById("skew-warning");
      box.textContent = warning;
      box.hidden = false;
    }
  }

  // The stats' warning about an uneven reduce side, or one made from "skewed": true; null if none.
  function skewWarning(job) {
    const load = job.raw.reduce_load;
    if (!load || typeof load !== "object") return null;
    if (typeof load.warning === "string" && load.warning) return load.warning;
    if (load.skewed !== true) return null;
    const busiest = job.ranks.find((r) => r.rank === load.busiest_rank);
    const ratio = numberOrNull(load.pairs_max_over_mean);
    let text = "Reduce skew: rank " + load.busiest_rank + " received " +
      (ratio !== null ? formatRatio(ratio) + " the mean number of pairs" : "far more pairs than the mean") +
      " (more than 2× is flagged).";
    if (busiest && typeof busiest.heaviest_key === "string" && numberOrNull(busiest.heaviest_key_pairs) !== null)
      text += " Its heaviest key, \u201c" + busiest.heaviest_key + "\u201d, has " + formatCount(busiest.heaviest_key_pairs) + " pairs.";
    return text;
  }

  // ---- The timeline ----------------------------------------------------------

  function kindOf(name) {
    return SPAN_KINDS[name] || { group: "named", color: null };
  }

  // Merges the spans of one rank and name that lie closer than `tolerance` seconds.
  function coalesce(spans, tolerance) {
    const byTrack = new Map();
    for (const s of spans) {
      const key = s.rank + "\u0000" + s.name;
      if (!byTrack.has(key)) byTrack.set(key, []);
      byTrack.get(key).push(s);
    }
    const merged = [];
    for (const list of byTrack.values()) {
      list.sort((a, b) => a.start - b.start);
      let current = null;
      for (const s of list) {
        if (current && s.start <= current.end + tolerance) {
          current.end = Math.max(current.end, s.end);
          current.count++;
          current.busy += s.end - s.start;
          if (s.bytes !== null) current.bytes = (current.bytes || 0) + s.bytes;
          if (s.round !== null) {
            current.firstRound = Math.min(current.firstRound ?? s.round, s.round);
            current.lastRound = Math.max(current.lastRound ?? s.round, s.round);
          }
        } else {
          current = {
            rank: s.rank, name: s.name, start: s.start, end: s.end, count: 1, busy: s.end - s.start,
            bytes: s.bytes, firstRound: s.round, lastRound: s.round,
          };
          merged.push(current);
        }
      }
    }
    return merged;
  }

  // Gives each span the first lane of its rank and group where it does not overlap another; returns lane counts.
  function assignLanes(spans, tolerance) {
    spans.sort((a, b) => a.start - b.start || b.end - a.end);
    const laneEnds = new Map();
    for (const s of spans) {
      s.group = kindOf(s.name).group;
      const key = s.rank + "/" + s.group;
      if (!laneEnds.has(key)) laneEnds.set(key, []);
      const ends = laneEnds.get(key);
      let lane = ends.findIndex((end) => end <= s.start + tolerance);
      if (lane < 0) {
        lane = ends.length;
        ends.push(0);
      }
      ends[lane] = s.end;
      s.lane = lane;
    }
    return laneEnds;
  }

  function spanTitle(s) {
    const lines = ["rank " + s.rank + ": " + s.name + (s.count > 1 ? " ×" + s.count : ""),
      formatSeconds(s.start) + " to " + formatSeconds(s.end) + " (" + formatSeconds(s.end - s.start) + ")"];
    if (s.count > 1) lines.push("busy " + formatSeconds(s.busy) + " of it");
    if (s.firstRound !== null && s.firstRound !== undefined)
      lines.push(s.firstRound === s.lastRound ? "round " + s.firstRound : "rounds " + s.firstRound + " to " + s.lastRound);
    if (s.bytes !== null && s.bytes !== undefined) lines.push(formatBytes(s.bytes) + " received");
    return lines.join("\n");
  }

  // A horizontal time axis at `y` under a plot `width` wide from `left`, for times 0..`end`.
  function timeAxis(left, width, y, top, end) {
    const ticks = niceTicks(end, Math.max(2, Math.floor(width / 110)));
    const last = ticks[ticks.length - 1];
    const group = svg("g", { class: "axis" });
    const step = ticks.length > 1 ? ticks[1] - ticks[0] : last;
    for (const tick of ticks) {
      const x = left + (tick / last) * width;
      group.appendChild(svg("line", { x1: x, x2: x, y1: top, y2: y, class: "grid" }));
      group.appendChild(svg("text", { x: x, y: y + 14, "text-anchor": "middle", text: formatTick(tick, step, last) }));
    }
    return { group, end: last };
  }

  function drawTimeline(container, timeline, job) {
    if (!timeline) return showMissing(container, "timeline-missing", "No timeline: the report was made without TRACE.json (run the job with --trace FILE).");
    if (timeline.spans.length === 0) return showMissing(container, "timeline-missing", "The timeline has no spans.");
    const width = chartWidth(container), left = 70, right = 12, plot = width - left - right;
    const end = niceTicks(timeline.end, Math.max(2, Math.floor(plot / 110))).slice(-1)[0];
    const pixel = end / plot;
    const spans = coalesce(timeline.spans, pixel);
    const laneEnds = assignLanes(spans, pixel * 0.01);

    const ranks = Math.max(timeline.ranks, job.count || 0);
    const laneHeight = ranks <= 16 ? 12 : ranks <= 64 ? 6 : 3;
    const laneGap = ranks <= 64 ? 2 : 1, groupGap = laneGap * 2, rankGap = ranks <= 64 ? 10 : 4;
    // Where each rank's groups start: every rank has a "work" lane even when it recorded nothing.
    const offsets = new Map();
    let y = 8;
    const rankRows = [];
    for (let rank = 0; rank < ranks; rank++) {
      const top = y;
      for (const group of GROUP_ORDER) {
        const lanes = (laneEnds.get(rank + "/" + group) || []).length || (group === "work" ? 1 : 0);
        if (lanes === 0) continue;
        offsets.set(rank + "/" + group, y);
        y += lanes * (laneHeight + laneGap) + groupGap;
      }
      rankRows.push({ rank, top, bottom: y - groupGap });
      y += rankGap;
    }
    const height = y + 20;
    const chart = svg("svg", { id: "timeline-svg", viewBox: "0 0 " + width + " " + height, width: width, height: height,
      role: "img", "aria-label": "timeline of the job's phases per rank" });
    chart.appendChild(timeAxis(left, plot, y - rankGap + 4, 0, end).group);

    const namedColors = new Map();
    const colorOf = (name) => {
      const kind = kindOf(name);
      if (kind.color) return kind.color;
      if (!namedColors.has(name)) namedColors.set(name, PALETTE[namedColors.size % PALETTE.length]);
      return namedColors.get(name);
    };
    for (const row of rankRows) {
      const name = timeline.trackNames.get(row.rank) || "rank " + row.rank;
      chart.appendChild(svg("text", { x: left - 8, y: (row.top + row.bottom) / 2 + 4, "text-anchor": "end", text: name }));
    }
    const bars = svg("g", { class: "spans" });
    for (const s of spans) {
      const top = offsets.get(s.rank + "/" + s.group);
      if (top === undefined) continue;
      const x = left + (s.start / end) * plot;
      bars.appendChild(svg("rect", {
        class: "span", "data-kind": s.name, x: x.toFixed(2), y: top + s.lane * (laneHeight + laneGap),
        width: Math.max(1, ((s.end - s.start) / end) * plot).toFixed(2), height: laneHeight,
        fill: colorOf(s.name), title: spanTitle(s),
        // A bar standing for several spans is as opaque as they filled it, so gaps still show as paler.
        "fill-opacity": s.count > 1 && s.end > s.start ? (0.35 + 0.65 * Math.min(1, s.busy / (s.end - s.start))).toFixed(2) : null,
      }));
    }
    chart.appendChild(bars);

    const present = [...new Set(timeline.spans.map((s) => s.name))];
    present.sort((a, b) => (kindOf(a).group === "named") - (kindOf(b).group === "named") ||
      Object.keys(SPAN_KINDS).indexOf(a) - Object.keys(SPAN_KINDS).indexOf(b) || a.localeCompare(b));
    const legend = html("div", { class: "legend", id: "timeline-legend" },
      present.slice(0, 40).map((name) => html("span", { style: "--swatch: " + colorOf(name), text: name })));
    const notes = [];
    if (job.count && timeline.ranks && timeline.ranks !== job.count)
      notes.push(html("p", { class: "note", text: "The timeline has " + timeline.ranks + " tracks and the stats " +
        job.count + " ranks: are they from the same run?" }));
    notes.push(html("p", { class: "note", text: formatCount(timeline.spans.length) + " spans, drawn as " +
      formatCount(spans.length) + " bars; one pixel is " + formatSeconds(pixel) + "." }));
    container.replaceChildren(legend, chart, ...notes);
  }

  // ---- Bytes per round ---------------------------------------------------------

  function drawRounds(container, timeline) {
    if (!timeline) return showMissing(container, "rounds-missing", "No timeline: the bytes per round come from TRACE.json.");
    const data = timeline.spans.filter((s) => s.name === "round data" && Number.isInteger(s.round) && s.round >= 0);
    if (data.length === 0) return showMissing(container, "rounds-missing", "The timeline has no shuffle rounds.");
    const counted = data.filter((s) => s.bytes !== null);
    if (counted.length === 0)
      return showMissing(container, "rounds-missing", "The timeline's rounds carry no byte counts (it was written by an mpimr older than the report).");
    // The rounds in order, each with the bytes all ranks received in it (a Map: round numbers need not be dense).
    const byRound = new Map();
    for (const s of counted) byRound.set(s.round, (byRound.get(s.round) || 0) + s.bytes);
    const roundNumbers = [...byRound.keys()].sort((a, b) => a - b);
    const perRound = roundNumbers.map((round) => byRound.get(round));
    const rounds = perRound.length;
    if (perRound.every((bytes) => bytes === 0))
      return showMissing(container, "rounds-missing", "Every round of the timeline carries 0 bytes: the mpimr that wrote it did not record the bytes per round.");

    const width = chartWidth(container), left = 70, right = 12, plot = width - left - right, height = 220, base = 180;
    // More rounds than half the pixels: each bar is the mean of `bucket` consecutive rounds.
    const bucket = Math.max(1, Math.ceil(rounds / (plot / 2)));
    const bars = [];
    for (let at = 0; at < rounds; at += bucket) {
      const slice = perRound.slice(at, at + bucket);
      bars.push({ first: roundNumbers[at], last: roundNumbers[at + slice.length - 1],
        bytes: slice.reduce((a, v) => a + v, 0) / slice.length });
    }
    const top = largest(bars, (b) => b.bytes);
    const ticks = niceTicks(top, 4), scale = ticks[ticks.length - 1] || 1;
    const chart = svg("svg", { id: "rounds-svg", viewBox: "0 0 " + width + " " + height, width: width, height: height,
      role: "img", "aria-label": "bytes received per shuffle round" });
    const axis = svg("g", { class: "axis" });
    for (const tick of ticks) {
      const y = base - (tick / scale) * (base - 10);
      axis.appendChild(svg("line", { x1: left, x2: left + plot, y1: y, y2: y }));
      axis.appendChild(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", text: formatBytes(tick) }));
    }
    chart.appendChild(axis);
    const step = plot / bars.length, barWidth = Math.max(1, step * 0.8);
    bars.forEach((bar, i) => {
      const h = (bar.bytes / scale) * (base - 10);
      chart.appendChild(svg("rect", {
        class: "round-bar", x: (left + i * step + (step - barWidth) / 2).toFixed(2), y: (base - h).toFixed(2),
        width: barWidth.toFixed(2), height: Math.max(0, h).toFixed(2), fill: SPAN_KINDS["round data"].color,
        title: (bar.first === bar.last ? "round " + bar.first : "rounds " + bar.first + " to " + bar.last + " (mean)") +
          ": " + formatBytes(bar.bytes),
      }));
    });
    const labelEvery = Math.ceil(bars.length / Math.max(1, Math.floor(plot / 50)));
    bars.forEach((bar, i) => {
      if (i % labelEvery !== 0) return;
      chart.appendChild(svg("text", { x: left + (i + 0.5) * step, y: base + 16, "text-anchor": "middle", text: String(bar.first) }));
    });
    chart.appendChild(svg("text", { x: left + plot / 2, y: base + 34, "text-anchor": "middle", text: "round" }));
    const total = perRound.reduce((a, v) => a + v, 0);
    const missing = data.length - counted.length;
    container.replaceChildren(chart, html("p", { class: "note", id: "rounds-summary", text:
      formatCount(rounds) + " rounds, " + formatBytes(total) + " received in all; the largest round " +
      formatBytes(largest(perRound, itself)) + ", the mean " + formatBytes(total / rounds) + "." +
      (bucket > 1 ? " Each bar is the mean of " + bucket + " rounds." : "") +
      (missing ? " " + missing + " data spans had no byte count." : "") }));
  }

  // ---- Load per reducer ----------------------------------------------------------

  // One bar chart of a per-rank figure, with its mean as a dashed line; `busiest` is highlighted.
  function rankBars(id, values, format, color, busiest) {
    const width = 560, left = 70, right = 10, plot = width - left - right, height = 200, base = 160;
    const present = values.map((v) => v || 0);
    const mean = present.reduce((a, v) => a + v, 0) / Math.max(1, present.length);
    const ticks = niceTicks(Math.max(0, largest(present, itself)), 4), scale = ticks[ticks.length - 1] || 1;
    const chart = svg("svg", { id: id, viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img" });
    const axis = svg("g", { class: "axis" });
    for (const tick of ticks) {
      const y = base - (tick / scale) * (base - 10);
      axis.appendChild(svg("line", { x1: left, x2: left + plot, y1: y, y2: y }));
      axis.appendChild(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", text: format(tick) }));
    }
    chart.appendChild(axis);
    const step = plot / Math.max(1, present.length), barWidth = Math.max(0.5, step * 0.8);
    const labelEvery = Math.ceil(present.length / Math.max(1, Math.floor(plot / 30)));
    present.forEach((value, rank) => {
      const h = (value / scale) * (base - 10);
      chart.appendChild(svg("rect", {
        class: "reducer-bar", x: (left + rank * step + (step - barWidth) / 2).toFixed(2), y: (base - h).toFixed(2),
        width: barWidth.toFixed(2), height: h.toFixed(2), fill: rank === busiest ? "#e15759" : color,
        title: "rank " + rank + ": " + format(value) + (mean > 0 ? " (" + formatRatio(value / mean) + " the mean)" : ""),
      }));
      if (rank % labelEvery === 0)
        chart.appendChild(svg("text", { x: left + (rank + 0.5) * step, y: base + 16, "text-anchor": "middle", text: String(rank) }));
    });
    const meanY = base - (mean / scale) * (base - 10);
    chart.appendChild(svg("line", { class: "mean", x1: left, x2: left + plot, y1: meanY, y2: meanY, title: "mean " + format(mean) }));
    chart.appendChild(svg("text", { x: left + plot / 2, y: base + 34, "text-anchor": "middle", text: "rank" }));
    return { chart, mean, max: Math.max(0, largest(present, itself)) };
  }

  function drawReducers(container, job) {
    if (!job.present("pairs_received") && !job.present("bytes_received"))
      return showMissing(container, "reducers-missing", "The stats have no pairs_received or bytes_received per rank.");
    const load = job.raw.reduce_load && typeof job.raw.reduce_load === "object" ? job.raw.reduce_load : {};
    const busiest = Number.isInteger(load.busiest_rank) ? load.busiest_rank : null;
    const pairs = rankBars("reducer-pairs-svg", job.values("pairs_received"), formatCount, "#4e79a7", busiest);
    const bytes = rankBars("reducer-bytes-svg", job.values("bytes_received"), formatBytes, "#59a14f", busiest);
    const ratio = (given, chart) => numberOrNull(given) !== null ? given : chart.mean > 0 ? chart.max / chart.mean : null;
    const pairsRatio = ratio(load.pairs_max_over_mean, pairs), bytesRatio = ratio(load.bytes_max_over_mean, bytes);
    const panel = (title, chart, ratioText) =>
      html("div", {}, [html("h3", { text: title + ": max/mean " + ratioText }), chart.chart]);
    const parts = [html("div", { class: "pair" }, [
      panel("Pairs received", pairs, formatRatio(pairsRatio)),
      panel("Bytes received", bytes, formatRatio(bytesRatio)),
    ])];
    parts.push(html("p", { class: "note", id: "reducers-summary", text:
      "Mean " + formatCount(Math.round(pairs.mean)) + " pairs and " + formatBytes(bytes.mean) + " a rank; the busiest" +
      (busiest !== null ? " (rank " + busiest + ")" : "") + " received " + formatCount(pairs.max) + " pairs and " +
      formatBytes(bytes.max) + "." + (skewWarning(job) ? " " + skewWarning(job) : "") }));
    const heavy = job.ranks.filter((r) => typeof r.heaviest_key === "string" && numberOrNull(r.heaviest_key_pairs) !== null)
      .sort((a, b) => b.heaviest_key_pairs - a.heaviest_key_pairs).slice(0, 10);
    if (heavy.length > 0) {
      parts.push(html("h3", { text: "Heaviest key of each rank (the ten heaviest)" }));
      parts.push(html("table", { id: "heaviest-keys-table" }, [
        html("thead", {}, [html("tr", {}, [html("th", { text: "rank" }), html("th", { class: "text", text: "key" }), html("th", { text: "pairs" })])]),
        html("tbody", {}, heavy.map((r) => html("tr", {}, [
          html("td", { text: String(r.rank) }), html("td", { class: "text", text: r.heaviest_key }),
          html("td", { text: formatCount(r.heaviest_key_pairs) })]))),
      ]));
    }
    container.replaceChildren(...parts);
  }

  // ---- Memory over time ----------------------------------------------------------

  function drawMemory(container, timeline, job) {
    if (!timeline) return showMissing(container, "memory-missing", "No timeline: the memory samples come from TRACE.json.");
    if (timeline.memory.length === 0)
      return showMissing(container, "memory-missing", "The timeline has no memory samples.");
    const width = chartWidth(container), left = 70, right = 12, plot = width - left - right, height = 260, base = 220;
    const byRank = new Map();
    for (const sample of timeline.memory) {
      if (!byRank.has(sample.rank)) byRank.set(sample.rank, []);
      byRank.get(sample.rank).push(sample);
    }
    const peak = largest(timeline.memory, (m) => m.bytes);
    const budget = job.min("memory_budget_bytes");
    const showBudget = budget !== null && budget > 0 && budget <= 2 * peak;
    const ticks = niceTicks(showBudget ? Math.max(peak, budget) : peak, 4), scale = ticks[ticks.length - 1] || 1;
    const timeTicks = niceTicks(timeline.end, Math.max(2, Math.floor(plot / 110)));
    const end = timeTicks[timeTicks.length - 1] || 1;
    const chart = svg("svg", { id: "memory-svg", viewBox: "0 0 " + width + " " + height, width: width, height: height,
      role: "img", "aria-label": "memory in use over time per rank" });
    const axis = svg("g", { class: "axis" });
    for (const tick of ticks) {
      const y = base - (tick / scale) * (base - 10);
      axis.appendChild(svg("line", { x1: left, x2: left + plot, y1: y, y2: y }));
      axis.appendChild(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", text: formatBytes(tick) }));
    }
    const timeStep = timeTicks.length > 1 ? timeTicks[1] - timeTicks[0] : end;
    for (const tick of timeTicks) {
      const x = left + (tick / end) * plot;
      axis.appendChild(svg("line", { x1: x, x2: x, y1: 10, y2: base }));
      axis.appendChild(svg("text", { x: x, y: base + 16, "text-anchor": "middle", text: formatTick(tick, timeStep, end) }));
    }
    chart.appendChild(axis);
    const toX = (time) => left + (time / end) * plot, toY = (bytes) => base - (bytes / scale) * (base - 10);
    const ranks = [...byRank.keys()].sort((a, b) => a - b);
    for (const rank of ranks) {
      const samples = byRank.get(rank).sort((a, b) => a.time - b.time);
      // A step line (the bytes stay as sampled until the next sample), keeping each pixel column's highest sample.
      const points = [];
      for (const sample of samples) {
        const x = Math.round(toX(sample.time) * 2) / 2, y = toY(sample.bytes);
        const last = points[points.length - 1];
        if (last && last.x === x) last.y = Math.min(last.y, y);
        else points.push({ x, y });
      }
      let path = "";
      points.forEach((p, i) => {
        path += i === 0 ? "M" + p.x + " " + p.y.toFixed(2) : "H" + p.x + "V" + p.y.toFixed(2);
      });
      const rankPeak = largest(samples, (s) => s.bytes);
      chart.appendChild(svg("path", { class: "memory-line", "data-rank": rank, d: path,
        stroke: PALETTE[rank % PALETTE.length], title: "rank " + rank + ": up to " + formatBytes(rankPeak) +
          " (" + samples.length + " samples)" }));
    }
    if (showBudget) {
      const y = toY(budget);
      chart.appendChild(svg("line", { class: "budget", x1: left, x2: left + plot, y1: y, y2: y, title: "memory budget " + formatBytes(budget) }));
    }
    const legend = ranks.length <= 32 ? html("div", { class: "legend" },
      ranks.map((rank) => html("span", { style: "--swatch: " + PALETTE[rank % PALETTE.length], text: "rank " + rank }))) : null;
    const note = "Peak " + formatBytes(peak) + " on one rank, from " + formatCount(timeline.memory.length) + " samples" +
      (budget !== null ? "; the budget is " + formatBytes(budget) + " a rank" + (showBudget ? " (dashed)" : "") : "") +
      (job.present("peak_rss_bytes") ? "; peak resident size up to " + formatBytes(job.max("peak_rss_bytes")) : "") + ".";
    container.replaceChildren(...[legend, chart, html("p", { class: "note", id: "memory-summary", text: note })].filter(Boolean));
  }

  // ---- Tables -------------------------------------------------------------------

  function drawCounters(container, job) {
    const counters = job.raw.counters;
    const entries = counters && typeof counters === "object" && !Array.isArray(counters) ? Object.entries(counters) : [];
    if (entries.length === 0) return showMissing(container, "counters-missing", "No counters: this job's stats have none.");
    const rows = entries.map(([name, value]) => html("tr", { class: "counter-row" }, [
      html("td", { text: name }),
      html("td", { text: numberOrNull(value) !== null ? formatCount(value) : JSON.stringify(value) }),
    ]));
    container.replaceChildren(html("table", { id: "counters-table" }, [
      html("thead", {}, [html("tr", {}, [html("th", { text: "counter" }), html("th", { text: "total" })])]),
      html("tbody", {}, rows),
    ]));
  }

  // The per-rank figures worth a column, in the order shown, and how each is written.
  const RANK_COLUMNS = [
    ["time_total", "total", formatSeconds], ["time_map", "map", formatSeconds],
    ["time_shuffle", "shuffle tail", formatSeconds], ["time_reduce", "reduce", formatSeconds],
    ["time_output", "output", formatSeconds], ["time_send_wait", "send wait", formatSeconds],
    ["input_bytes", "input", formatBytes], ["pairs_emitted", "pairs emitted", formatCount],
    ["pairs_received", "pairs received", formatCount], ["bytes_received", "bytes received", formatBytes],
    ["rounds", "rounds", formatCount], ["keys_reduced", "keys", formatCount],
    ["bytes_output", "output bytes", formatBytes], ["peak_rss_bytes", "peak RSS", formatBytes],
    ["peak_memory_bytes", "memory accounted", formatBytes], ["spill_bytes", "spilled", formatBytes],
    ["bad_records", "bad records", formatCount],
  ];

  function drawRanks(container, job) {
    if (job.ranks.length === 0) return showMissing(container, "ranks-missing", "The stats list no ranks.");
    const columns = RANK_COLUMNS.filter(([key]) => job.present(key));
    const table = html("table", { id: "ranks-table" }, [
      html("thead", {}, [html("tr", {}, [html("th", { text: "rank" }), ...columns.map(([, label]) => html("th", { text: label }))])]),
      html("tbody", {}, job.ranks.map((r, index) => html("tr", {}, [
        html("td", { text: String(Number.isInteger(r.rank) ? r.rank : index) }),
        ...columns.map(([key, , format]) => html("td", { text: format(numberOrNull(r[key])) })),
      ]))),
    ]);
    const details = html("details", {}, [html("summary", { text: formatCount(job.ranks.length) + " ranks" }),
      html("div", { class: "scroll" }, [table])]);
    details.open = job.ranks.length <= 16;
    container.replaceChildren(details);
  }

  // ---- Drawing it all ------------------------------------------------------------

  function main() {
    const source = readJsonBlock("report-data-source");
    const stats = readJsonBlock("report-data-stats");
    const traceData = readJsonBlock("report-data-trace");
    const job = readStats(stats && typeof stats === "object" ? stats : {});
    const timeline = traceData === null ? null : readTrace(traceData);
    const sections = [
      ["the header", () => drawHeader(source, job, timeline)],
      ["the timeline", () => drawTimeline(document.getElementById("timeline"), timeline, job)],
      ["bytes per round", () => drawRounds(document.getElementById("rounds"), timeline)],
      ["load per reducer", () => drawReducers(document.getElementById("reducers"), job)],
      ["memory over time", () => drawMemory(document.getElementById("memory"), timeline, job)],
      ["the counters", () => drawCounters(document.getElementById("counters"), job)],
      ["every rank's figures", () => drawRanks(document.getElementById("ranks"), job)],
    ];
    for (const [name, draw] of sections) {
      try {
        draw();
      } catch (error) {
        reportError("drawing " + name + " failed: " + (error && error.message ? error.message : String(error)));
      }
    }
  }

  try {
    main();
  } catch (error) {
    reportError("the report could not be drawn: " + (error && error.message ? error.message : String(error)));
  }
  if (errors.length === 0) document.body.dataset.rendered = "ok";
})();
