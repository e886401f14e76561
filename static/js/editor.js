/**
 * The post editor page (templates/editor/post_form.html): live Markdown preview, autosave,
 * a copy of unsaved text kept in this browser, counters, tag suggestions, and the API that
 * panels of other apps (such as the AI writer) use to work with the text.
 *
 * The page works without this script (plain POST); everything here is an addition.
 *
 * Panel API: window.blogsiteEditor, set when this module has run. Modules run after the
 * page is parsed, so a panel script that may run first waits for the ready event:
 *
 *   function start(editor) { ... }
 *   if (window.blogsiteEditor) start(window.blogsiteEditor);
 *   else document.addEventListener("blogsite:editor-ready", (event) => start(event.detail), { once: true });
 *
 *   getBody()              the body's Markdown
 *   getTitle()             the title
 *   getSelection()         the selected body text ("" when nothing is selected); the body keeps
 *                          its selection while focus is in a panel
 *   getSelectionRange()    { start, end } offsets of the selection (equal: the caret)
 *   insertAtCursor(text)   insert at the caret; with a selection, after it (the selection stays)
 *   replaceSelection(text) replace the selected text (at the caret when nothing is selected)
 *   append(text)           add text at the end of the body
 *   setField(name, value)  set title, excerpt, tags, meta_title or meta_description
 *   canSetField(name)      whether setField accepts that name (false for a slug fixed by publishing)
 *   postId()               the post's id, or null until a new post is first saved
 *
 * Every change made through the API goes through the same handling as typing (an "input"
 * event), so the preview, autosave and the local copy see it, and the browser's undo
 * history keeps it where the browser allows.
 */

const AUTOSAVE_DELAY_MS = 3000;
const PREVIEW_DELAY_MS = 500;
const LOCAL_COPY_DELAY_MS = 300;
const RETRY_MAX_MS = 60000;
// Browsers refuse keepalive requests over 64 KiB; larger text stays in the local copy.
const KEEPALIVE_MAX_BYTES = 60000;
const FIELDS = [
  "title", "slug", "body", "excerpt", "cover_image_url", "tags", "meta_title", "meta_description", "canonical_url",
];
const encoder = new TextEncoder();
// The editing session names one editor page: the server never takes that page's own saves for
// someone else's. Each page starts a new one; the tab remembers it (sessionStorage), so a page
// reloaded before its text was saved takes that text and its session back.
const EDITING_SESSION_KEY = "blogsite:editor:editing-session";

const form = document.getElementById("post-form");
if (form) {
  startEditor(form);
}

function startEditor(form) {
  const config = JSON.parse(document.getElementById("editor-config").textContent);
  const body = document.getElementById("id_body");
  const ui = findElements();
  const state = {
    postId: config.postId,
    autosave: config.autosave,
    conflict: config.conflict,
    dirty: config.unsaved,
    submitting: false,
    signingOut: false,
    inFlight: null,
    inFlightText: null,
    retryMs: 5000,
    timers: {},
    previewRequest: null,
    session: null,
  };
  const previousSession = tabEditingSession();
  adoptSession(newSessionId());

  // --- save state ----------------------------------------------------------------------

  function showState(kind, text) {
    ui.saveState.dataset.state = kind;
    ui.saveState.textContent = text;
  }

  function clockTime(value) {
    return new Date(value).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // --- the local copy ------------------------------------------------------------------

  // Copies are filed under the person (config.localCopyPrefix), so the next person in a shared
  // browser is never offered them; signing out clears them too (Clear-Site-Data).
  function localKey(id = state.postId) {
    return `${config.localCopyPrefix}${id ?? "new"}`;
  }

  // Copies kept before they were filed under a person cannot tell whose they are: they go.
  function forgetUnfiledCopies() {
    try {
      const unfiled = Object.keys(localStorage).filter((key) => /^blogsite:editor:(new|\d+)$/.test(key));
      for (const key of unfiled) localStorage.removeItem(key);
    } catch {
      // Storage blocked: there is nothing to forget.
    }
  }

  function snapshot() {
    const fields = {};
    for (const name of FIELDS) {
      const element = form.elements[name];
      if (element && !element.disabled) fields[name] = element.value;
    }
    return fields;
  }

  // Compares the text as the server keeps it (titles trimmed, tags tidied), so a copy that
  // only differs in spacing the server removes is not offered back.
  function normalized(name, value) {
    const text = String(value ?? "").replaceAll("\r\n", "\n");
    if (name === "body") return text;
    if (name === "tags") return text.split(",").map((tag) => tag.trim().replace(/\s+/g, " ")).filter(Boolean).join(",");
    return text.trim();
  }

  function sameText(a, b) {
    return FIELDS.every((name) => !(name in a) || !(name in b) || normalized(name, a[name]) === normalized(name, b[name]));
  }

  function readLocal(key = localKey()) {
    try {
      const stored = JSON.parse(localStorage.getItem(key));
      return stored && typeof stored.fields === "object" ? stored : null;
    } catch {
      return null;
    }
  }

  function writeLocal() {
    clearTimeout(state.timers.local);
    if (state.signingOut) return false; // a copy written now would outlive the sign-out's clearing
    try {
      const copy = {
        fields: snapshot(),
        version: form.elements.version.value,
        session: state.session,
        savedAt: Date.now(),
      };
      localStorage.setItem(localKey(), JSON.stringify(copy));
      return true;
    } catch {
      showState("error", "Could not keep a copy in this browser (storage full or blocked).");
      return false;
    }
  }

  function removeLocal(key = localKey()) {
    try {
      localStorage.removeItem(key);
    } catch {
      // Storage blocked: there is nothing to remove.
    }
  }

  function offerLocalCopy() {
    if (config.unsaved) {
      writeLocal(); // the server did not take this text: keep it until it is saved
      return;
    }
    const server = snapshot();
    // A new post saved with a plain POST leaves its copy under "new"; drop it once it is here.
    const newCopy = state.postId !== null ? readLocal(localKey(null)) : null;
    if (newCopy && sameText(newCopy.fields, server)) removeLocal(localKey(null));
    const stored = readLocal();
    if (!stored) return;
    if (sameText(stored.fields, server)) {
      removeLocal();
      return;
    }
    if (validSession(stored.session) && stored.session === previousSession) {
      // Typed in this tab before it reloaded, perhaps while its last save was on its way: the
      // text goes back in place, and its saves build on that page's own (the server checks).
      restoreLocal(stored);
      showState("unsaved", "Your unsaved text from before the reload is back");
      return;
    }
    ui.offerTime.textContent = new Date(stored.savedAt).toLocaleString();
    ui.offer.hidden = false;
    ui.offer.querySelector("[data-local=restore]").addEventListener("click", () => restoreLocal(stored), { once: true });
    ui.offer.querySelector("[data-local=discard]").addEventListener("click", () => {
      removeLocal();
      ui.offer.hidden = true;
    }, { once: true });
  }

  function restoreLocal(stored) {
    for (const [name, value] of Object.entries(stored.fields)) {
      const element = form.elements[name];
      if (element && !element.disabled) element.value = value;
    }
    // Saving the restored text must be checked against the version it was written on, so
    // it cannot silently overwrite what someone saved since.
    if (stored.version) form.elements.version.value = stored.version;
    // The saves the copy's page made are its own: saving it from that session never conflicts with them.
    if (validSession(stored.session)) adoptSession(stored.session);
    ui.offer.hidden = true;
    changed();
  }

  // --- change handling -----------------------------------------------------------------

  function changed() {
    state.dirty = true;
    clearTimeout(state.timers.local);
    state.timers.local = setTimeout(writeLocal, LOCAL_COPY_DELAY_MS);
    clearTimeout(state.timers.preview);
    state.timers.preview = setTimeout(updatePreview, PREVIEW_DELAY_MS);
    updateCounters();
    if (state.conflict) {
      showState("conflict", "Conflict: kept in this browser");
    } else if (!state.autosave) {
      showState("unsaved", "Unsaved changes (kept in this browser): press Save");
    } else {
      showState("unsaved", "Unsaved changes");
      scheduleAutosave(AUTOSAVE_DELAY_MS);
    }
  }

  function bodyTooLarge() {
    return encoder.encode(body.value).length > config.maxBodyBytes;
  }

  function updateBodySize() {
    const bytes = encoder.encode(body.value).length;
    const tooLarge = bytes > config.maxBodyBytes;
    ui.bodySize.hidden = !tooLarge;
    if (tooLarge) {
      const kb = (n) => Math.ceil(n / 1000).toLocaleString();
      ui.bodySize.textContent =
        `The body is ${kb(bytes)} KB; a post holds at most ${kb(config.maxBodyBytes)} KB. ` +
        "It is kept in this browser, but it cannot be saved until it is shorter.";
    }
  }

  function updateCounters() {
    for (const counter of document.querySelectorAll("[data-counter-for]")) {
      const input = document.getElementById(counter.dataset.counterFor);
      const max = Number(counter.dataset.max);
      const length = [...input.value].length;
      counter.querySelector("[data-count]").textContent = String(length);
      counter.classList.toggle("near", length > max * 0.9 && length <= max);
      counter.classList.toggle("over", length > max);
    }
  }

  // --- preview -------------------------------------------------------------------------

  async function updatePreview() {
    updateBodySize();
    if (bodyTooLarge()) return;
    state.previewRequest?.abort();
    const request = new AbortController();
    state.previewRequest = request;
    ui.previewState.textContent = "updating…";
    try {
      const response = await postJson(config.previewUrl, { body: body.value }, { signal: request.signal });
      const data = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
      if (!response.ok) throw new Error(data.error || "The preview could not be made.");
      ui.preview.innerHTML = data.html; // sanitized on the server by posts.markdown
      ui.previewState.textContent = "";
    } catch (error) {
      if (error.name !== "AbortError") ui.previewState.textContent = `(not updated: ${offlineOr(error)})`;
    }
  }

  // --- autosave ------------------------------------------------------------------------

  function scheduleAutosave(delay) {
    clearTimeout(state.timers.autosave);
    state.timers.autosave = setTimeout(() => autosave(), delay);
  }

  function canAutosave() {
    if (!state.autosave || state.conflict || state.submitting || !state.dirty) return false;
    if (bodyTooLarge()) {
      showState("error", "Too long to save: kept in this browser");
      return false;
    }
    if (!form.elements.title.value.trim()) {
      showState("unsaved", "Kept in this browser: add a title to save");
      return false;
    }
    return true;
  }

  // As the page goes away (keepalive) the text is sent even while a save is on its way, since
  // the browser may drop that one; both come from this page's session, so neither conflicts with
  // the other. Not when that save already holds this text, nor while a new post is being
  // created: a second request would create a second post (the local copy keeps the text).
  function mustWait(sent) {
    if (!state.inFlight) return false;
    return state.postId === null || sameText(sent, state.inFlightText);
  }

  async function autosave({ keepalive = false } = {}) {
    if (state.inFlight && !keepalive) {
      scheduleAutosave(AUTOSAVE_DELAY_MS); // one request at a time; try again after this one
      return;
    }
    if (!canAutosave()) return;
    const sent = snapshot();
    if (mustWait(sent)) return;
    const payload = JSON.stringify({
      post_id: state.postId,
      version: Number(form.elements.version.value),
      editing_session: state.session,
      ...sent,
    });
    showState("saving", "Saving…");
    const request = sendAutosave(payload, sent, keepalive && encoder.encode(payload).length < KEEPALIVE_MAX_BYTES);
    state.inFlight = request;
    state.inFlightText = sent;
    try {
      await request;
    } finally {
      if (state.inFlight === request) {
        state.inFlight = null;
        state.inFlightText = null;
      }
    }
  }

  async function sendAutosave(payload, sent, keepalive) {
    let response;
    try {
      response = await fetch(config.autosaveUrl, requestOptions(payload, { keepalive }));
    } catch (error) {
      wentOffline(error);
      return;
    }
    const data = await response.json().catch(() => ({}));
    if (response.ok && data.version) {
      saved(data, sent);
    } else if (response.status === 409) {
      showConflict(data.current);
    } else if (response.status >= 500 || response.ok) {
      wentOffline(new Error(data.error || `server error ${response.status}`));
    } else if (response.status === 403 && !data.error) {
      // Django's CSRF refusal is an HTML page: the page's security token is no longer valid.
      showState("error", "Not saved: the page has expired. Reload it; your text is kept in this browser.");
    } else {
      // The server's message is a sentence of its own: no second full stop after it.
      const reason = (data.error || "the server refused the text").replace(/[.!?…]+$/, "");
      showState("error", `Not saved: ${reason}. Kept in this browser.`);
    }
  }

  function saved(data, sent) {
    state.retryMs = 5000;
    // Two saves of this page may answer out of order; the newer version is the one to build on.
    if (Number(data.version) >= Number(form.elements.version.value) || data.created) {
      form.elements.version.value = data.version;
    }
    if (data.created) adoptNewPost(data);
    if (sameText(snapshot(), sent)) {
      state.dirty = false;
      removeLocal();
      showState("saved", `Saved ${clockTime(data.saved_at)}`);
    } else {
      writeLocal();
      scheduleAutosave(AUTOSAVE_DELAY_MS); // typing went on while this save was on its way
    }
  }

  function adoptSession(session) {
    state.session = session;
    form.elements.editing_session.value = session;
    try {
      sessionStorage.setItem(EDITING_SESSION_KEY, session);
    } catch {
      // Storage blocked: the session lasts as long as this page.
    }
  }

  function adoptNewPost(data) {
    const newKey = localKey();
    state.postId = data.post_id;
    removeLocal(newKey);
    form.setAttribute("action", data.edit_url); // form.action would be the button named "action"
    history.replaceState(history.state, "", data.edit_url);
  }

  function wentOffline(error) {
    showState("offline", "Offline: kept in this browser");
    writeLocal();
    console.warn("Autosave failed; retrying.", error);
    scheduleAutosave(state.retryMs);
    state.retryMs = Math.min(state.retryMs * 2, RETRY_MAX_MS);
  }

  function showConflict(current) {
    state.conflict = true;
    writeLocal();
    const who = current.saved_by ? ` by ${current.saved_by}` : "";
    ui.conflictText.textContent =
      `version ${current.version} was saved${who} at ${clockTime(current.saved_at)}, after you opened this post.`;
    ui.conflict.hidden = false;
    showState("conflict", "Conflict");
  }

  // --- requests ------------------------------------------------------------------------

  function requestOptions(payload, { keepalive = false, signal } = {}) {
    return {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": form.elements.csrfmiddlewaretoken.value,
      },
      body: payload,
      keepalive,
      signal,
    };
  }

  function postJson(url, data, options) {
    return fetch(url, requestOptions(JSON.stringify(data), options));
  }

  function offlineOr(error) {
    return navigator.onLine ? error.message : "offline";
  }

  // --- form submission and leaving the page --------------------------------------------

  function onSubmit(event) {
    clearTimeout(state.timers.autosave);
    writeLocal();
    if (bodyTooLarge()) {
      // The server would refuse it, and past its upload limit without a helpful page.
      event.preventDefault();
      updateBodySize();
      ui.bodySize.scrollIntoView({ block: "center" });
      showState("error", "Too long to save: kept in this browser");
      return;
    }
    if (state.inFlight) {
      // An autosave on its way changes the version; submit once it is back, with the new one.
      event.preventDefault();
      const submitter = event.submitter;
      state.inFlight.finally(() => form.requestSubmit(submitter));
      return;
    }
    state.submitting = true;
  }

  function onLeave() {
    if (state.submitting || state.signingOut || !state.dirty) return;
    writeLocal();
    autosave({ keepalive: true });
  }

  function onBeforeUnload(event) {
    const unsaved = state.dirty && !state.submitting;
    // Signing out keeps no copy in this browser, so text the autosave could not save would be lost.
    if (unsaved && (!state.autosave || state.conflict || state.signingOut)) event.preventDefault();
  }

  // Signing out clears what this browser keeps for the site (Clear-Site-Data), which a copy
  // written as the page unloads would outlive: save what can be saved first, then keep nothing.
  async function onSignOut(event) {
    if (state.signingOut) return;
    event.preventDefault();
    state.signingOut = true;
    clearTimeout(state.timers.local);
    clearTimeout(state.timers.autosave);
    if (state.inFlight) await state.inFlight;
    if (state.dirty) await autosave();
    if (!state.dirty) removeLocal();
    event.target.submit();
  }

  // --- tag suggestions -----------------------------------------------------------------

  const allTags = [...ui.tagList.options].map((option) => option.value);

  function suggestTags() {
    const value = form.elements.tags.value;
    const cut = value.lastIndexOf(",");
    const prefix = cut === -1 ? "" : `${value.slice(0, cut + 1).trimEnd()} `;
    const fragment = value.slice(cut + 1).trim().toLowerCase();
    const used = new Set(value.slice(0, cut + 1).split(",").map((name) => name.trim().toLowerCase()));
    const matches = allTags
      .filter((name) => !used.has(name.toLowerCase()) && name.toLowerCase().includes(fragment))
      .slice(0, 20);
    ui.tagList.replaceChildren(...matches.map((name) => new Option("", prefix + name)));
  }

  // --- the panel API -------------------------------------------------------------------

  function editBody(start, end, text) {
    body.focus();
    body.setSelectionRange(start, end);
    // execCommand keeps the edit in the browser's undo history and fires "input" itself;
    // setRangeText is the fallback where it is not supported.
    let done = false;
    try {
      done = text !== "" && document.execCommand("insertText", false, text);
    } catch {
      done = false;
    }
    if (!done) {
      body.setRangeText(text, start, end, "end");
      body.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  const EDITABLE_BY_PANELS = new Set(["title", "excerpt", "tags", "meta_title", "meta_description"]);

  window.blogsiteEditor = Object.freeze({
    getBody: () => body.value,
    getTitle: () => form.elements.title.value,
    getSelection: () => body.value.slice(body.selectionStart, body.selectionEnd),
    getSelectionRange: () => ({ start: body.selectionStart, end: body.selectionEnd }),
    insertAtCursor: (text) => editBody(body.selectionEnd, body.selectionEnd, String(text)),
    replaceSelection: (text) => editBody(body.selectionStart, body.selectionEnd, String(text)),
    append: (text) => editBody(body.value.length, body.value.length, String(text)),
    canSetField: (name) => EDITABLE_BY_PANELS.has(name) && !form.elements[name]?.disabled,
    setField(name, value) {
      if (!EDITABLE_BY_PANELS.has(name)) throw new Error(`blogsiteEditor.setField: ${name} cannot be set`);
      const element = form.elements[name];
      element.value = String(value);
      element.dispatchEvent(new Event("input", { bubbles: true }));
    },
    postId: () => state.postId,
  });

  // --- wiring --------------------------------------------------------------------------

  form.addEventListener("input", (event) => {
    if (event.target.name === "tags") suggestTags();
    changed();
  });
  form.addEventListener("submit", onSubmit);
  for (const signOut of document.querySelectorAll("form[data-sign-out]")) signOut.addEventListener("submit", onSignOut);
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      event.preventDefault(); // Ctrl+S / Cmd+S saves the post instead of the web page
      form.requestSubmit(document.querySelector('.actions-panel button[value="save"]'));
    }
  });
  window.addEventListener("pagehide", onLeave);
  window.addEventListener("beforeunload", onBeforeUnload);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") onLeave();
  });
  window.addEventListener("online", () => {
    if (state.dirty) scheduleAutosave(500);
  });
  for (const link of document.querySelectorAll("[data-discard-local]")) {
    link.addEventListener("click", () => {
      state.dirty = false;
      removeLocal();
    });
  }

  const sticky = document.querySelector(".editor-sticky");
  if (sticky && "ResizeObserver" in window) {
    new ResizeObserver(() => {
      document.documentElement.style.setProperty("--editor-sticky-height", `${sticky.offsetHeight}px`);
    }).observe(sticky);
  }

  updateCounters();
  updateBodySize();
  forgetUnfiledCopies();
  offerLocalCopy();
  if (state.conflict) {
    showState("conflict", "Conflict");
  } else if (config.unsaved) {
    showState("unsaved", "Not saved: kept in this browser");
  } else if (config.savedAt) {
    showState("saved", `Saved ${clockTime(config.savedAt)}`);
  }
  document.dispatchEvent(new CustomEvent("blogsite:editor-ready", { detail: window.blogsiteEditor }));
}

function validSession(value) {
  return typeof value === "string" && /^[A-Za-z0-9_-]{8,64}$/.test(value);
}

// The session of the editor page this tab showed before this one, if any.
function tabEditingSession() {
  try {
    const kept = sessionStorage.getItem(EDITING_SESSION_KEY);
    return validSession(kept) ? kept : null;
  } catch {
    return null; // storage blocked: every page has a session of its own
  }
}

function newSessionId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

function findElements() {
  const offer = document.getElementById("local-copy-offer");
  const conflict = document.getElementById("autosave-conflict");
  return {
    saveState: document.getElementById("save-state"),
    offer,
    offerTime: offer.querySelector("[data-local-time]"),
    conflict,
    conflictText: conflict.querySelector("[data-conflict-text]"),
    preview: document.getElementById("preview"),
    previewState: document.getElementById("preview-state"),
    bodySize: document.getElementById("body-size"),
    tagList: document.getElementById("tag-suggestions"),
  };
}
