// The editor's AI panel: streams text from the AI writer into a suggestion pane.
//
// Text arrives over the WebSocket at /ws/aiwriter/ (message contract in DESIGN.md); when the
// socket cannot be opened the same request goes to the Server-Sent Events fallback. AI text
// never touches the post by itself: only the editor's Insert, Replace or Append click puts it
// into the editor, through window.blogsiteEditor (or a plain textarea in the admin).
//
// A reasoning model's thinking arrives as "thinking" events, apart from the answer's "chunk"
// events. It is shown in a collapsed "Thinking" section above the suggestion and is never
// inserted: every Insert, Replace or Set button uses the answer text alone.

const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const CLOSE_UNAUTHENTICATED = 4401;
// How often the model list is asked for again while it cannot be given: a local model that is
// loading is ready within seconds; engines that are down come back on an operator's time.
const MODELS_POLL_MS = { starting: 2000, unavailable: 10000 };
// Generation errors that only say the AI is not there: out of date once the models answer again.
const AVAILABILITY_ERRORS = new Set(["unavailable", "starting"]);

// Where each action's input comes from, and what the instruction box is for.
const ACTION_INPUTS = {
  draft: { source: "instruction", instruction: "Notes for the draft", help: "Writes a post from the title and your notes." },
  continue: { source: "body", help: "Continues the post from where the text ends." },
  rewrite: { source: "selection", instruction: "How to rewrite it (optional)", help: "Select a passage in the post first." },
  summarize: { source: "body", field: "excerpt", help: "Writes a short excerpt of the post." },
  titles: { source: "body", choices: "title", help: "Suggests five titles, one per line." },
  meta_description: {
    source: "body",
    field: "meta_description",
    help: "Writes a search-engine description of at most 160 characters.",
  },
  tags: { source: "body", field: "tags", help: "Suggests tags, preferring the ones the blog already uses." },
  chat: { source: "instruction", instruction: "Your message", help: "Talk about the post; the conversation is remembered." },
};

const FIELD_LABELS = {
  title: "title",
  excerpt: "excerpt",
  tags: "tags",
  meta_title: "meta title",
  meta_description: "meta description",
};

// The server's error messages already say what happened; some codes get a word of context or advice.
const ERROR_PREFIX = {
  upstream: "The AI engine ran into a problem.",
  internal: "Something went wrong on the site.",
};
const ERROR_ADVICE = {
  unavailable: "Try again in a minute; if it keeps happening, tell the site's administrator.",
  starting: "Wait a moment, then try again.",
  busy: "Wait a moment, then try again.",
  timeout: "Try again, or pick a smaller model.",
};

function textareaEditor(config) {
  // The admin's change form has no editor script: work on its body and title fields directly.
  const body = document.getElementById("id_body");
  const title = document.getElementById("id_title");
  const changed = () => body.dispatchEvent(new Event("input", { bubbles: true }));
  const replaceRange = (text, start, end) => {
    body.focus();
    body.setRangeText(text, start, end, "end");
    changed();
  };
  return {
    insertAtCursor: (text) => replaceRange(text, body.selectionStart, body.selectionStart),
    replaceSelection: (text) => replaceRange(text, body.selectionStart, body.selectionEnd),
    append: (text) => replaceRange(text, body.value.length, body.value.length),
    getSelection: () => body.value.slice(body.selectionStart, body.selectionEnd),
    getSelectionRange: () => ({ start: body.selectionStart, end: body.selectionEnd }),
    getBody: () => body.value,
    getTitle: () => (title ? title.value : ""),
    postId: () => config.postId,
    canSetField: (name) => {
      const field = document.getElementById(`id_${name}`);
      return Boolean(field && (field.tagName === "TEXTAREA" || field.type === "text"));
    },
    setField: (name, value) => {
      const field = document.getElementById(`id_${name}`);
      field.value = value;
      field.dispatchEvent(new Event("input", { bubbles: true }));
    },
  };
}

function canSetField(editor, name) {
  if (typeof editor.setField !== "function") return false;
  return editor.canSetField ? editor.canSetField(name) : name in FIELD_LABELS;
}

// Titles come one per line; models like to number or quote them anyway.
function suggestionLines(text) {
  return text
    .split("\n")
    .map((line) => line.replace(/^\s*(?:[-*•]|\d+[.)])\s*/, "").replace(/^["“']+|["”']+$/g, "").trim())
    .filter(Boolean);
}

function csrfToken(form) {
  const field = form.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function newRequestId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `r${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
}

// The WebSocket, reopened with growing delays when it drops. Events go to `onEvent`.
class AiSocket {
  constructor(url, { onEvent, onStatus, onDrop }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onDrop = onDrop;
    this.attempt = 0;
    this.everOpened = false;
    this.refused = false;
    this.connect();
  }

  get isOpen() {
    return this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  connect() {
    this.socket = new WebSocket(this.url);
    this.socket.addEventListener("open", () => {
      const again = this.everOpened;
      this.attempt = 0;
      this.everOpened = true;
      // The panel decides what "open" means to the author: the models may not be ready yet.
      this.onStatus(again ? "Reconnected." : "Ready.", "ok");
    });
    this.socket.addEventListener("message", (message) => {
      try {
        this.onEvent(JSON.parse(message.data));
      } catch (error) {
        console.error("AI writer: unreadable message", error);
      }
    });
    this.socket.addEventListener("close", (event) => this.closed(event));
  }

  closed(event) {
    this.onDrop();
    if (event.code === CLOSE_UNAUTHENTICATED) {
      this.refused = true;
      this.onStatus("Your session has ended. Sign in again to use the AI writer.", "error");
      return;
    }
    const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt, RECONNECT_DELAYS_MS.length - 1)];
    this.attempt += 1;
    const seconds = Math.round(delay / 1000);
    const what = this.everOpened ? "Connection lost" : "Cannot connect";
    this.onStatus(`${what}. Reconnecting in ${seconds} s…`, "warn");
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(message) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }
}

// The same request over Server-Sent Events; aborting the fetch stops the generation.
async function streamOverSse(url, token, message, onEvent, signal) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": token, Accept: "text/event-stream" },
    body: JSON.stringify(message),
    credentials: "same-origin",
    signal,
  });
  if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    throw new Error(`The AI writer answered HTTP ${response.status}. Reload the page and try again.`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").find((line) => line.startsWith("data: "));
      if (data) onEvent(JSON.parse(data.slice(6)));
    }
  }
}

class AiPanel {
  constructor(root, config, editor) {
    this.root = root;
    this.config = config;
    this.editor = editor;
    this.current = null; // { id, action, model, text, thinking, transport, abort }
    // What the models endpoint last said: "loading", "ready", "starting", "unavailable" or "refused".
    this.models = { state: "loading", message: "" };
    this.el = (name) => root.querySelector(`[data-ai-${name}]`);
    this.form = this.el("form");
    this.output = this.el("output");
    this.thinking = this.el("thinking");
    this.thinkingText = this.el("thinking-text");
    this.bind();
    this.actionChanged();
    this.loadModels();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new AiSocket(`${scheme}//${location.host}${config.socketPath}`, {
      onEvent: (event) => this.handle(event),
      onStatus: (text, tone) => this.connectionChanged(text, tone),
      onDrop: () => this.interrupted(),
    });
  }

  bind() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.generate();
    });
    this.el("action").addEventListener("change", () => this.actionChanged());
    this.el("stop").addEventListener("click", () => this.stop());
    this.el("instruction").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.generate();
      }
    });
    this.root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.current) this.stop();
    });
    this.el("apply").addEventListener("click", (event) => {
      const button = event.target.closest("[data-ai-apply-action]");
      if (button) this.apply(button.dataset.aiApplyAction);
    });
    // Opened while the model thinks: show the latest reasoning rather than the start of it.
    this.thinking.addEventListener("toggle", () => {
      if (this.thinking.open) this.thinkingText.scrollTop = this.thinkingText.scrollHeight;
    });
  }

  actionChanged() {
    const inputs = ACTION_INPUTS[this.el("action").value];
    this.el("action-help").textContent = inputs.help;
    this.el("instruction-field").hidden = !inputs.instruction;
    if (inputs.instruction) this.el("instruction-label").textContent = inputs.instruction;
    this.el("new-conversation-field").hidden = this.el("action").value !== "chat";
  }

  // --- the model list ------------------------------------------------------------------

  async loadModels() {
    clearTimeout(this.modelsTimer);
    let response;
    let data;
    try {
      response = await fetch(this.config.modelsUrl, { credentials: "same-origin" });
      data = await response.json().catch(() => ({}));
    } catch (error) {
      console.error("AI writer: model list failed", error);
      this.modelsChanged("unavailable", "The AI writer cannot be reached. Check your connection.");
      return;
    }
    if (response.ok) {
      this.fillModels(data.models || []);
      if (data.errors && data.errors.length) console.warn("AI writer: some AI engines did not answer", data.errors);
      this.modelsChanged("ready", "");
    } else if (response.status === 503) {
      // "starting": the site's own local model is still loading, which is not a fault.
      const state = data.code === "starting" ? "starting" : "unavailable";
      this.modelsChanged(state, data.message || "The AI writer is not available right now.");
    } else {
      // Signed out or not allowed: asking again will not help, so say so and stop.
      this.modelsChanged("refused", data.message || `The model list could not be loaded (HTTP ${response.status}).`);
    }
  }

  // Replaces the picker's models (the default stays first), keeping the author's choice if it is still offered.
  fillModels(models) {
    const select = this.el("model");
    const chosen = select.value;
    while (select.options.length > 1) select.remove(1);
    for (const model of models) {
      if (model.name === this.config.defaultModel) continue;
      const details = [model.parameter_size, model.quantization_level].filter(Boolean).join(", ");
      select.add(new Option(details ? `${model.name} (${details})` : model.name, model.name));
    }
    select.value = chosen;
    if (select.selectedIndex === -1) select.selectedIndex = 0;
  }

  modelsChanged(state, message) {
    this.models = { state, message };
    if (state === "ready" && AVAILABILITY_ERRORS.has(this.errorCode)) this.hideError();
    if (MODELS_POLL_MS[state]) this.modelsTimer = setTimeout(() => this.loadModels(), MODELS_POLL_MS[state]);
    // A generation in progress keeps its own status line; the idle line shows once it ends.
    if (!this.current) this.showIdle();
  }

  // --- the status line -----------------------------------------------------------------

  connectionChanged(text, tone) {
    // The socket is open: whether the panel is ready also depends on the models.
    if (tone === "ok") this.showIdle(text);
    else this.status(text, tone);
  }

  // The line shown when nothing is being written: what stops the AI writer, if anything, or
  // `readyText` ("Ready.", "Reconnected.") when it can write.
  showIdle(readyText = "Ready.") {
    const { state, message } = this.models;
    if (state === "starting") {
      this.status("The local AI model is starting…", "neutral");
    } else if (state === "unavailable") {
      this.status(`${asSentence(message)} Checking again every ${MODELS_POLL_MS.unavailable / 1000} s.`, "warn");
    } else if (state === "refused") {
      this.status(message, "error");
    } else if (this.socket && this.socket.isOpen) {
      if (state === "loading") this.status("Checking the AI models…", "neutral");
      // Green says all is well, which is not so while an error is on display below.
      else this.status(readyText, this.el("error").hidden ? "ok" : "neutral");
    }
    // Otherwise the socket's own line ("Connecting…", "Reconnecting in 4 s…") stays.
  }

  status(text, tone) {
    const line = this.el("connection");
    // A live region announces every change; the same words again (a poll's answer) are not news.
    if (line.textContent === text && line.dataset.tone === tone) return;
    line.textContent = text;
    line.dataset.tone = tone;
  }

  // --- a generation --------------------------------------------------------------------

  message() {
    const action = this.el("action").value;
    const inputs = ACTION_INPUTS[action];
    const instruction = this.el("instruction").value.trim();
    const title = this.editor.getTitle() || "";
    const options = { title: title.slice(0, 200) };
    let text;
    if (inputs.source === "selection") {
      text = this.editor.getSelection() || "";
      if (instruction) options.instruction = instruction;
    } else if (inputs.source === "body") {
      text = this.editor.getBody() || "";
    } else {
      text = instruction;
    }
    if (action === "chat") {
      options.body = this.editor.getBody() || "";
      if (this.el("new-conversation").checked) options.new_conversation = true;
    }
    const postId = this.editor.postId();
    return {
      type: "generate",
      request_id: newRequestId(),
      action,
      post_id: postId ? Number(postId) : null,
      text,
      model: this.el("model").value,
      options,
      regenerate: false,
    };
  }

  generate() {
    if (this.current) return;
    const message = this.message();
    this.begin(message.request_id, message.action);
    if (this.socket.send(message)) {
      this.current.transport = "socket";
      if (message.options.new_conversation) this.el("new-conversation").checked = false;
      return;
    }
    // No socket (a proxy may block WebSockets): the same request over Server-Sent Events.
    const abort = new AbortController();
    this.current.transport = "sse";
    this.current.abort = abort;
    streamOverSse(this.config.streamUrl, csrfToken(this.form), message, (event) => this.handle(event), abort.signal)
      .then(() => {
        if (this.current && this.current.id === message.request_id) this.finish("The stream ended early; the text so far is kept.", "warn");
      })
      .catch((error) => {
        if (!this.current || this.current.id !== message.request_id) return;
        if (error.name === "AbortError") this.finish("Stopped. The text so far is kept.", "warn");
        else this.fail("network", error.message || "The AI writer cannot be reached. Check your connection and try again.");
      });
  }

  begin(id, action) {
    this.current = { id, action, model: "", text: "", thinking: "" };
    this.el("fields").replaceChildren();
    this.output.textContent = "";
    delete this.output.dataset.phase;
    // The last generation's thinking goes with it; open or closed stays as the author left it.
    this.thinkingText.textContent = "";
    this.thinking.hidden = true;
    this.el("stats").textContent = "";
    this.el("stats").removeAttribute("title");
    this.hideError();
    this.el("apply").hidden = true;
    this.el("generate").disabled = true;
    this.el("stop").hidden = false;
    this.output.setAttribute("aria-busy", "true");
    this.status("Sending…", "neutral");
  }

  stop() {
    if (!this.current) return;
    if (this.current.transport === "sse") {
      this.current.abort.abort();
    } else if (!this.socket.send({ type: "cancel", request_id: this.current.id })) {
      this.finish("Stopped. The text so far is kept.", "warn");
    }
  }

  handle(event) {
    if (!this.current || event.request_id !== this.current.id) return;
    if (event.type === "start") {
      this.current.model = event.model;
      this.status(`Writing with ${event.model}…`, "ok");
    } else if (event.type === "thinking") {
      this.addThinking(event.text);
    } else if (event.type === "chunk") {
      this.addAnswer(event.text);
    } else if (event.type === "done") {
      this.showStats(event);
      this.finish("Done. Insert the text where you want it, or generate again.", "ok");
    } else if (event.type === "error") {
      if (event.code === "cancelled") this.finish(event.message, "warn");
      else this.fail(event.code, event.message);
    }
  }

  addThinking(text) {
    const current = this.current;
    if (!current.thinking && !current.text) {
      // Until the answer begins, the empty suggestion pane and the status line say why it is empty.
      this.output.dataset.phase = "thinking";
      this.status(current.model ? `Thinking with ${current.model}…` : "Thinking…", "neutral");
    }
    // Follow the newest thinking, unless the author has scrolled back to read.
    const box = this.thinkingText;
    const following = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    current.thinking += text;
    this.thinking.hidden = false;
    box.textContent = current.thinking;
    if (this.thinking.open && following) box.scrollTop = box.scrollHeight;
  }

  addAnswer(text) {
    const current = this.current;
    if (!current.text && current.thinking) {
      delete this.output.dataset.phase;
      this.status(`Writing with ${current.model || "the model"}…`, "ok");
    }
    current.text += text;
    this.output.textContent = current.text;
    this.output.scrollTop = this.output.scrollHeight;
  }

  showStats(event) {
    const line = this.el("stats");
    line.textContent = describeStats(event);
    if (event.stats && event.stats.tokens_estimated) {
      line.title = "Approximate: the AI engine sent no token counts, so they were counted from the text.";
    }
  }

  interrupted() {
    // The socket dropped: a generation in flight is lost, but what arrived stays in the pane.
    if (this.current && this.current.transport === "socket") {
      this.fail("interrupted", "The connection dropped while writing; the text so far is kept. Generate again once reconnected.");
    }
  }

  fail(code, message) {
    this.showError(code, message);
    this.finish("", "error");
    // The engines may have gone away or be loading: let the status line catch up with them.
    if ((code === "unavailable" || code === "starting") && this.models.state === "ready") this.loadModels();
  }

  finish(note, tone) {
    const text = this.current ? this.current.text : "";
    const action = this.current ? this.current.action : "";
    this.current = null;
    delete this.output.dataset.phase;
    this.offerFields(action, text);
    this.el("generate").disabled = false;
    this.el("stop").hidden = true;
    this.output.setAttribute("aria-busy", "false");
    this.el("apply").hidden = !text;
    if (note) this.status(note, tone);
    else this.showIdle();
  }

  offerFields(action, text) {
    // Buttons that put the suggestion into a post field, for actions whose answer belongs in one.
    const box = this.el("fields");
    box.replaceChildren();
    const inputs = ACTION_INPUTS[action];
    if (!text || !inputs) return;
    const offers = [];
    if (inputs.field && canSetField(this.editor, inputs.field)) {
      const value = inputs.field === "tags" ? suggestionLines(text).join(", ") : text.trim();
      offers.push([`Set as ${FIELD_LABELS[inputs.field]}`, inputs.field, value]);
    }
    if (inputs.choices && canSetField(this.editor, inputs.choices)) {
      for (const line of suggestionLines(text)) offers.push([`Use “${line}”`, inputs.choices, line]);
    }
    for (const [label, name, value] of offers) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = label;
      button.addEventListener("click", () => {
        this.editor.setField(name, value);
        this.status(`The ${FIELD_LABELS[name]} is set.`, "ok");
      });
      box.append(button);
    }
  }

  showError(code, message) {
    const box = this.el("error");
    box.textContent = [ERROR_PREFIX[code], message, ERROR_ADVICE[code]].filter(Boolean).join(" ");
    box.hidden = false;
    this.errorCode = code;
  }

  hideError() {
    this.el("error").hidden = true;
    this.errorCode = null;
  }

  async apply(how) {
    // The suggestion pane holds the answer alone; the thinking is never put into the post.
    const text = this.output.textContent;
    if (!text) return;
    if (how === "copy") {
      await copyText(text);
      this.status("Copied to the clipboard.", "ok");
      return;
    }
    const done = { insert: "Inserted at the cursor.", replace: "Replaced the selection.", append: "Appended to the post." };
    const body = this.editor.getBody() || "";
    if (how === "insert") {
      // Keep words apart: the model's text starts and ends without the spaces around the caret.
      const at = this.editor.getSelectionRange ? this.editor.getSelectionRange().end : body.length;
      const before = at > 0 && !/\s/.test(body[at - 1]) ? " " : "";
      const after = at < body.length && !/\s/.test(body[at]) ? " " : "";
      this.editor.insertAtCursor(before + text + after);
    } else if (how === "replace") {
      this.editor.replaceSelection(text);
    } else {
      // A new paragraph after what is there.
      const gap = !body || body.endsWith("\n\n") ? "" : body.endsWith("\n") ? "\n" : "\n\n";
      this.editor.append(gap + text);
    }
    this.status(done[how], "ok");
  }
}

function asSentence(text) {
  const trimmed = text.trim();
  return /[.!?…]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function describeStats(event) {
  const stats = event.stats || {};
  // Counted from the stream when the engine sent no counts: close, but not the model's own figure.
  const about = stats.tokens_estimated ? "≈" : "";
  const parts = [];
  if (event.cached) parts.push("from the cache");
  if (stats.eval_count) parts.push(`${about}${stats.eval_count} tokens`);
  if (stats.tokens_per_second) parts.push(`${about}${stats.tokens_per_second} tokens/s`);
  if (stats.duration_ms != null) parts.push(`${(stats.duration_ms / 1000).toFixed(1)} s`);
  return parts.join(" · ");
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

function wireAdminDrawer() {
  const drawer = document.getElementById("ai-drawer");
  if (!drawer) return;
  const toggles = document.querySelectorAll("[data-ai-drawer-toggle]");
  for (const toggle of toggles) {
    toggle.addEventListener("click", (event) => {
      event.preventDefault();
      drawer.hidden = !drawer.hidden;
      for (const other of toggles) other.setAttribute("aria-expanded", String(!drawer.hidden));
      if (!drawer.hidden) drawer.querySelector("[data-ai-action]").focus();
    });
  }
}

function start() {
  wireAdminDrawer();
  const root = document.querySelector("[data-aiwriter-panel]");
  const configElement = document.getElementById("aiwriter-config");
  if (!root || !configElement) return;
  const config = JSON.parse(configElement.textContent);
  const begin = (editor) => {
    window.blogsiteAiPanel = new AiPanel(root, config, editor);
  };
  if (window.blogsiteEditor) {
    begin(window.blogsiteEditor);
  } else if (document.getElementById("post-form")) {
    // The editor's module runs after this one; it announces its API when ready.
    document.addEventListener("blogsite:editor-ready", (event) => begin(event.detail), { once: true });
  } else if (document.getElementById("id_body")) {
    begin(textareaEditor(config));
  } else {
    root.querySelector("[data-ai-connection]").textContent = "The AI writer needs the post editor on this page.";
  }
}

start();
