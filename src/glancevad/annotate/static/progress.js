// glancevad annotate: the team's progress, per annotator and per video (read only; redrawn every 5 s).
"use strict";

function cell(row, text, className = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function bar(row, done, total) {
  const td = cell(row, "");
  const outer = document.createElement("div");
  outer.className = "bar";
  const inner = document.createElement("div");
  inner.style.width = `${total ? (100 * done) / total : 0}%`;
  outer.appendChild(inner);
  td.appendChild(outer);
}

function draw(report) {
  const people = document.querySelector("#annotators tbody");
  people.innerHTML = "";
  for (const a of report.annotators) {
    const row = document.createElement("tr");
    row.dataset.annotator = a.annotator;
    cell(row, a.annotator);
    cell(row, a.assigned ? `${a.assigned} assigned` : "every video");
    cell(row, `${a.done} of ${a.queue} done`, "done");
    bar(row, a.done, a.queue);
    for (const key of ["glanced", "glances", "accepted", "rejected", "unreviewed"]) cell(row, String(a[key]), key);
    people.appendChild(row);
  }
  const videos = document.querySelector("#videos tbody");
  videos.innerHTML = "";
  for (const v of report.videos) {
    const row = document.createElement("tr");
    row.dataset.video = v.video;
    if (v.needs_review.length) row.className = "needs-review";
    cell(row, v.video);
    cell(row, v.assigned.join(", ") || "–", "assigned");
    cell(row, v.glanced_by.join(", ") || "–", "glanced-by");
    cell(row, v.done_by.join(", ") || "–", "done-by");
    for (const key of ["glances", "reviewed", "unreviewed"]) cell(row, String(v[key]), key);
    cell(row, v.needs_review.length ? `⚑ ${v.needs_review.join(", ")}` : "–", "needs");
    videos.appendChild(row);
  }
  const glances = report.videos.reduce((n, v) => n + v.glances, 0);
  const pending = report.videos.filter((v) => v.needs_review.length).length;
  document.getElementById("summary").textContent =
    `${report.videos.length} videos · ${glances} glances · ${pending} video(s) need review`;
  document.getElementById("updated").textContent = `as of ${new Date().toLocaleTimeString()} (redrawn every 5 s)`;
}

async function load() {
  try {
    const response = await fetch("/api/progress/report");
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    draw(await response.json());
  } catch (error) {
    document.getElementById("updated").textContent = `could not load the progress: ${error.message}`;
  }
}

load();
setInterval(load, 5000);
