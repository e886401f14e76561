// The editor dashboard's "Batch AI" panel: starts a batch job with POST /aiwriter/jobs/, then shows
// its progress as the AI writer's WebSocket pushes it (job_progress messages), reading the job's
// state over HTTP when the socket is not open, and cancels the items not yet started.
"use strict";

(() => {
  const panel = document.querySelector("[data-ai-jobs]");
  if (!panel) return;

  const form = panel.querySelector("[data-jobs-form]");
  const message = panel.querySelector("[data-jobs-message]");
  const connection = panel.querySelector("[data-jobs-connection]");
  const box = panel.querySelector("[data-job]");
  const progress = box.querySelector("[data-job-progress]");
  const cancelButton = box.querySelector("[data-job-cancel]");
  const itemList = box.querySelector("[data-job-items]");
  const POLL_MS = 2000;
  // A cancelled job still finishes the posts already started: it has ended only once the server says so.
  const ended = (summary) => Boolean(summary.ended);
  let job = null;
  let socket = null;
  let pollTimer = null;

  const csrfToken = () => form.querySelector("input[name=csrfmiddlewaretoken]").value;

  function say(text, tone = "") {
    message.textContent = text;
    message.dataset.tone = tone;
  }

  async function request(url, options = {}) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      ...options,
    });
    let body = {};
    try {
      body = await response.json();
    } catch {
      throw new Error(`The server answered ${response.status} without details. Try again.`);
    }
    if (!response.ok) throw new Error(body.message || `The server answered ${response.status}.`);
    return body;
  }

  function showJob(summary) {
    job = { ...(job && job.id === summary.id ? job : {}), ...summary };
    box.hidden = false;
    box.querySelector("[data-job-title]").textContent = `Job ${summary.id}: ${summary.action_label}`;
    const still = summary.total - summary.finished;
    box.querySelector("[data-job-status]").textContent =
      summary.status === "cancelled" && !ended(summary)
        ? `(Cancelled; ${still} already started ${still === 1 ? "is" : "are"} finishing)`
        : `(${summary.status_label})`;
    progress.max = Math.max(summary.total, 1);
    progress.value = summary.finished;
    progress.textContent = `${summary.finished} of ${summary.total}`;
    const parts = [`${summary.finished} of ${summary.total} posts processed`, `${summary.done} changed`];
    if (summary.skipped) parts.push(`${summary.skipped} skipped`);
    if (summary.failed) parts.push(`${summary.failed} failed`);
    if (summary.cancelled) parts.push(`${summary.cancelled} cancelled`);
    box.querySelector("[data-job-counts]").textContent = `${parts.join(", ")}.`;
    cancelButton.hidden = ended(summary) || summary.status === "cancelled";
    if (ended(summary)) stopPolling();
  }

  // The job's final state: from the event that ended it, or read again when that event had no items.
  function jobEnded(items) {
    if (items) items.forEach(showItem);
    else refresh();
  }

  function showItem(item) {
    let row = itemList.querySelector(`[data-item="${item.id}"]`);
    if (!row) {
      row = document.createElement("li");
      row.dataset.item = item.id;
      itemList.append(row);
    }
    const detail = item.error || item.result;
    row.textContent = `${item.title}: ${item.status_label}${detail ? ` (${detail})` : ""}`;
    row.dataset.status = item.status;
  }

  async function refresh() {
    if (!job) return;
    try {
      const body = await request(job.url, { method: "GET" });
      showJob(body.job);
      body.job.items.filter((item) => item.status !== "queued").forEach(showItem);
    } catch (error) {
      connection.textContent = error.message;
    }
  }

  function startPolling() {
    stopPolling();
    // The socket pushes each change; polling covers the time it is closed, and catches up after.
    pollTimer = window.setInterval(() => {
      if (!socket || socket.readyState !== WebSocket.OPEN) refresh();
    }, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer) window.clearInterval(pollTimer);
    pollTimer = null;
  }

  function openSocket(attempt = 0) {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${window.location.host}${panel.dataset.socketPath}`);
    socket.addEventListener("open", () => {
      connection.textContent = "Live.";
      attempt = 0;
      refresh();
    });
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.type !== "job_progress" || !job || data.job.id !== job.id) return;
      const wasEnded = ended(job);
      showJob(data.job);
      if (data.item) showItem(data.item);
      if (ended(data.job) && !wasEnded) jobEnded(data.items);
    });
    socket.addEventListener("close", (event) => {
      connection.textContent = "Updating every few seconds.";
      if (event.code === 4401) return; // signed out: reconnecting would be refused again
      window.setTimeout(() => openSocket(attempt + 1), Math.min(30000, 1000 * 2 ** attempt));
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const missing = event.submitter && event.submitter.value === "missing";
    const postIds = [...form.querySelectorAll("input[name=post_ids]:checked")].map((box) => Number(box.value));
    if (!missing && postIds.length === 0) {
      say("Tick the posts to process first, or run on all posts missing the field.", "error");
      return;
    }
    const payload = { action: form.elements.action.value, overwrite: form.elements.overwrite.checked };
    if (missing) payload.missing = true;
    else payload.post_ids = postIds;
    say("Starting…");
    try {
      const body = await request(panel.dataset.startUrl, { method: "POST", body: JSON.stringify(payload) });
      itemList.replaceChildren();
      job = null;
      showJob(body.job);
      say(`Job ${body.job.id} started over ${body.job.total} posts.`, "ok");
      startPolling();
    } catch (error) {
      say(error.message, "error");
    }
  });

  cancelButton.addEventListener("click", async () => {
    if (!job) return;
    cancelButton.disabled = true;
    try {
      const body = await request(job.cancel_url, { method: "POST", body: "{}" });
      showJob(body.job);
      say("Cancelled: posts already being processed finish, the rest are left alone.", "ok");
      // Until the posts already started finish, the page keeps following the job.
      if (!ended(body.job)) startPolling();
      refresh();
    } catch (error) {
      say(error.message, "error");
    } finally {
      cancelButton.disabled = false;
    }
  });

  openSocket();
  if (panel.dataset.latestUrl) {
    job = { url: panel.dataset.latestUrl };
    refresh().then(() => {
      if (job && job.status && !ended(job)) startPolling();
    });
  }
})();
