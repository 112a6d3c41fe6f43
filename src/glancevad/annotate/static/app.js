// glancevad annotate: the page. Every action goes to the server at once (autosave); the page
// keeps no state the server does not have, so a reload shows exactly what is stored.
"use strict";

const $ = (id) => document.getElementById(id);
const player = $("player");
const SPEEDS = [0.25, 0.5, 1, 1.5, 2, 4];
const TIME_TOLERANCE = 1e-4;  // browsers round media time to microseconds; frames are milliseconds apart

const app = {
  annotator: localStorage.getItem("glancevad.annotator") || "",
  reviewer: false,
  mode: "annotate",
  videos: [],
  video: null,        // {id, frames, fps, times, version, ...}
  version: null,      // the open video's change counter as last drawn (the poll redraws when it moves)
  others: localStorage.getItem("glancevad.others") !== "0",  // annotate mode: show others' glances too
  hues: {},           // annotator -> hue (degrees), from the server: the same colours on every page
  frame: 0,           // the frame whose picture the player shows
  glances: [],        // glances shown on the timeline and in the list
  selected: null,     // id of the selected glance
  review: null,
  zoom: 1,
  busy: 0,            // writes in flight (the poll waits for them)
  model: null,        // {checkpoint, model, threshold, near} with --checkpoint, else null
  scores: null,       // the open video's {scores (per snippet), frames_per_snippet, peaks}
  queue: null,        // the videos assigned to the annotator (a Set; null: none assigned, every video is theirs)
  listVersion: null,  // the server's list version when the video list was last loaded (the poll reloads it when it moves)
  polls: 0,           // polls completed (tests wait on it instead of on the clock)
  asking: null,       // the video the "no anomaly?" question is about
};

// ---------------------------------------------------------------- server calls

class ApiError extends Error {
  constructor(status, detail, body) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = response.statusText;
    let data = null;
    try {
      data = await response.json();
      detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, detail, data);
  }
  return response.json();
}

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

// Run one write. Writes on a glance carry the revision this page drew: when someone else changed that
// glance meanwhile (409, a real conflict) the page takes the glance as it is now and does the action
// once more on it (a glance deleted meanwhile: nothing to do), and the message says so.
// User actions that write run one at a time, start to finish (the write, the refresh, the message):
// keys pressed faster than the server answers must not have an earlier action's message overwrite a later one's.
let actions = Promise.resolve();

function serial(fn) {
  const run = actions.then(fn);
  actions = run.catch(() => undefined);
  return run;
}

let conflictNote = "";  // what the last write did about a conflict, added to its "saved" message

function saved(text, tail = "") {
  say((conflictNote ? `${text} (${conflictNote})` : text) + tail);
  conflictNote = "";
}

function revisionOf(glanceId) {
  const glance = app.glances.find((g) => g.id === glanceId);
  return glance ? glance.revision : undefined;
}

// fn(revision) makes the call; glanceId: the glance it acts on (null: a write on no one glance).
async function act(label, fn, glanceId = null) {
  app.busy += 1;
  conflictNote = "";
  try {
    let result;
    try {
      result = await fn(revisionOf(glanceId));
    } catch (error) {
      if (error.status !== 409 || glanceId === null || !error.body || !error.body.glance) throw error;
      conflictNote = `${error.body.detail}; done on it as it is now`;
      result = await fn(error.body.glance.revision);
    }
    if (app.video) await refresh();  // the state this write left, before the next write goes
    return result;
  } catch (error) {
    conflictNote = "";
    if (error.status === 409 && app.video) {
      await refresh();
      say(`${label}: not saved — ${error.body.detail}`, true);
    } else {
      if (error.status === 404 && app.video) await refresh().catch(() => null);  // drop what is gone
      say(`${label} failed: ${error.message}`, true);
    }
    return undefined;
  } finally {
    app.busy -= 1;
  }
}

const enc = encodeURIComponent;
const who = () => enc(app.annotator);

// ---------------------------------------------------------------- frames and time

// The frame shown at media time t: the last frame whose probed presentation time is at or before t.
function frameAt(t) {
  const times = app.video.times;
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= t + TIME_TOLERANCE) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// Where to seek to show frame f, probed with the timestamps: the middle of its display interval
// (at variable rates too: Chromium shows each frame after a plain seek inside its own interval).
function frameMiddle(f) {
  return app.video.seeks[f];
}

function currentFrame() {
  return app.video ? app.frame : 0;
}

// The frame nearest to f, going in direction (+1 / -1), that a seek can show.
function reachable(f, direction = 1) {
  const seeks = app.video.seeks;
  for (const d of [direction, -direction]) {
    for (let g = f; g >= 0 && g < seeks.length; g += d) if (seeks[g] !== null) return g;
  }
  return f;
}

function seekFrame(frame, direction = 1) {
  if (!app.video) return;
  const target = reachable(Math.max(0, Math.min(app.video.frames - 1, frame)), direction);
  if (!player.paused) player.pause();
  app.frame = target;
  seekPlayer(frameMiddle(target));
  showFrame();
}

// One seek at a time: a seek asked for while another runs waits for its "seeked" and then goes, the
// latest one only. Chromium, given a new time while a seek is pending (keys pressed faster than it
// decodes), can leave the player seeking for good at readyState 1: the picture never arrives.
let seekWanted = null;
function seekPlayer(time) {
  if (player.seeking) { seekWanted = time; return; }
  seekWanted = null;
  player.currentTime = time;
}

function seekWantedNext() {
  if (seekWanted === null) return;
  const time = seekWanted;
  seekWanted = null;
  if (time !== player.currentTime) player.currentTime = time;
}

function showFrame() {
  if (!app.video) return;
  $("frame").textContent = app.frame;
  $("time").textContent = app.video.times[app.frame].toFixed(3);
  $("playhead").style.left = `${(100 * app.frame) / Math.max(app.video.frames - 1, 1)}%`;
  keepPlayheadInView();
  const score = scoreAt(app.frame);
  $("score").textContent = score === null ? "–" : score.toFixed(3);
  keepInUrl();
}

// The address keeps the video and frame shown (a reload reopens them): written at most every 150 ms,
// always with the latest frame, so playback updates it too and the last frame is never left unwritten.
let urlTimer = null;
let urlWritten = 0;
function keepInUrl() {
  if (urlTimer !== null) return;  // a write is due already and will take the latest frame
  urlTimer = setTimeout(() => {
    urlTimer = null;
    urlWritten = performance.now();
    if (app.video) history.replaceState(null, "", `#video=${enc(app.video.id)}&frame=${app.frame}`);
  }, Math.max(0, urlWritten + 150 - performance.now()));
}

function followPlayback() {
  const onFrame = (_, metadata) => {
    if (app.video && !player.paused && !player.seeking) {  // paused, the counter leads: seeks follow it
      app.frame = frameAt(metadata.mediaTime);
      showFrame();
    }
    player.requestVideoFrameCallback(onFrame);
  };
  player.requestVideoFrameCallback(onFrame);
  player.addEventListener("seeked", seekWantedNext);
  player.addEventListener("play", () => { $("play").textContent = "pause"; });
  // on pause, snap to the frame last presented: the picture, the counter and G agree
  player.addEventListener("pause", () => { $("play").textContent = "play"; if (app.video) seekFrame(app.frame, -1); });
  player.addEventListener("error", () => {
    if (player.getAttribute("src")) say("this browser cannot play the file: convert it to H.264 MP4 or VP8/VP9 WebM", true);
  });
}

function setSpeed(direction) {
  const index = SPEEDS.indexOf(player.playbackRate);
  const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, (index < 0 ? 2 : index) + direction))];
  player.playbackRate = next;
  $("speed").textContent = `${next}×`;
  say(`playback speed ${next}×`);
}

// ---------------------------------------------------------------- videos

function stateBadge(state) {
  return `<span class="badge ${state}">${state.replace("_", " ")}</span>`;
}

function visibleVideos() {
  const text = $("filter").value.trim().toLowerCase();
  const state = $("state-filter").value;
  const queued = app.queue && $("queue-only").checked ? app.queue : null;
  const shown = app.videos.filter((v) => v.id.toLowerCase().includes(text) && (!queued || queued.has(v.id))
    && (!state || v.state === state || (state === "review" && v.review.length)));
  if (app.model && $("order").value === "unglanced") {
    // most likely unglanced anomaly first (videos not scored yet last), then by name
    const key = (v) => (v.unglanced === null || v.unglanced === undefined ? -1 : v.unglanced);
    shown.sort((a, b) => key(b) - key(a) || (a.id < b.id ? -1 : 1));
  }
  return shown;
}

function renderVideos() {
  const list = $("videos");
  list.innerHTML = "";
  for (const video of visibleVideos()) {
    const item = document.createElement("li");
    item.dataset.id = video.id;
    item.className = app.video && app.video.id === video.id ? "current" : "";
    // reviewers (and review mode) see which videos need review, and why
    const flag = video.review.length && (app.reviewer || app.mode === "review") ? '<span class="review">⚑ review</span>' : "";
    item.innerHTML = `<span class="name"></span><span>${flag}${stateBadge(video.state)} <span class="count">${video.glances}</span></span>`;
    item.querySelector(".name").textContent = video.id;
    if (flag) item.querySelector(".review").title = `needs review: ${video.review.join(", ")}`;
    item.dataset.review = video.review.length ? "1" : "";
    if (app.model && video.unglanced !== null && video.unglanced !== undefined) {
      item.dataset.unglanced = video.unglanced;
      item.title = video.unglanced > 0 ? `highest unglanced peak: ${video.unglanced.toFixed(3)}` : "no unglanced peak";
    }
    // the video already open (or opening) stays as it is: a second click must not drop keys pressed meanwhile
    item.addEventListener("click", () => { if (app.openingId !== video.id) openVideo(video.id); });
    list.appendChild(item);
  }
}

async function loadVideos() {
  // the version first: a list loaded while something changes is never marked newer than it is
  const { version } = await api("GET", "/api/version");
  // every answer first, then all drawn: the list never shows without its progress line
  const [videos, progress, pending, queue] = await Promise.all([api("GET", `/api/videos?annotator=${who()}`),
    api("GET", "/api/progress"), api("GET", "/api/review/pending"), api("GET", `/api/queue?annotator=${who()}`)]);
  for (const video of videos) video.review = pending[video.id] || [];
  app.videos = videos;
  app.queue = queue.videos.length ? new Set(queue.videos) : null;
  $("queue-label").hidden = !app.queue;
  $("queue-size").textContent = queue.videos.length;
  renderVideos();
  const mine = progress[app.annotator] || { done: 0, total: app.videos.length };
  $("progress").textContent = `${mine.done} of ${mine.total} done`;
  $("progress").dataset.queue = app.queue ? "1" : "";
  $("progress").title = Object.entries(progress).map(([name, p]) => `${name}: ${p.done} of ${p.total} done`).join("\n");
  app.listVersion = version;
}

async function openVideo(id, frame = 0) {
  const call = (app.opening = (app.opening || 0) + 1);  // a later call (a click during a restore) wins
  app.openingId = id;
  let info;
  try {
    info = await api("GET", `/api/videos/${enc(id)}?annotator=${who()}`);
  } catch (error) {
    if (call === app.opening) app.openingId = app.video ? app.video.id : null;  // a click may try again
    throw error;
  }
  if (call !== app.opening) return;
  app.video = info;
  app.version = info.version;
  $("live").textContent = "";
  app.selected = null;
  app.glances = [];  // the previous video's are not this one's (N, A, R act on nothing until they come)
  app.review = null;
  app.frame = frame;  // keys pressed while the video loads move this: the seek below then honours them
  app.scores = null;
  loadScores(info.id, true);
  $("title").textContent = info.id;
  $("frames").textContent = info.frames;
  $("fps").textContent = info.fps.toFixed(3);
  // annotators are told when they watch a copy; how frames are mapped is for the curious (in the help)
  $("mapping").textContent = info.browser_copy ? `playing an H.264 copy of this ${info.codec} file, frame for frame` : "";
  $("help-mapping").textContent = info.frame_mapping;
  $("state").textContent = info.state;
  const source = `/api/videos/${enc(id)}/stream`;
  seekWanted = null;  // a seek asked for on the previous video is not this one's
  player.src = source;
  $("thumb-video").src = source;
  await new Promise((resolve) => {
    player.addEventListener("loadedmetadata", resolve, { once: true });
    player.addEventListener("error", resolve, { once: true });
  });
  if (call !== app.opening) return;
  player.playbackRate = Number($("speed").textContent.replace("×", "")) || 1;
  seekFrame(app.frame);
  await refresh();
  renderVideos();
}

// ---------------------------------------------------------------- glances

// One colour per annotator, the same on every page: the hue the server gives them (golden angles
// in the order they joined, so no two are alike).
function colour(name) {
  let hue = app.hues[name];
  if (hue === undefined) {  // not known yet (the next refresh asks): a hue from the name
    hue = 0;
    for (const c of name) hue = (hue * 31 + c.codePointAt(0)) % 360;
  }
  return `hsl(${hue}, 70%, 42%)`;
}

async function loadRoles() {
  const roles = await api("GET", "/api/annotators");
  app.hues = Object.fromEntries(roles.map((r) => [r.name, r.hue]));
}

// Redraw the open video as stored. A refresh that another video's opening overtook is dropped: its
// glances and version are the previous video's (drawn, they made the poll see a "change" on open).
async function refresh() {
  if (!app.video) return;
  const video = app.video;
  const id = enc(video.id);
  const { version } = await api("GET", `/api/videos/${id}/version`);  // first: a newer list is never marked older
  let review = null;
  let glances;
  if (app.mode === "review") {
    review = await api("GET", `/api/videos/${id}/review`);
    glances = Object.values(review.annotators).flatMap((a) => a.glances);
    glances.sort((a, b) => a.frame - b.frame || a.id - b.id);
  } else {
    glances = await api("GET", `/api/videos/${id}/glances${app.others ? "" : `?annotator=${who()}`}`);
  }
  if (app.video !== video) return;
  if (review) app.review = review;
  app.glances = glances;
  if (app.glances.some((g) => app.hues[g.annotator] === undefined)) await loadRoles();
  if (app.video !== video) return;
  app.version = version;
  if (!app.glances.some((g) => g.id === app.selected)) app.selected = null;
  renderGlances();
  renderReview();
  const summary = app.videos.find((v) => v.id === app.video.id);
  if (summary) {
    summary.glances = app.glances.filter((g) => g.status !== "rejected" && (app.mode === "review" || g.annotator === app.annotator)).length;
  }
}

// Another tab or annotator changed the video: redraw it as it is now. Their work never blocks this
// page's, so the status line (this page's own messages) is left alone; a quiet line says when.
// The video list (review marks, queue, progress) is reloaded whenever the server's list version moves,
// whichever video changed (a reviewer's decisions, an assignment), with a video open or not.
async function poll() {
  if (app.listVersion === null || app.busy || document.hidden) return;  // not signed in yet, or writing
  const video = app.video;
  const opening = app.opening;  // a video opened meanwhile: this poll's answer is not about it
  try {
    const [list, open] = await Promise.all([api("GET", "/api/version"),
      video ? api("GET", `/api/videos/${enc(video.id)}/version`) : null]);
    if (app.busy || app.opening !== opening) return;
    if (open && open.version !== app.version && app.video === video) {
      await refresh();
      await loadVideos();
      if (app.opening !== opening) return;
      $("live").textContent = `updated with changes from other tabs or annotators at ${new Date().toLocaleTimeString()}`;
    } else if (list.version !== app.listVersion) {
      await loadVideos();
    }
    app.polls += 1;
  } catch (_) { /* the next poll tries again */ }
}

function select(glanceId, seek = true) {
  app.selected = glanceId;
  const glance = app.glances.find((g) => g.id === glanceId);
  if (glance && seek) seekFrame(glance.frame);
  renderGlances();
  renderReview();
}

function renderGlances() {
  const timeline = $("timeline");
  timeline.style.width = `${100 * app.zoom}%`;
  timeline.querySelectorAll(".tick").forEach((tick) => tick.remove());
  const span = Math.max(app.video.frames - 1, 1);
  for (const glance of app.glances) {
    const tick = document.createElement("div");
    const other = glance.annotator !== app.annotator ? " other" : "";
    tick.className = `tick${glance.id === app.selected ? " selected" : ""}${glance.status === "rejected" ? " rejected" : ""}${other}`;
    tick.style.left = `${(100 * glance.frame) / span}%`;
    tick.style.backgroundColor = glance.status === "rejected" ? "" : colour(glance.annotator);
    tick.title = `frame ${glance.frame} (${glance.annotator}, ${glance.status})`;
    tick.dataset.frame = glance.frame;
    tick.dataset.annotator = glance.annotator;
    tick.addEventListener("click", (event) => { event.stopPropagation(); hideThumbnail(); select(glance.id); });
    timeline.appendChild(tick);
  }
  const list = $("glances");
  list.innerHTML = "";
  for (const glance of app.glances) {
    const item = document.createElement("li");
    item.dataset.id = glance.id;
    item.dataset.frame = glance.frame;
    item.className = (glance.id === app.selected ? "selected" : "") + (glance.annotator !== app.annotator ? " other" : "");
    const seconds = app.video.times[glance.frame].toFixed(2);
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.style.backgroundColor = colour(glance.annotator);
    item.append(dot, `frame ${glance.frame} · ${seconds} s · ${glance.annotator} · ${glance.status}`);
    item.addEventListener("click", () => select(glance.id));
    list.appendChild(item);
  }
  $("glance-count").textContent = `(${app.glances.length})`;
  drawCurve();
}

function renderReview() {
  const panel = $("review-panel");
  panel.hidden = app.mode !== "review" || !app.review;
  if (panel.hidden) return;
  const duplicates = new Map();
  for (const [a, b] of app.review.duplicates) {
    duplicates.set(a, (duplicates.get(a) || []).concat(b));
    duplicates.set(b, (duplicates.get(b) || []).concat(a));
  }
  const flags = [];
  if (!app.reviewer) flags.push(`${app.annotator} is not a reviewer: review mode is read-only (start the server with --reviewer ${app.annotator})`);
  if (app.review.disagreement.length) {
    flags.push(`⚠ disagreement: ${app.review.disagreement.join(", ")} marked "no anomaly" but others glanced this video`);
  }
  if (app.review.duplicates.length) {
    flags.push(`⚠ ${app.review.duplicates.length} pair(s) of glances within ${app.review.duplicate_frames} frames: possible duplicates (K keeps the selected one)`);
  }
  $("review-flags").innerHTML = "";
  for (const text of flags) {
    const line = document.createElement("div");
    line.className = "flag";
    line.textContent = text;
    $("review-flags").appendChild(line);
  }
  const columns = $("review-columns");
  columns.innerHTML = "";
  for (const [name, data] of Object.entries(app.review.annotators)) {
    const column = document.createElement("div");
    column.className = "review-column";
    column.innerHTML = `<h4></h4><ul class="review-list"></ul>`;
    column.querySelector("h4").textContent = `${name} · ${data.state.replace("_", " ")}`;
    column.querySelector("h4").style.color = colour(name);
    for (const glance of data.glances) {
      const item = document.createElement("li");
      item.dataset.id = glance.id;
      item.className = glance.id === app.selected ? "selected" : "";
      const dup = duplicates.has(glance.id) ? ` <span class="flag" title="within ${app.review.duplicate_frames} frames of #${duplicates.get(glance.id).join(", #")}">⚠ duplicate?</span>` : "";
      const buttons = app.reviewer
        ? `<button type="button" data-review="accepted">accept</button> <button type="button" data-review="rejected">reject</button>`
          + (dup ? ` <button type="button" data-review="keep">keep this one</button>` : "")
        : "";
      item.innerHTML = `<span class="status-${glance.status}">#${glance.id} frame ${glance.frame} (${glance.status})</span>${dup} ${buttons}`;
      item.addEventListener("click", (event) => {
        const verdict = event.target.dataset && event.target.dataset.review;
        if (verdict === "keep") keepGlance(glance.id);
        else if (verdict) reviewGlance(glance.id, verdict);
        else select(glance.id);
      });
      column.querySelector("ul").appendChild(item);
    }
    columns.appendChild(column);
  }
}

function addGlance() {
  if (!app.video) return undefined;
  const frame = currentFrame();  // the frame and video shown when G was pressed
  const video = app.video;
  return serial(() => addGlanceAt(frame, video));
}

async function addGlanceAt(frame, video = app.video) {
  if (!video) return;
  const status = app.mode === "review" && app.reviewer ? "accepted" : "proposed";
  const glance = await act(`glance at frame ${frame}`, () =>
    api("POST", `/api/videos/${enc(video.id)}/glances`, { annotator: app.annotator, frame, status }));
  if (!glance) return;
  if (app.video !== video) { say(`glance at frame ${frame} of ${video.id} · saved`); return; }
  app.selected = glance.id;
  if (glance.created) {
    await afterChange();
    saved(`glance at frame ${frame} · saved`);
  } else {
    renderGlances();
    say(`you already have a glance at frame ${frame} (#${glance.id}): nothing added`);
  }
}

function deleteSelected() {
  if (app.selected === null) { say("select a glance first (click it, or N / P)"); return undefined; }
  const id = app.selected;  // the glance selected when Delete was pressed
  return serial(() => deleteGlance(id));
}

async function deleteGlance(id) {
  const done = await act(`delete glance #${id}`, (revision) =>
    api("DELETE", `/api/glances/${id}?annotator=${who()}${revision === undefined ? "" : `&revision=${revision}`}`), id);
  if (done) {
    app.selected = null;
    await afterChange();
    saved(`deleted glance #${id} at frame ${done.frame} · saved (undo: Ctrl+Z)`);
  }
}

function reviewGlance(id, status) {
  return serial(() => reviewGlanceNow(id, status));
}

// moveOn: then show the next unreviewed glance (the keys' reviewer loop).
async function reviewGlanceNow(id, status, moveOn = false) {
  if (!app.reviewer) { say(`only reviewers accept or reject; ${app.annotator} is not one`, true); return; }
  const done = await act(`${status} glance #${id}`, (revision) =>
    api("POST", `/api/glances/${id}/review`, { reviewer: app.annotator, status, revision }), id);
  if (!done) return;
  app.selected = id;
  await afterChange();
  saved(`${status} glance #${id} at frame ${done.frame} · saved`, moveOn ? ` · ${nextUnreviewed(done)}` : "");
}

function keepGlance(id) {
  return serial(() => keepGlanceNow(id));
}

// K: keep the glance shown (taken when the key's turn comes, after the writes before it).
function keepSelected() {
  return serial(async () => {
    const glance = selectedOnScreen("keep");
    if (glance) await keepGlanceNow(glance.id);
  });
}

// A / R, the reviewer loop: judge the glance shown, then show the next unreviewed one. The glance is
// taken when the key's turn comes (after the writes before it), so A A A judges three glances in turn.
function reviewAndMoveOn(status) {
  return serial(async () => {
    const glance = selectedOnScreen(status === "accepted" ? "accept" : "reject");
    if (glance) await reviewGlanceNow(glance.id, status, true);
  });
}

async function keepGlanceNow(id) {
  if (!app.reviewer) { say(`only reviewers resolve duplicates; ${app.annotator} is not one`, true); return; }
  const done = await act(`keep glance #${id}`, (revision) =>
    api("POST", `/api/glances/${id}/keep`, { reviewer: app.annotator, revision }), id);
  if (done) {
    app.selected = id;
    await afterChange();
    saved(`kept glance #${id} at frame ${done.frame}; its duplicates are rejected · saved`);
  }
}

// U, Ctrl+Z: undo on the video shown when the key was pressed (its turn may come after another video opened).
function undo() {
  if (!app.video) return undefined;
  const video = app.video;
  return serial(() => undoNow(video));
}

// " (on v2)" when `video` is no longer the one shown: a message about another video names it.
function elsewhere(video) {
  return app.video === video ? "" : ` (on ${video.id})`;
}

async function undoNow(video) {
  const result = await act("undo", () =>
    api("POST", `/api/videos/${enc(video.id)}/undo`, { annotator: app.annotator }));
  if (!result) return;
  await afterChange();
  say(result.undone ? result.undone.message + elsewhere(video) : `nothing of yours to undo on ${video.id}`);
}

// Mark the video shown now (when the key or button was pressed), after the writes before it.
function setState(state) {
  if (!app.video) return Promise.resolve(undefined);
  const video = app.video;
  return serial(() => setStateNow(state, video));
}

async function setStateNow(state, video) {
  const result = await act(`mark ${state.replace("_", " ")}`, () =>
    api("POST", `/api/videos/${enc(video.id)}/state`, { annotator: app.annotator, state }));
  if (result) {
    if (app.video === video) $("state").textContent = result.state;
    say(`marked ${state.replace("_", " ")}${elsewhere(video)} · saved`);
  }
  return result;
}

// Ctrl+Enter: done, then the next unfinished video. Whether the annotator glanced the video is asked
// when the key's turn comes, after the writes before it: a G pressed just before is saved by then and
// counts (checked at the key press, it did not, and "no anomaly?" then marked a glanced video).
function doneAndNext() {
  if (!app.video) return undefined;
  const video = app.video;
  const mode = app.mode;
  return serial(async () => {
    if (mode === "annotate") {
      let mine;
      try {
        mine = await api("GET", `/api/videos/${enc(video.id)}/glances?annotator=${who()}`);
      } catch (error) {
        say(`done failed: ${error.message}`, true);
        return undefined;
      }
      if (!mine.some((g) => g.status !== "rejected")) { ask(video); return undefined; }
    }
    return setStateNow("done", video);
  }).then((result) => (result ? moveOn(video) : undefined));
}

// After marking `video` finished: open the next unfinished video of the list, unless another is open by now.
async function moveOn(video) {
  await loadVideos();
  if (app.video !== video) return;
  const order = visibleVideos();
  const index = order.findIndex((v) => v.id === video.id);
  const next = order.slice(index + 1).concat(order.slice(0, index)).find((v) => v.state !== "done" && v.state !== "no_anomaly");
  if (next) await openVideo(next.id);
  else say("every video in the list is done");
}

// "done" without a glance: does the video have no anomaly?
function ask(video) {
  app.asking = video;
  $("ask").hidden = false;
  $("ask-yes").focus();
}

async function answer(noAnomaly) {
  $("ask").hidden = true;
  const video = app.asking;
  app.asking = null;
  if (!noAnomaly || !video) { say("not marked: add a glance (G) on each abnormal event, then done"); return; }
  if (await serial(() => setStateNow("no_anomaly", video))) await moveOn(video);
}

// Q: after the writes in flight, so that their messages never overwrite the queue's.
function nextForReview() {
  return serial(nextForReviewNow);
}

async function nextForReviewNow() {
  const after = app.video ? `?after=${enc(app.video.id)}` : "";
  const next = await api("GET", `/api/review/next${after}`);
  if (!next.id) { say("no video needs review"); return; }
  if (app.mode !== "review") {
    document.querySelector("input[name=mode][value=review]").checked = true;
    app.mode = "review";
    document.body.classList.add("reviewing");
  }
  await openVideo(next.id);
  say(`${next.id} needs review: ${next.reasons.join(", ")}`);
}

async function afterChange() {
  await refresh();
  await loadVideos();
  if (app.video) {
    const info = app.videos.find((v) => v.id === app.video.id);
    if (info && app.mode === "annotate") $("state").textContent = info.state;
  }
}

// N / P: the next / previous glance from the playhead (after the selected glance when it is the one
// shown, so glances on one frame are visited in turn). None: the selection is dropped and the page
// says so, so A / R never act on a glance the picture does not show.
function neighbour(direction) {
  if (!app.video) return;
  const from = currentFrame();
  const selected = app.glances.find((g) => g.id === app.selected && g.frame === from);
  const after = (g) => (selected ? g.frame > from || (g.frame === from && g.id > selected.id) : g.frame > from);
  const before = (g) => (selected ? g.frame < from || (g.frame === from && g.id < selected.id) : g.frame < from);
  const target = direction > 0 ? app.glances.find(after) : [...app.glances].reverse().find(before);
  if (target) { select(target.id); return; }
  app.selected = null;
  renderGlances();
  renderReview();
  say(direction > 0 ? `no further glance after frame ${from}` : `no earlier glance before frame ${from}`);
}

// The glance A / R / K act on: the selected one, if the picture shows its frame.
function selectedOnScreen(what) {
  const glance = app.glances.find((g) => g.id === app.selected);
  if (!glance) { say(`${what}: no glance selected (N / P go to the next / previous glance)`); return null; }
  if (glance.frame !== currentFrame()) {
    say(`${what}: the selected glance #${glance.id} is at frame ${glance.frame}, not the frame shown`
      + " (N / P, or click it)");
    return null;
  }
  return glance;
}

// After A / R: select and show the next unreviewed glance after the one just reviewed.
function nextUnreviewed(reviewed) {
  const next = app.glances.find((g) => g.status === "proposed"
    && (g.frame > reviewed.frame || (g.frame === reviewed.frame && g.id > reviewed.id)));
  if (next) {
    select(next.id);
    return `next: #${next.id} at frame ${next.frame}`;
  }
  app.selected = null;
  renderGlances();
  renderReview();
  return "no further unreviewed glance on this video (Q: the next video needing review)";
}

// ---------------------------------------------------------------- timeline: zoom and thumbnails

function frameUnder(event) {
  const box = $("timeline").getBoundingClientRect();
  const share = Math.max(0, Math.min(1, (event.clientX - box.left) / box.width));
  return Math.round(share * (app.video.frames - 1));
}

function zoom(factor) {
  if (!app.video) return;
  app.zoom = Math.max(1, Math.min(64, app.zoom * factor));
  renderGlances();
  const wrap = $("timeline-wrap");
  const x = (app.frame / Math.max(app.video.frames - 1, 1)) * wrap.scrollWidth;
  wrap.scrollLeft = x - wrap.clientWidth / 2;  // keep the playhead in view
  $("zoom").textContent = `${app.zoom}×`;
}

// A zoomed timeline follows the playhead: when it leaves the visible part (playing, stepping, a
// seek), the timeline scrolls to put it a quarter of the way in.
function keepPlayheadInView() {
  if (app.zoom <= 1) return;
  const wrap = $("timeline-wrap");
  const x = (app.frame / Math.max(app.video.frames - 1, 1)) * wrap.scrollWidth;
  if (x < wrap.scrollLeft || x > wrap.scrollLeft + wrap.clientWidth * 0.96) wrap.scrollLeft = x - wrap.clientWidth / 4;
}

function hideThumbnail() {
  $("thumb").hidden = true;
  thumb.wanted = null;
}

const thumb = { wanted: null, seeking: false };
function showThumbnail(event) {
  if (!app.video) return;
  const frame = frameUnder(event);
  const card = $("thumb");
  card.hidden = false;
  const wrap = $("timeline-wrap").getBoundingClientRect();
  card.style.left = `${Math.max(0, event.clientX - wrap.left - 80)}px`;
  $("thumb-label").textContent = `frame ${frame}`;
  thumb.wanted = frame;
  if (!thumb.seeking) seekThumbnail();
}

function seekThumbnail() {
  const video = $("thumb-video");
  if (thumb.wanted === null || video.readyState < 1) return;
  thumb.seeking = true;
  thumb.showing = thumb.wanted;
  video.currentTime = frameMiddle(thumb.wanted);
}

function drawThumbnail() {
  const canvas = $("thumb-canvas");
  canvas.getContext("2d").drawImage($("thumb-video"), 0, 0, canvas.width, canvas.height);
  thumb.seeking = false;
  if (thumb.wanted !== thumb.showing) seekThumbnail();
}

// ---------------------------------------------------------------- model scores (--checkpoint)

// The open video's scores: ready at once from feature files, else polled while the server extracts.
// opened: the first call of an opening, which asks the server to extract this video next; the polls
// only say that the page still waits (they never move it ahead again or interrupt an extraction).
async function loadScores(id, opened = false) {
  if (!app.model) return;
  let data;
  try {
    data = await api("GET", `/api/videos/${enc(id)}/scores${opened ? "?opened=true" : ""}`);
  } catch (error) {
    data = { state: "failed", message: error.message };
  }
  if (!app.video || app.video.id !== id) return;
  const status = $("model-status");
  if (data.state === "ready") {
    app.scores = data;
    status.textContent = `${app.model.model} scores · ${data.peaks.length} peak(s) at or above ${app.model.threshold}`
      + " · . / , next / previous unglanced peak";
    status.classList.remove("error");
    drawCurve();
    showFrame();
    return;
  }
  app.scores = null;
  drawCurve();
  if (data.state === "failed") {
    status.textContent = `no score curve for this video: ${data.message}`;
    status.classList.add("error");
    return;
  }
  status.classList.remove("error");
  status.textContent = data.state === "extracting"
    ? `extracting features for the score curve: ${data.done} of ${data.total ?? "?"} snippets`
    : "waiting for feature extraction (other videos first)";
  setTimeout(() => loadScores(id), 1000);
}

// The score of frame f: that of the snippet covering it (the last snippet for trailing frames).
function scoreAt(f) {
  if (!app.scores) return null;
  const s = app.scores.scores;
  return s[Math.min(Math.floor(f / app.scores.frames_per_snippet), s.length - 1)];
}

// Peaks with no live glance within the peak's event widened by `near` frames.
function unglancedPeaks() {
  if (!app.scores) return [];
  const near = app.model.near;
  return app.scores.peaks.filter((p) => !app.glances.some(
    (g) => g.status !== "rejected" && g.frame >= p.start - near && g.frame <= p.end + near));
}

// Runs after any write still in flight (serial): which peaks are unglanced depends on it, and its
// "saved" message must not overwrite this jump's.
function jumpToPeak(direction) {
  return serial(() => jumpToPeakNow(direction));
}

function jumpToPeakNow(direction) {
  if (!app.video) return;
  if (!app.scores) { say("no score curve for this video (yet)"); return; }
  const from = currentFrame();
  const frames = unglancedPeaks().map((p) => p.frame).sort((a, b) => a - b);
  const target = direction > 0 ? frames.find((f) => f > from) : frames.reverse().find((f) => f < from);
  if (target === undefined) {
    say(`no unglanced peak ${direction > 0 ? "after" : "before"} frame ${from}`);
    return;
  }
  seekFrame(target);
  say(`peak at frame ${target} (score ${scoreAt(target).toFixed(3)}): G glances it`);
}

// The curve over the timeline: scores per frame, the part above the threshold shaded, peaks marked.
function drawCurve() {
  const canvas = $("curve");
  const timeline = $("timeline");
  timeline.classList.toggle("with-curve", Boolean(app.model));
  const width = timeline.clientWidth;
  const height = timeline.clientHeight;
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  canvas.dataset.points = "0";
  if (!app.scores || !app.video) return;
  const { scores, frames_per_snippet: step } = app.scores;
  const span = Math.max(app.video.frames - 1, 1);
  const x = (frame) => (frame / span) * width;
  const y = (score) => height - 2 - score * (height - 4);
  const path = new Path2D();
  const last = app.video.frames - 1;
  scores.forEach((s, i) => {
    const start = Math.min(i * step, last);
    const end = i === scores.length - 1 ? last : Math.min((i + 1) * step, last);
    if (i === 0) path.moveTo(x(start), y(s)); else path.lineTo(x(start), y(s));
    path.lineTo(x(end), y(s));
  });
  const threshold = y(app.model.threshold);
  const area = new Path2D(path);
  area.lineTo(x(last), height);
  area.lineTo(0, height);
  area.closePath();
  ctx.save();
  ctx.beginPath();
  ctx.rect(0, 0, width, threshold);
  ctx.clip();
  ctx.fillStyle = "rgba(214, 40, 40, 0.35)";
  ctx.fill(area);
  ctx.restore();
  ctx.strokeStyle = "#555";
  ctx.setLineDash([3, 3]);
  ctx.beginPath();
  ctx.moveTo(0, threshold);
  ctx.lineTo(width, threshold);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.strokeStyle = "#b01818";
  ctx.lineWidth = 1.5;
  ctx.stroke(path);
  const open = new Set(unglancedPeaks().map((p) => p.frame));
  for (const peak of app.scores.peaks) {
    ctx.fillStyle = open.has(peak.frame) ? "#d60" : "#888";
    ctx.beginPath();
    ctx.moveTo(x(peak.frame) - 4, 0);
    ctx.lineTo(x(peak.frame) + 4, 0);
    ctx.lineTo(x(peak.frame), 7);
    ctx.fill();
  }
  canvas.dataset.points = String(scores.length);
  canvas.dataset.peaks = app.scores.peaks.map((p) => p.frame).join(",");
  canvas.dataset.unglanced = [...open].sort((a, b) => a - b).join(",");
}

// Review mode: a reviewer moves the selected proposal (a model's, say) to the frame shown.
function moveSelected() {
  if (app.selected === null) { say("select a proposed glance first (click it, or N / P)"); return undefined; }
  const id = app.selected;
  const frame = currentFrame();
  return serial(() => moveGlanceNow(id, frame));
}

async function moveGlanceNow(id, frame) {
  if (!app.reviewer) { say(`only reviewers move glances; ${app.annotator} is not one`, true); return; }
  const done = await act(`move glance #${id}`, (revision) =>
    api("POST", `/api/glances/${id}/move`, { reviewer: app.annotator, frame, revision }), id);
  if (done) {
    app.selected = done.id;
    await afterChange();
    saved(`moved glance #${id} to frame ${frame}: accepted there as #${done.id}, the proposal rejected · saved`);
  }
}

// ---------------------------------------------------------------- keyboard and controls

// Keys reach the page everywhere except where text is typed (the filter, the frame box, the name).
function typing(target) {
  const tag = (target.tagName || "").toLowerCase();
  return tag === "textarea" || (tag === "input" && !["radio", "checkbox", "button"].includes(target.type));
}

function onKey(event) {
  const key = event.key;
  if (typing(event.target)) {
    if (key === "Escape" || (key === "Enter" && event.target.id === "filter")) event.target.blur();
    return;
  }
  if (!$("ask").hidden) {
    if (key === "y" || key === "Y") { event.preventDefault(); answer(true); }
    if (key === "Escape" || key === "n" || key === "N") { event.preventDefault(); answer(false); }
    return;
  }
  if (key === "?") { toggleHelp(); event.preventDefault(); return; }
  if (key === "Escape") { $("help").hidden = true; return; }
  if ((key === "q" || key === "Q") && !event.ctrlKey && !event.metaKey && !event.altKey) { nextForReview(); return; }
  if (!app.video) return;
  if (key === " ") { event.preventDefault(); if (player.paused) player.play(); else player.pause(); return; }
  if (key === "ArrowLeft" || key === "ArrowRight") {
    event.preventDefault();
    const step = (event.shiftKey ? 10 : 1) * (key === "ArrowLeft" ? -1 : 1);
    seekFrame(currentFrame() + step, Math.sign(step));
    return;
  }
  if (key === "ArrowUp" || key === "ArrowDown") { event.preventDefault(); return; }  // never a select's option
  if (key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); doneAndNext(); return; }
  if ((key === "z" || key === "Z") && (event.ctrlKey || event.metaKey)) { event.preventDefault(); undo(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  switch (key.toLowerCase()) {
    case "g": event.preventDefault(); addGlance(); break;
    case "delete": case "backspace": event.preventDefault(); deleteSelected(); break;
    case "n": neighbour(1); break;
    case "p": neighbour(-1); break;
    case "u": undo(); break;
    case "a": if (app.mode === "review") reviewAndMoveOn("accepted"); break;
    case "r": if (app.mode === "review") reviewAndMoveOn("rejected"); break;
    case "k": if (app.mode === "review") keepSelected(); break;
    case "m": if (app.mode === "review") moveSelected(); break;
    case ".": jumpToPeak(1); break;
    case ",": jumpToPeak(-1); break;
    case "[": setSpeed(-1); break;
    case "]": setSpeed(1); break;
    case "=": case "+": zoom(2); break;
    case "-": zoom(0.5); break;
    case "f": event.preventDefault(); $("goto").value = ""; $("goto").focus(); break;
    default: break;
  }
}

function toggleHelp() { $("help").hidden = !$("help").hidden; }

function wireControls() {
  document.addEventListener("keydown", onKey);
  document.querySelectorAll("[data-step]").forEach((button) =>
    button.addEventListener("click", () => seekFrame(currentFrame() + Number(button.dataset.step))));
  $("play").addEventListener("click", () => (player.paused ? player.play() : player.pause()));
  $("glance").addEventListener("click", addGlance);
  $("delete").addEventListener("click", deleteSelected);
  $("undo").addEventListener("click", undo);
  $("no-anomaly").addEventListener("click", () => setState("no_anomaly").then(afterChange));
  $("done").addEventListener("click", doneAndNext);
  $("next-review").addEventListener("click", nextForReview);
  $("ask-yes").addEventListener("click", () => answer(true));
  $("ask-no").addEventListener("click", () => answer(false));
  $("zoom-in").addEventListener("click", () => zoom(2));
  $("zoom-out").addEventListener("click", () => zoom(0.5));
  $("show-help").addEventListener("click", toggleHelp);
  $("close-help").addEventListener("click", toggleHelp);
  $("filter").addEventListener("input", renderVideos);
  $("queue-only").addEventListener("change", () => { $("queue-only").blur(); renderVideos(); });
  $("state-filter").addEventListener("change", () => { renderVideos(); $("state-filter").blur(); });
  $("order").addEventListener("change", () => { $("order").blur(); loadVideos(); });
  window.addEventListener("resize", drawCurve);
  $("goto-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const frame = Number($("goto").value);
    $("goto").blur();
    if (!app.video || !Number.isInteger(frame) || frame < 0 || frame >= app.video.frames) {
      say(`go to frame: give a whole number from 0 to ${app.video ? app.video.frames - 1 : "the last frame"}`, true);
      return;
    }
    seekFrame(frame);
  });
  // a click seeks and puts the thumbnail away (it would cover the picture); moving the mouse brings it back
  $("timeline").addEventListener("click", (event) => { hideThumbnail(); if (app.video) seekFrame(frameUnder(event)); });
  $("timeline").addEventListener("mousemove", showThumbnail);
  $("timeline").addEventListener("mouseleave", hideThumbnail);
  $("timeline-wrap").addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    zoom(event.deltaY < 0 ? 2 : 0.5);
  }, { passive: false });
  $("thumb-video").addEventListener("seeked", drawThumbnail);
  $("show-others").checked = app.others;
  $("show-others").addEventListener("change", async () => {
    $("show-others").blur();
    app.others = $("show-others").checked;
    localStorage.setItem("glancevad.others", app.others ? "1" : "0");
    await refresh();
  });
  document.querySelectorAll("input[name=mode]").forEach((radio) => radio.addEventListener("change", async () => {
    radio.blur();  // the switch never keeps the keyboard: → steps a frame, N goes to the next glance
    app.mode = radio.value;
    document.body.classList.toggle("reviewing", app.mode === "review");
    renderVideos();
    app.selected = null;
    await refresh();
  }));
  $("change-annotator").addEventListener("click", () => { $("who").hidden = false; $("who-name").focus(); });
  $("who-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("who-name").value.trim();
    const me = await act(`annotator ${name}`, () => api("POST", "/api/annotators", { name }));
    if (!me) return;
    setAnnotator(me);
    $("who").hidden = true;
    await loadVideos();
    if (app.video) await openVideo(app.video.id);
  });
  // buttons give the keyboard back to the page
  document.querySelectorAll("button").forEach((button) => button.addEventListener("mouseup", () => button.blur()));
}

function setAnnotator(me) {
  app.annotator = me.name;
  app.reviewer = me.reviewer;
  localStorage.setItem("glancevad.annotator", me.name);
  $("annotator-name").textContent = me.name + (me.reviewer ? " (reviewer)" : "");
}

async function start() {
  // the token has become a cookie: take it out of the address bar (and the history)
  const query = new URLSearchParams(location.search);
  if (query.has("token")) {
    query.delete("token");
    history.replaceState(null, "", location.pathname + (query.toString() ? `?${query}` : "") + location.hash);
  }
  wireControls();
  followPlayback();
  setInterval(poll, 2000);
  app.model = (await api("GET", "/api/config")).model;
  $("order").hidden = !app.model;
  $("score-info").hidden = !app.model;
  $("model-status").hidden = !app.model;
  const me = app.annotator ? await api("POST", "/api/annotators", { name: app.annotator }).catch(() => null) : null;
  if (!me) { $("who").hidden = false; $("who-name").focus(); return; }
  setAnnotator(me);
  await loadRoles();
  await loadVideos();
  say(`${app.videos.length} videos · press ? for the shortcuts`);
  const kept = new URLSearchParams(location.hash.slice(1));  // the last video and frame, kept over a reload
  if (kept.get("video") && app.videos.some((v) => v.id === kept.get("video"))) {
    await openVideo(kept.get("video"), Number(kept.get("frame")) || 0);
  }
}

start().catch((error) => say(`could not start: ${error.message}`, true));
