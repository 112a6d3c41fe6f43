// glancevad annotate: the page. Every action goes to the server at once (autosave); the page
// keeps no state the server does not have, so a reload shows exactly what is stored.
"use strict";

const $ = (id) => document.getElementById(id);
const player = $("player");

const app = {
  annotator: localStorage.getItem("glancevad.annotator") || "",
  mode: "annotate",
  videos: [],
  video: null,        // {id, frames, fps, ...}
  glances: [],        // glances shown on the timeline and in the list
  selected: null,     // id of the selected glance
  review: null,
};

// ---------------------------------------------------------------- server calls

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const data = await response.json();
      detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    } catch (_) { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response.json();
}

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function act(label, fn) {
  try {
    const result = await fn();
    say(`${label} · saved`);
    return result;
  } catch (error) {
    say(`${label} failed: ${error.message}`, true);
    return undefined;
  }
}

// ---------------------------------------------------------------- frames and time

function currentFrame() {
  if (!app.video) return 0;
  const frame = Math.floor(player.currentTime * app.video.fps + 1e-6);
  return Math.max(0, Math.min(app.video.frames - 1, frame));
}

function seekFrame(frame) {
  if (!app.video) return;
  const target = Math.max(0, Math.min(app.video.frames - 1, frame));
  player.pause();
  // the middle of the frame's display interval, so that rounding never lands on a neighbour
  player.currentTime = (target + 0.5) / app.video.fps;
  showFrame(target);
}

function showFrame(frame = currentFrame()) {
  if (!app.video) return;
  $("frame").textContent = frame;
  $("time").textContent = player.currentTime.toFixed(3);
  const span = Math.max(app.video.frames - 1, 1);
  $("playhead").style.left = `${(100 * frame) / span}%`;
}

function followPlayback() {
  if ("requestVideoFrameCallback" in player) {
    const onFrame = (_, metadata) => {
      if (app.video) showFrame(Math.min(app.video.frames - 1, Math.floor(metadata.mediaTime * app.video.fps + 1e-6)));
      player.requestVideoFrameCallback(onFrame);
    };
    player.requestVideoFrameCallback(onFrame);
  }
  player.addEventListener("timeupdate", () => showFrame());
  player.addEventListener("seeked", () => showFrame());
  player.addEventListener("play", () => { $("play").textContent = "pause"; });
  player.addEventListener("pause", () => { $("play").textContent = "play"; showFrame(); });
  player.addEventListener("error", () => {
    say("this browser cannot play the file: convert it to H.264 MP4 or VP8/VP9 WebM", true);
  });
}

// ---------------------------------------------------------------- videos

function stateBadge(state) {
  return `<span class="badge ${state}">${state.replace("_", " ")}</span>`;
}

function visibleVideos() {
  const text = $("filter").value.trim().toLowerCase();
  const state = $("state-filter").value;
  return app.videos.filter((v) => v.id.toLowerCase().includes(text) && (!state || v.state === state));
}

function renderVideos() {
  const list = $("videos");
  list.innerHTML = "";
  for (const video of visibleVideos()) {
    const item = document.createElement("li");
    item.dataset.id = video.id;
    item.className = app.video && app.video.id === video.id ? "current" : "";
    item.innerHTML = `<span class="name"></span><span>${stateBadge(video.state)} <span class="count">${video.glances}</span></span>`;
    item.querySelector(".name").textContent = video.id;
    item.addEventListener("click", () => openVideo(video.id));
    list.appendChild(item);
  }
}

async function loadVideos() {
  app.videos = await api("GET", `/api/videos?annotator=${encodeURIComponent(app.annotator)}`);
  renderVideos();
}

async function openVideo(id) {
  const info = await api("GET", `/api/videos/${encodeURIComponent(id)}?annotator=${encodeURIComponent(app.annotator)}`);
  app.video = info;
  app.selected = null;
  $("title").textContent = info.id;
  $("frames").textContent = info.frames;
  $("fps").textContent = info.fps.toFixed(3);
  const copy = info.browser_copy ? `; playing an H.264 copy of this ${info.codec} file, frame for frame` : "";
  $("mapping").textContent = `mapping: ${info.frame_mapping} (fps ${info.fps.toFixed(3)} probed with PyAV${copy})`;
  $("help-mapping").textContent = info.frame_mapping;
  $("state").textContent = info.state;
  player.src = `/api/videos/${encodeURIComponent(id)}/stream`;
  await new Promise((resolve) => {
    player.addEventListener("loadedmetadata", resolve, { once: true });
    player.addEventListener("error", resolve, { once: true });
  });
  seekFrame(0);
  await refresh();
  renderVideos();
}

// ---------------------------------------------------------------- glances

async function refresh() {
  if (!app.video) return;
  const id = encodeURIComponent(app.video.id);
  if (app.mode === "review") {
    app.review = await api("GET", `/api/videos/${id}/review`);
    app.glances = Object.values(app.review.annotators).flatMap((a) => a.glances);
    app.glances.sort((a, b) => a.frame - b.frame || a.id - b.id);
  } else {
    app.glances = await api("GET", `/api/videos/${id}/glances?annotator=${encodeURIComponent(app.annotator)}`);
  }
  if (!app.glances.some((g) => g.id === app.selected)) app.selected = null;
  renderGlances();
  renderReview();
  const summary = app.videos.find((v) => v.id === app.video.id);
  if (summary) {
    summary.glances = app.glances.filter((g) => g.status !== "rejected" && (app.mode === "review" || g.annotator === app.annotator)).length;
  }
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
  timeline.querySelectorAll(".tick").forEach((tick) => tick.remove());
  const span = Math.max(app.video.frames - 1, 1);
  for (const glance of app.glances) {
    const tick = document.createElement("div");
    tick.className = `tick${glance.id === app.selected ? " selected" : ""}${glance.status === "rejected" ? " rejected" : ""}`;
    tick.style.left = `${(100 * glance.frame) / span}%`;
    tick.title = `frame ${glance.frame} (${glance.annotator}, ${glance.status})`;
    tick.dataset.frame = glance.frame;
    tick.addEventListener("click", (event) => { event.stopPropagation(); select(glance.id); });
    timeline.appendChild(tick);
  }
  const list = $("glances");
  list.innerHTML = "";
  for (const glance of app.glances) {
    const item = document.createElement("li");
    item.dataset.id = glance.id;
    item.dataset.frame = glance.frame;
    item.className = glance.id === app.selected ? "selected" : "";
    const seconds = (glance.frame / app.video.fps).toFixed(2);
    item.textContent = `frame ${glance.frame} · ${seconds} s · ${glance.annotator} · ${glance.status}`;
    item.addEventListener("click", () => select(glance.id));
    list.appendChild(item);
  }
  $("glance-count").textContent = `(${app.glances.length})`;
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
  if (app.review.disagreement.length) {
    flags.push(`⚠ disagreement: ${app.review.disagreement.join(", ")} marked "no anomaly" but others glanced this video`);
  }
  if (app.review.duplicates.length) {
    flags.push(`⚠ ${app.review.duplicates.length} pair(s) of glances within ${app.review.duplicate_frames} frames: possible duplicates`);
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
    for (const glance of data.glances) {
      const item = document.createElement("li");
      item.dataset.id = glance.id;
      item.className = glance.id === app.selected ? "selected" : "";
      const dup = duplicates.has(glance.id) ? ` <span class="flag" title="within ${app.review.duplicate_frames} frames of #${duplicates.get(glance.id).join(", #")}">⚠ duplicate?</span>` : "";
      item.innerHTML = `<span class="status-${glance.status}">#${glance.id} frame ${glance.frame} (${glance.status})</span>${dup} `
        + `<button type="button" data-review="accepted">accept</button> <button type="button" data-review="rejected">reject</button>`;
      item.addEventListener("click", (event) => {
        const verdict = event.target.dataset && event.target.dataset.review;
        if (verdict) reviewGlance(glance.id, verdict);
        else select(glance.id);
      });
      column.querySelector("ul").appendChild(item);
    }
    columns.appendChild(column);
  }
}

async function addGlance() {
  if (!app.video) return;
  const frame = currentFrame();
  const status = app.mode === "review" ? "accepted" : "proposed";
  const glance = await act(`glance at frame ${frame}`, () =>
    api("POST", `/api/videos/${encodeURIComponent(app.video.id)}/glances`, { annotator: app.annotator, frame, status }));
  if (glance) {
    app.selected = glance.id;
    await afterChange();
  }
}

async function deleteSelected() {
  if (app.selected === null) { say("select a glance first (click it, or N / P)"); return; }
  const id = app.selected;
  const done = await act(`delete glance #${id}`, () =>
    api("DELETE", `/api/glances/${id}?annotator=${encodeURIComponent(app.annotator)}`));
  if (done) { app.selected = null; await afterChange(); }
}

async function reviewGlance(id, status) {
  const done = await act(`${status} glance #${id}`, () =>
    api("POST", `/api/glances/${id}/review`, { reviewer: app.annotator, status }));
  if (done) { app.selected = id; await afterChange(); }
}

async function undo() {
  const result = await act("undo", () => api("POST", "/api/undo", { annotator: app.annotator }));
  if (result) {
    say(result.undone ? `undid ${result.undone.kind}` : "nothing to undo");
    if (result.undone && result.undone.kind === "state" && app.video && result.undone.video === app.video.id) {
      $("state").textContent = result.undone.state;
    }
    await afterChange();
  }
}

async function setState(state) {
  if (!app.video) return undefined;
  const result = await act(`mark ${state.replace("_", " ")}`, () =>
    api("POST", `/api/videos/${encodeURIComponent(app.video.id)}/state`, { annotator: app.annotator, state }));
  if (result) $("state").textContent = result.state;
  return result;
}

async function doneAndNext() {
  if (!app.video || !(await setState("done"))) return;
  const current = app.video.id;
  await loadVideos();
  const order = visibleVideos();
  const index = order.findIndex((v) => v.id === current);
  const next = order.slice(index + 1).concat(order.slice(0, index)).find((v) => v.state !== "done" && v.state !== "no_anomaly");
  if (next) await openVideo(next.id);
  else say("every video in the list is done");
}

async function afterChange() {
  await refresh();
  await loadVideos();
  if (app.video) {
    const info = app.videos.find((v) => v.id === app.video.id);
    if (info && app.mode === "annotate") $("state").textContent = info.state;
  }
}

function neighbour(direction) {
  if (!app.glances.length) return;
  const selected = app.glances.find((g) => g.id === app.selected);
  const from = selected ? selected.frame : currentFrame();
  const ordered = direction > 0 ? app.glances : [...app.glances].reverse();
  const target = ordered.find((g) => (direction > 0 ? g.frame > from : g.frame < from))
    || (selected ? null : ordered[0]);
  if (target) select(target.id);
}

// ---------------------------------------------------------------- keyboard and controls

function onKey(event) {
  const tag = (event.target.tagName || "").toLowerCase();
  if (tag === "input" || tag === "select" || tag === "textarea") return;
  const key = event.key;
  if (key === "?") { toggleHelp(); event.preventDefault(); return; }
  if (key === "Escape") { $("help").hidden = true; return; }
  if (!app.video) return;
  if (key === " ") { event.preventDefault(); if (player.paused) player.play(); else player.pause(); return; }
  if (key === "ArrowLeft" || key === "ArrowRight") {
    event.preventDefault();
    const step = (event.shiftKey ? 10 : 1) * (key === "ArrowLeft" ? -1 : 1);
    seekFrame(currentFrame() + step);
    return;
  }
  if (key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); doneAndNext(); return; }
  if ((key === "z" || key === "Z") && (event.ctrlKey || event.metaKey)) { event.preventDefault(); undo(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  switch (key.toLowerCase()) {
    case "g": event.preventDefault(); addGlance(); break;
    case "delete": case "backspace": event.preventDefault(); deleteSelected(); break;
    case "n": neighbour(1); break;
    case "p": neighbour(-1); break;
    case "u": undo(); break;
    case "a": if (app.mode === "review" && app.selected !== null) reviewGlance(app.selected, "accepted"); break;
    case "r": if (app.mode === "review" && app.selected !== null) reviewGlance(app.selected, "rejected"); break;
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
  $("show-help").addEventListener("click", toggleHelp);
  $("close-help").addEventListener("click", toggleHelp);
  $("filter").addEventListener("input", renderVideos);
  $("state-filter").addEventListener("change", renderVideos);
  $("timeline").addEventListener("click", (event) => {
    if (!app.video) return;
    const box = $("timeline").getBoundingClientRect();
    seekFrame(Math.round(((event.clientX - box.left) / box.width) * (app.video.frames - 1)));
  });
  document.querySelectorAll("input[name=mode]").forEach((radio) => radio.addEventListener("change", async () => {
    app.mode = radio.value;
    app.selected = null;
    await refresh();
  }));
  $("change-annotator").addEventListener("click", () => { $("who").hidden = false; $("who-name").focus(); });
  $("who-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("who-name").value.trim();
    const ok = await act(`annotator ${name}`, () => api("POST", "/api/annotators", { name }));
    if (!ok) return;
    app.annotator = name;
    localStorage.setItem("glancevad.annotator", name);
    $("annotator-name").textContent = name;
    $("who").hidden = true;
    await loadVideos();
    if (app.video) await openVideo(app.video.id);
  });
  // one blur so that keys reach the page, not a focused button
  document.querySelectorAll("button").forEach((button) => button.addEventListener("mouseup", () => button.blur()));
}

async function start() {
  wireControls();
  followPlayback();
  const known = await api("GET", "/api/annotators");
  if (!app.annotator || !known.includes(app.annotator)) {
    if (app.annotator) await api("POST", "/api/annotators", { name: app.annotator }).catch(() => null);
  }
  if (!app.annotator) { $("who").hidden = false; $("who-name").focus(); return; }
  $("annotator-name").textContent = app.annotator;
  await loadVideos();
  say(`${app.videos.length} videos · press ? for the shortcuts`);
}

start().catch((error) => say(`could not start: ${error.message}`, true));
