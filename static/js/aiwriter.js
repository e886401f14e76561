// The editor's AI writer: the panel beside the post, the toolbar for a selection of the body, and
// the Suggest buttons beside the title, excerpt, meta description and tags.
//
// Text arrives over the WebSocket at /ws/aiwriter/ (message contract in DESIGN.md); when the
// socket is not open the same request goes to the Server-Sent Events fallback. AI text never
// touches the post by itself: only the editor's Insert, Replace, Append, Set or Accept click puts
// it into the editor, through window.blogsiteEditor (or a plain textarea in the admin).
//
// One generation runs at a time. Each one is shown by a "view": the panel's suggestion pane, the
// before-and-after box under the body, or the box beside a field. The status line in the panel's
// header is worked out in one place (`AiPanel.statusNow`) from what is true now: the session,
// the generation under way, the models the engines serve, and the outcome of the last action.
//
// A reasoning model's thinking arrives as "thinking" events, apart from the answer's "chunk"
// events. It is shown in a collapsed "Thinking" section and is never inserted.

import { streamOverSse } from "./aiwriter-sse.js";

const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const CLOSE_UNAUTHENTICATED = 4401;
const SIGNED_OUT = "Your session has ended. Sign in again to use the AI writer.";
const UNAVAILABLE = "The AI writer is unavailable right now; your text is safe.";
const STREAM_REFUSED = "The AI writer could not take the request; your text is safe. Reload the page and try again.";
const OFFLINE = "The AI writer cannot be reached. Check your connection; your text is safe.";
// How often the model list is asked for again: a local model that is loading is ready within
// seconds; engines that are down come back on an operator's time; a list missing an engine is
// filled in once that engine answers again.
const MODELS_POLL_MS = { starting: 2000, unavailable: 10000, offline: 10000, partial: 30000 };
// Generation errors that only say the AI is not there: the status line says so instead, until the
// model list answers again.
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

// The fields with a Suggest button beside them, and the action that fills each.
const FIELD_ACTIONS = { title: "titles", excerpt: "summarize", meta_description: "meta_description", tags: "tags" };

// The server's error messages already say what happened; some codes get a word of context.
const ERROR_PREFIX = { internal: "Something went wrong on the site." };

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

// Tags come separated by commas, or one per line; a leading # is not part of a tag.
function tagsFrom(text) {
  const tags = suggestionLines(text.replaceAll(",", "\n")).map((tag) => tag.replace(/^#/, "").trim());
  return [...new Set(tags.filter(Boolean))];
}

// What a suggestion becomes in a field: tags tidied into a list, anything else trimmed.
function fieldValue(name, text) {
  return name === "tags" ? tagsFrom(text).join(", ") : text.trim();
}

// Why `value` does not fit the field, in words for the author; "" when it fits. The limits are the
// ones the server rendered: the field's maxlength, and for tags the panel's config.
function overflowReason(name, value, config) {
  const field = document.getElementById(`id_${name}`);
  const max = field ? Number(field.getAttribute("maxlength")) || 0 : 0;
  if (name === "tags" && config.tagLimits) {
    const tags = value.split(",").map((tag) => tag.trim()).filter(Boolean);
    const { count, chars } = config.tagLimits;
    const long = tags.find((tag) => tag.length > chars);
    if (long) return `This does not look like tags: one has ${long.length} characters, and a tag has at most ${chars}.`;
    if (tags.length > count) return `That is ${tags.length} tags, and a post has at most ${count}.`;
  }
  if (max && value.length > max) {
    return `This suggestion has ${value.length} characters, and the ${FIELD_LABELS[name]} takes at most ${max}.`;
  }
  return "";
}

function csrfToken(form) {
  const field = form.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function newRequestId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `r${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

// The WebSocket, reopened with growing delays when it drops. `onState` hears "open", "down" or
// "refused"; the panel decides what, if anything, the author is told.
class AiSocket {
  constructor(url, { onEvent, onState }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onState = onState;
    this.attempt = 0;
    this.connect();
  }

  get isOpen() {
    return this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  connect() {
    this.socket = new WebSocket(this.url);
    this.socket.addEventListener("open", () => {
      this.attempt = 0;
      this.onState("open");
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
    if (event.code === CLOSE_UNAUTHENTICATED) {
      this.onState("refused");
      return;
    }
    this.onState("down");
    const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt, RECONNECT_DELAYS_MS.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(message) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }
}

class AiPanel {
  constructor(root, config, editor) {
    this.root = root;
    this.config = config;
    this.editor = editor;
    // The generation under way: { id, message, view, model, text, thinking, transport, abort }.
    this.current = null;
    // "connecting", "open", "down" (Server-Sent Events carry the text meanwhile) or "refused".
    this.connection = "connecting";
    // What the models endpoint last said: "loading", "ready", "starting", "unavailable", "offline" or "refused".
    this.models = { state: "loading", message: "" };
    // The outcome of the author's last action, shown while nothing more pressing is true.
    this.note = null;
    this.el = (name) => root.querySelector(`[data-ai-${name}]`);
    this.form = this.el("form");
    this.output = this.el("output");
    this.thinking = this.el("thinking");
    this.thinkingText = this.el("thinking-text");
    this.panelView = this.makePanelView();
    this.bind();
    this.actionChanged();
    this.loadModels();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new AiSocket(`${scheme}//${location.host}${config.socketPath}`, {
      onEvent: (event) => this.handle(event),
      onState: (state) => this.connectionChanged(state),
    });
    window.addEventListener("online", () => this.loadModels());
  }

  bind() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.generate();
    });
    this.el("action").addEventListener("change", () => this.actionChanged());
    this.el("stop").addEventListener("click", () => this.stop());
    this.el("retry").addEventListener("click", () => this.retry());
    this.el("chat-clear").addEventListener("click", () => this.chatClear());
    this.el("instruction").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.generate();
      }
    });
    document.addEventListener("keydown", (event) => {
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
    const action = this.el("action").value;
    const inputs = ACTION_INPUTS[action];
    this.el("action-help").textContent = inputs.help;
    this.el("instruction-field").hidden = !inputs.instruction;
    if (inputs.instruction) this.el("instruction-label").textContent = inputs.instruction;
    this.el("chat").hidden = action !== "chat";
    if (action === "chat") this.chatLoad();
    this.el("retry").hidden = true;
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
      this.modelsChanged("offline", OFFLINE);
      return;
    }
    if (response.ok) {
      this.fillModels(data.models || []);
      this.modelsChanged("ready", "", data.complete === false);
    } else if (response.status === 503) {
      // "starting": the site's own local model is still loading, which is not a fault.
      if (data.models && data.models.length) this.fillModels(data.models);
      if (data.code === "starting") this.modelsChanged("starting", "The local AI model is starting…");
      else this.modelsChanged("unavailable", UNAVAILABLE);
    } else {
      // Signed out or not allowed: asking again will not help, so say so and stop.
      this.modelsChanged("refused", data.message || "The AI writer is not available to your account.");
    }
  }

  // Replaces the picker's models (the default stays first), keeping the author's choice if it is still offered.
  fillModels(models) {
    const select = this.el("model");
    const chosen = select.value;
    while (select.options.length > 1) select.remove(1);
    for (const model of models) {
      if (model.name === this.config.defaultModel) continue;
      const details = [model.parameter_size, model.quantization_level, model.vision && "reads images"]
        .filter(Boolean)
        .join(", ");
      select.add(new Option(details ? `${model.name} (${details})` : model.name, model.name));
    }
    select.value = chosen;
    if (select.selectedIndex === -1) select.selectedIndex = 0;
  }

  modelsChanged(state, message, partial = false) {
    const wasReady = this.models.state === "ready";
    this.models = { state, message };
    if (state === "ready" && !wasReady) {
      // Back: what said the AI writer was missing is out of date.
      if (AVAILABILITY_ERRORS.has(this.errorCode)) this.hideError();
      this.note = null;
    }
    const poll = state === "ready" ? (partial ? MODELS_POLL_MS.partial : 0) : MODELS_POLL_MS[state];
    if (poll) this.modelsTimer = setTimeout(() => this.loadModels(), poll);
    this.renderStatus();
  }

  // --- the status line -----------------------------------------------------------------

  connectionChanged(state) {
    const reopened = state === "open" && this.connection === "down";
    this.connection = state;
    // The socket dropped: a generation it carried is lost, but what arrived stays on screen.
    if (state !== "open" && this.current && this.current.transport === "socket") {
      this.failed("interrupted", "The connection dropped while writing; the text so far is kept. Try again.");
    }
    // The engines may have changed while the connection was down.
    if (reopened) this.loadModels();
    this.renderStatus();
  }

  // What the status line says now, worked out from what is true now, most pressing first.
  statusNow() {
    if (this.connection === "refused") return [SIGNED_OUT, "error"];
    const run = this.current;
    if (run) {
      if (!run.model) return ["Sending…", "neutral"];
      if (!run.text && run.thinking) return [`Thinking with ${run.model}…`, "neutral"];
      return [`Writing with ${run.model}…`, "ok"];
    }
    const { state, message } = this.models;
    if (state === "refused") return [message, "error"];
    if (state === "unavailable" || state === "offline") return [message, "warn"];
    if (state === "starting") return [message, "neutral"];
    if (state === "loading") return ["Checking the AI models…", "neutral"];
    if (this.note) return [this.note.text, this.note.tone];
    // Green says all is well, which is not so while an error is on display.
    if (this.errorCode) return ["Ready to try again.", "neutral"];
    return ["Ready.", "ok"];
  }

  renderStatus() {
    const [text, tone] = this.statusNow();
    const line = this.el("connection");
    // A live region announces every change; the same words again (a poll's answer) are not news.
    if (line.textContent === text && line.dataset.tone === tone) return;
    line.textContent = text;
    line.dataset.tone = tone;
  }

  say(text, tone) {
    this.note = { text, tone };
    this.renderStatus();
  }

  // --- running a generation --------------------------------------------------------------

  // A generate message for `action` on `text`, with the post's title and the picked model.
  request(action, text, options = {}) {
    const postId = this.editor.postId();
    return {
      type: "generate",
      request_id: newRequestId(),
      action,
      post_id: postId ? Number(postId) : null,
      text,
      model: this.el("model").value,
      options: { title: (this.editor.getTitle() || "").slice(0, 200), ...options },
      regenerate: false,
    };
  }

  // The same request again, asking the engine for a new answer rather than the cache.
  again(message) {
    return { ...message, request_id: newRequestId(), regenerate: true };
  }

  // Starts `message`, shown by `view`; false when another generation is still running. `target`
  // names the field a panel suggestion is meant for, when its action does not say.
  run(message, view, { target = "" } = {}) {
    if (this.current) {
      this.say("Wait for the text being written, or stop it (Escape) first.", "warn");
      return false;
    }
    this.note = null;
    this.current = { id: message.request_id, message, view, target, model: "", text: "", thinking: "" };
    this.busy(true);
    view.begin(message);
    this.renderStatus();
    if (this.socket.send(message)) {
      this.current.transport = "socket";
      return true;
    }
    // No socket (a proxy may block WebSockets): the same request over Server-Sent Events.
    const abort = new AbortController();
    this.current.transport = "sse";
    this.current.abort = abort;
    streamOverSse(
      this.config.streamUrl,
      csrfToken(this.form),
      message,
      (event) => this.handle(event),
      abort.signal,
      STREAM_REFUSED,
    )
      .then(() => {
        if (this.current && this.current.id === message.request_id) this.stopped("The stream ended early; the text so far is kept.");
      })
      .catch((error) => {
        if (!this.current || this.current.id !== message.request_id) return;
        if (error.name === "AbortError") this.stopped("Stopped. The text so far is kept.");
        else this.failed("network", error.message.startsWith("The AI writer") ? error.message : OFFLINE);
      });
    return true;
  }

  // While a generation runs, nothing else may start one.
  busy(on) {
    for (const button of document.querySelectorAll("[data-ai-starts]")) button.disabled = on;
  }

  stop() {
    if (!this.current) return;
    if (this.current.transport === "sse") {
      this.current.abort.abort();
    } else if (!this.socket.send({ type: "cancel", request_id: this.current.id })) {
      this.stopped("Stopped. The text so far is kept.");
    }
  }

  handle(event) {
    const run = this.current;
    if (!run || event.request_id !== run.id) return;
    if (event.type === "start") {
      run.model = event.model;
      this.renderStatus();
    } else if (event.type === "thinking") {
      const first = !run.thinking && !run.text;
      run.thinking += event.text;
      run.view.thinking(event.text, run);
      if (first) this.renderStatus();
    } else if (event.type === "chunk") {
      const first = !run.text;
      run.text += event.text;
      run.view.chunk(event.text, run);
      if (first) this.renderStatus();
    } else if (event.type === "done") {
      this.ended().view.done(event, run);
    } else if (event.type === "error") {
      if (event.code === "cancelled") this.stopped(event.message);
      else this.failed(event.code, event.message);
    }
  }

  ended() {
    const run = this.current;
    this.current = null;
    this.busy(false);
    this.renderStatus();
    return run;
  }

  stopped(message) {
    const run = this.ended();
    run.view.stopped(message, run);
  }

  failed(code, message) {
    const run = this.ended();
    if (AVAILABILITY_ERRORS.has(code)) {
      // The status line says the AI writer is away, and says when it is back.
      this.modelsChanged(code === "starting" ? "starting" : "unavailable", code === "starting" ? message : UNAVAILABLE);
      this.loadModels();
    } else if (code === "model_not_found" || code === "network") {
      this.loadModels();
    }
    run.view.failed(code, message, run);
  }

  // The words for a failed generation: the server's, with a word of context for some codes.
  failureText(code, message) {
    if (AVAILABILITY_ERRORS.has(code)) return UNAVAILABLE;
    return [ERROR_PREFIX[code], message].filter(Boolean).join(" ");
  }

  // --- the panel's own generations -----------------------------------------------------

  message() {
    const action = this.el("action").value;
    const inputs = ACTION_INPUTS[action];
    const instruction = this.el("instruction").value.trim();
    const options = {};
    let text;
    if (inputs.source === "selection") {
      text = this.editor.getSelection() || "";
      if (instruction) options.instruction = instruction;
    } else if (inputs.source === "body") {
      text = this.editor.getBody() || "";
    } else {
      text = instruction;
    }
    if (action === "chat") options.body = this.editor.getBody() || "";
    return this.request(action, text, options);
  }

  generate() {
    this.runInPanel(this.message());
  }

  retry() {
    if (this.last) this.runInPanel(this.again(this.last.message), this.last.target);
  }

  runInPanel(message, target = "") {
    if (this.run(message, this.panelView, { target })) this.last = { message, target };
  }

  // The suggestion pane as a view: the answer streams into it, and its buttons put it into the post.
  makePanelView() {
    return {
      begin: (message) => {
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
        this.el("retry").hidden = true;
        this.el("stop").hidden = false;
        this.output.setAttribute("aria-busy", "true");
        if (message.action === "chat") this.chatAdd("user", message.text, { pending: true });
      },
      thinking: (text, run) => this.addThinking(run),
      chunk: (text, run) => this.addAnswer(run),
      done: (event, run) => {
        this.showStats(event);
        if (run.message.action === "chat" && run.text) {
          this.chatAdd("assistant", run.text);
          this.el("instruction").value = "";
        }
        this.panelEnded(run, { answered: true });
        this.say(run.text ? "Done. Insert the text where you want it, or try again." : "Done, with no text. Try again.", "ok");
      },
      failed: (code, message, run) => {
        if (!AVAILABILITY_ERRORS.has(code)) this.showError(code, this.failureText(code, message));
        this.panelEnded(run);
      },
      stopped: (message, run) => {
        this.panelEnded(run);
        this.say(message, "warn");
      },
    };
  }

  panelEnded(run, { answered = false } = {}) {
    delete this.output.dataset.phase;
    this.output.setAttribute("aria-busy", "false");
    this.el("stop").hidden = true;
    this.el("apply").hidden = !run.text;
    // A chat message asked again would be a second turn of the conversation, not another answer.
    this.el("retry").hidden = run.message.action === "chat";
    this.chatSettle(answered && Boolean(run.text));
    this.offerFields(run);
  }

  addThinking(run) {
    if (!run.text) this.output.dataset.phase = "thinking";
    // Follow the newest thinking, unless the author has scrolled back to read.
    const box = this.thinkingText;
    const following = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    this.thinking.hidden = false;
    box.textContent = run.thinking;
    if (this.thinking.open && following) box.scrollTop = box.scrollHeight;
  }

  addAnswer(run) {
    delete this.output.dataset.phase;
    this.output.textContent = run.text;
    this.output.scrollTop = this.output.scrollHeight;
  }

  showStats(event) {
    const line = this.el("stats");
    line.textContent = describeStats(event);
    if (event.stats && event.stats.tokens_estimated) {
      line.title = "Approximate: the AI engine sent no token counts, so they were counted from the text.";
    }
  }

  // Buttons that put the suggestion into a post field, for answers that belong in one; a
  // suggestion too long for its field says so and offers to shorten it instead.
  offerFields(run) {
    const box = this.el("fields");
    box.replaceChildren();
    const inputs = ACTION_INPUTS[run.message.action];
    const target = run.target || (inputs && inputs.field);
    if (!run.text) return;
    const offers = [];
    if (target && canSetField(this.editor, target)) {
      offers.push([`Set as ${FIELD_LABELS[target]}`, target, fieldValue(target, run.text)]);
    }
    if (inputs && inputs.choices && canSetField(this.editor, inputs.choices)) {
      for (const line of suggestionLines(run.text)) offers.push([`Use “${line}”`, inputs.choices, line]);
    }
    for (const [label, name, value] of offers) {
      const tooLong = overflowReason(name, value, this.config);
      if (!tooLong) {
        const button = element("button", { type: "button", class: "secondary" }, label);
        button.addEventListener("click", () => {
          this.editor.setField(name, value);
          this.say(`The ${FIELD_LABELS[name]} is set.`, "ok");
        });
        box.append(button);
        continue;
      }
      const row = element("p", { class: "ai-too-long", "data-ai-too-long": name });
      const what = value.length > 60 ? `“${value.slice(0, 57)}…”` : `“${value}”`;
      row.append(element("span", {}, `${what}: ${tooLong} It was not put in. `));
      const shorten = element("button", { type: "button", class: "secondary", "data-ai-starts": "" }, "Shorten it");
      shorten.addEventListener("click", () => this.runInPanel(this.request("rewrite", value, { preset: "shorter" }), name));
      row.append(shorten);
      box.append(row);
    }
  }

  showError(code, message) {
    const box = this.el("error");
    box.textContent = message;
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
      this.say("Copied to the clipboard.", "ok");
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
    this.say(done[how], "ok");
  }

  // --- the chat's conversation -----------------------------------------------------------

  chatPostId() {
    const postId = this.editor.postId();
    return postId ? String(postId) : "";
  }

  async chatLoad() {
    const postId = this.chatPostId();
    if (this.chatLoadedFor === postId) return;
    this.chatLoadedFor = postId;
    const url = `${this.config.chatUrl}${postId ? `?post_id=${encodeURIComponent(postId)}` : ""}`;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      const data = await response.json();
      if (!response.ok) throw new Error(data.message || "The conversation could not be loaded.");
      this.el("chat-log").replaceChildren();
      for (const message of data.messages) this.chatAdd(message.role, message.content);
    } catch (error) {
      this.chatLoadedFor = null;
      this.say(error.message.startsWith("The") ? error.message : "The conversation could not be loaded.", "warn");
    }
  }

  chatAdd(role, content, { pending = false } = {}) {
    const log = this.el("chat-log");
    const item = element("li", { class: `ai-chat-${role}`, "data-role": role });
    item.append(element("span", { class: "ai-chat-who" }, role === "user" ? "You" : "AI writer"), element("div", { class: "ai-chat-text" }, content));
    if (pending) item.dataset.pending = "";
    log.append(item);
    this.el("chat-empty").hidden = true;
    log.scrollTop = log.scrollHeight;
  }

  // A question whose answer never came is not part of the remembered conversation.
  chatSettle(answered) {
    const pending = this.el("chat-log").querySelector("[data-pending]");
    if (!pending) return;
    if (answered) delete pending.dataset.pending;
    else pending.remove();
    this.el("chat-empty").hidden = this.el("chat-log").children.length > 0;
  }

  async chatClear() {
    try {
      const response = await fetch(this.config.chatClearUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(this.form) },
        body: JSON.stringify({ post_id: this.chatPostId() ? Number(this.chatPostId()) : null }),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.message || "The conversation could not be cleared. Reload the page and try again.");
      this.el("chat-log").replaceChildren();
      this.el("chat-empty").hidden = false;
      this.say("The conversation is cleared; the next message starts a new one.", "ok");
    } catch (error) {
      this.say(error.message.startsWith("The") ? error.message : "The conversation could not be cleared. Try again.", "warn");
    }
  }
}

// The view of a box that shows one suggestion (the before-and-after box, a field's box): the
// answer streams into `output`, and every ending goes to the box's `finish(run, problem)`.
function boxView(box, output) {
  return {
    begin: () => box.begin(),
    thinking: () => {},
    chunk: (text, run) => {
      output.textContent = run.text;
    },
    done: (event, run) => box.finish(run, run.text ? "" : "The AI writer sent no text. Try again."),
    failed: (code, message, run) => box.finish(run, box.panel.failureText(code, message)),
    stopped: (message, run) => box.finish(run, message),
  };
}

// The toolbar for a selection of the body: presets that rewrite it, or continue from it, shown
// before and after with Accept, Discard and Try again. Accept replaces exactly the selection, as
// an edit the browser can undo.
class InlineRewrite {
  constructor(panel, body) {
    this.panel = panel;
    this.body = body;
    this.build();
    this.view = boxView(this, this.after);
  }

  build() {
    const presets = this.panel.config.presets || [];
    const bar = element("div", {
      class: "ai-inline-toolbar",
      id: "ai-inline-toolbar",
      role: "toolbar",
      "aria-label": "AI on the selected text",
      "aria-controls": this.body.id,
      "aria-keyshortcuts": "Alt+Shift+R",
    });
    bar.append(element("span", { class: "ai-inline-hint" }, "AI on the selection (Alt+Shift+R):"));
    for (const preset of presets.filter((p) => !p.value.startsWith("tone_"))) {
      bar.append(this.button(preset.label, { "data-ai-preset": preset.value }));
    }
    const tone = element("select", { id: "ai-inline-tone", "aria-label": "Change the tone of the selection", "data-ai-starts": "" });
    tone.append(new Option("Change tone…", ""));
    for (const preset of presets.filter((p) => p.value.startsWith("tone_"))) {
      tone.append(new Option(preset.label.replace(/^Tone: /, ""), preset.value));
    }
    tone.addEventListener("change", () => {
      if (tone.value) this.rewrite(tone.value);
      tone.value = "";
    });
    bar.append(tone, this.button("Continue from here", { "data-ai-inline-continue": "", id: "ai-inline-continue" }));
    bar.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if ("aiPreset" in button.dataset) this.rewrite(button.dataset.aiPreset);
      else if ("aiInlineContinue" in button.dataset) this.continueHere();
    });
    // Clicking a button must not move the selection the preset works on.
    bar.addEventListener("mousedown", (event) => {
      if (event.target.closest("button")) event.preventDefault();
    });

    const box = element("div", { class: "ai-inline-result", id: "ai-inline-result", role: "group", "aria-labelledby": "ai-inline-heading" });
    box.hidden = true;
    box.append(element("p", { class: "ai-inline-heading", id: "ai-inline-heading" }, "AI suggestion"));
    const compare = element("div", { class: "ai-inline-compare" });
    const beforeBox = element("div", { class: "ai-inline-side" });
    beforeBox.append(element("p", { class: "ai-inline-label", "data-ai-inline-before-label": "" }, "Before"));
    this.before = element("div", { class: "ai-inline-text", id: "ai-inline-before", tabindex: "0" });
    beforeBox.append(this.before);
    const afterBox = element("div", { class: "ai-inline-side" });
    afterBox.append(element("p", { class: "ai-inline-label" }, "After"));
    this.after = element("div", { class: "ai-inline-text", id: "ai-inline-after", tabindex: "0", "aria-busy": "false" });
    afterBox.append(this.after);
    compare.append(beforeBox, afterBox);
    this.note = element("p", { class: "ai-inline-note", role: "status" });
    const buttons = element("div", { class: "ai-buttons" });
    this.accept = element("button", { type: "button", id: "ai-inline-accept" }, "Accept");
    this.discard = element("button", { type: "button", class: "secondary", id: "ai-inline-discard" }, "Discard");
    this.retry = element("button", { type: "button", class: "secondary", id: "ai-inline-retry", "data-ai-starts": "" }, "Try again");
    buttons.append(this.accept, this.discard, this.retry);
    box.append(compare, this.note, buttons);
    this.accept.addEventListener("click", () => this.acceptIt());
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.current) this.discardIt();
    });
    this.discard.addEventListener("click", () => this.discardIt());
    this.retry.addEventListener("click", () => this.start(this.panel.again(this.message)));

    this.body.insertAdjacentElement("afterend", bar);
    bar.insertAdjacentElement("afterend", box);
    this.bar = bar;
    this.box = box;
    this.body.addEventListener("keydown", (event) => {
      if (event.altKey && event.shiftKey && event.code === "KeyR") {
        event.preventDefault();
        bar.querySelector("button:not(:disabled)")?.focus();
      }
    });
  }

  button(label, attributes) {
    return element("button", { type: "button", class: "secondary small", "data-ai-starts": "", ...attributes }, label);
  }

  selection() {
    const { selectionStart: start, selectionEnd: end, value } = this.body;
    return { start, end, text: value.slice(start, end) };
  }

  rewrite(preset) {
    const range = this.selection();
    if (!range.text.trim()) {
      this.panel.say("Select some text in the body first, then choose what to do with it.", "warn");
      this.body.focus();
      return;
    }
    this.range = { ...range, mode: "replace" };
    this.start(this.panel.request("rewrite", range.text, { preset }));
  }

  continueHere() {
    const { end } = this.selection();
    const text = this.body.value.slice(0, end);
    if (!text.trim()) {
      this.panel.say("Write some of the post first: the AI writer continues from the text before the cursor.", "warn");
      return;
    }
    this.range = { start: end, end, text: "", context: text.slice(-240), mode: "insert" };
    this.start(this.panel.request("continue", text));
  }

  start(message) {
    if (this.panel.run(message, this.view)) this.message = message;
  }

  begin() {
    const continuing = this.range.mode === "insert";
    this.box.querySelector("[data-ai-inline-before-label]").textContent = continuing ? "Continues after" : "Before";
    this.before.textContent = continuing ? `…${this.range.context}` : this.range.text;
    this.after.textContent = "";
    this.after.setAttribute("aria-busy", "true");
    this.note.textContent = "Writing…";
    this.accept.disabled = true;
    this.discard.textContent = "Stop";
    this.box.hidden = false;
  }

  finish(run, problem) {
    this.after.setAttribute("aria-busy", "false");
    this.discard.textContent = "Discard";
    this.accept.disabled = !run.text;
    this.note.textContent =
      problem || (this.range.mode === "insert" ? "Accept adds this after the cursor." : "Accept replaces the selection with this.");
    // Focus stays where it is: the author may have gone on typing while the text was written.
  }

  // Where the passage is now: the same place if the text there is unchanged, else the one place it
  // is found; null when it was edited or is found more than once.
  currentRange() {
    const { start, end, text, mode } = this.range;
    const value = this.body.value;
    if (mode === "insert") return value.slice(0, start).endsWith(this.range.context) ? { start, end } : null;
    if (value.slice(start, end) === text) return { start, end };
    const at = value.indexOf(text);
    if (at === -1 || value.indexOf(text, at + 1) !== -1) return null;
    return { start: at, end: at + text.length };
  }

  acceptIt() {
    const text = this.after.textContent;
    const range = this.currentRange();
    if (!text) return;
    if (!range) {
      this.note.textContent = "The text changed meanwhile, so the suggestion was not put in. Select the passage again and try again.";
      return;
    }
    let insert = text;
    if (this.range.mode === "insert") {
      const previous = this.body.value[range.start - 1];
      if (previous && !/\s/.test(previous) && !/^\s/.test(text)) insert = ` ${text}`;
    }
    this.body.focus();
    this.body.setSelectionRange(range.start, range.end);
    this.panel.editor.replaceSelection(insert);
    this.body.setSelectionRange(range.start, range.start + insert.length);
    this.close();
    this.panel.say(
      this.range.mode === "insert" ? "Added after the cursor. Ctrl+Z undoes it." : "Replaced the selection. Ctrl+Z undoes it.",
      "ok",
    );
  }

  discardIt() {
    if (this.panel.current && this.panel.current.view === this.view) {
      this.panel.stop();
      return;
    }
    this.close();
    const range = this.currentRange();
    this.body.focus();
    if (range) this.body.setSelectionRange(range.start, range.end);
  }

  close() {
    this.box.hidden = true;
    this.after.textContent = "";
  }
}

// A Suggest button beside a field, and a box that shows the suggestion with Accept, Discard and
// Try again; a suggestion too long for the field is not offered, and the box says why.
class FieldAssist {
  constructor(panel, name, field) {
    this.panel = panel;
    this.name = name;
    this.field = field;
    this.build();
    this.view = boxView(this, this.output);
  }

  build() {
    const label = FIELD_LABELS[this.name];
    const holder = this.field.closest(".field") || this.field.parentElement;
    const assist = element("div", { class: "ai-assist", "data-ai-assist": this.name });
    this.suggest = element(
      "button",
      { type: "button", class: "secondary small", id: `ai-suggest-${this.name}`, "data-ai-starts": "", "aria-controls": `ai-assist-${this.name}` },
      this.name === "tags" ? "Suggest tags" : `Suggest ${/^[aeiou]/.test(label) ? "an" : "a"} ${label}`,
    );
    this.box = element("div", { class: "ai-assist-result", id: `ai-assist-${this.name}`, role: "group", "aria-label": `AI suggestion for the ${label}` });
    this.box.hidden = true;
    this.output = element("div", { class: "ai-assist-text", "data-ai-assist-output": "", tabindex: "0" });
    this.choices = element("div", { class: "ai-assist-choices" });
    this.note = element("p", { class: "ai-inline-note", role: "status" });
    const buttons = element("div", { class: "ai-buttons" });
    this.accept = element("button", { type: "button", "data-ai-assist-accept": "" }, "Accept");
    this.discard = element("button", { type: "button", class: "secondary", "data-ai-assist-discard": "" }, "Discard");
    this.retry = element("button", { type: "button", class: "secondary", "data-ai-assist-retry": "", "data-ai-starts": "" }, "Try again");
    buttons.append(this.accept, this.discard, this.retry);
    this.box.append(this.output, this.choices, this.note, buttons);
    assist.append(this.suggest, this.box);
    holder.append(assist);
    this.suggest.addEventListener("click", () => this.start(this.panel.request(FIELD_ACTIONS[this.name], this.panel.editor.getBody() || "")));
    this.retry.addEventListener("click", () => this.start(this.panel.again(this.message)));
    this.accept.addEventListener("click", () => this.set(this.value));
    this.discard.addEventListener("click", () => this.discardIt());
    this.box.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.current) this.discardIt();
    });
  }

  start(message) {
    if (this.panel.run(message, this.view)) this.message = message;
  }

  discardIt() {
    if (this.panel.current && this.panel.current.view === this.view) {
      this.panel.stop();
      return;
    }
    this.box.hidden = true;
    this.suggest.focus();
  }

  begin() {
    this.output.textContent = "";
    this.output.hidden = false;
    this.choices.replaceChildren();
    this.note.textContent = "Writing…";
    this.accept.hidden = false;
    this.accept.disabled = true;
    this.discard.textContent = "Stop";
    this.box.hidden = false;
  }

  finish(run, problem) {
    this.discard.textContent = "Discard";
    this.accept.disabled = true;
    this.value = "";
    if (problem || !run.text) {
      this.note.textContent = problem || "The AI writer sent no text. Try again.";
      return;
    }
    if (this.name === "title") {
      this.offerTitles(run.text);
      return;
    }
    const value = fieldValue(this.name, run.text);
    const tooLong = overflowReason(this.name, value, this.panel.config);
    this.output.textContent = value;
    if (tooLong) {
      this.note.textContent = `${tooLong} It was not put in: try again for another.`;
      return;
    }
    this.value = value;
    this.accept.disabled = false;
    this.note.textContent = `Accept puts this in the ${FIELD_LABELS[this.name]}.`;
  }

  // Five titles: each one that fits is a button that sets it; one too long says so.
  offerTitles(text) {
    this.output.hidden = true;
    this.accept.hidden = true;
    let fitting = 0;
    for (const line of suggestionLines(text)) {
      const tooLong = overflowReason("title", line, this.panel.config);
      const choice = element("button", { type: "button", class: "secondary ai-choice", "data-ai-assist-choice": "" }, line);
      if (tooLong) {
        choice.disabled = true;
        choice.title = tooLong;
      } else {
        fitting += 1;
        choice.addEventListener("click", () => this.set(line));
      }
      this.choices.append(choice);
    }
    this.note.textContent = fitting
      ? "Choose a title to use it."
      : "None of these fits: a title takes at most its field's length. Try again for others.";
  }

  set(value) {
    if (!value || overflowReason(this.name, value, this.panel.config)) return;
    this.panel.editor.setField(this.name, value);
    this.box.hidden = true;
    this.field.focus();
    this.panel.say(`The ${FIELD_LABELS[this.name]} is set.`, "ok");
  }
}

function describeStats(event) {
  const stats = event.stats || {};
  // Counted from the stream when the engine sent no counts: close, but not the model's own figure.
  const about = stats.tokens_estimated ? "≈" : "";
  const parts = [];
  if (event.cached) parts.push("from the cache (Try again asks for a new answer)");
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

// On the post editor, the toolbar under the body and the Suggest buttons beside the fields.
function addHelpersBesideFields(panel, editor) {
  const body = document.getElementById("id_body");
  if (body) panel.inline = new InlineRewrite(panel, body);
  panel.assists = Object.keys(FIELD_ACTIONS)
    .map((name) => [name, document.getElementById(`id_${name}`)])
    .filter(([name, field]) => field && canSetField(editor, name))
    .map(([name, field]) => new FieldAssist(panel, name, field));
}

function start() {
  wireAdminDrawer();
  const root = document.querySelector("[data-aiwriter-panel]");
  const configElement = document.getElementById("aiwriter-config");
  if (!root || !configElement) return;
  const config = JSON.parse(configElement.textContent);
  const begin = (editor, helpers) => {
    const panel = new AiPanel(root, config, editor);
    if (helpers) addHelpersBesideFields(panel, editor);
    window.blogsiteAiPanel = panel;
  };
  if (window.blogsiteEditor) {
    begin(window.blogsiteEditor, true);
  } else if (document.getElementById("post-form")) {
    // The editor's module runs after this one; it announces its API when ready.
    document.addEventListener("blogsite:editor-ready", (event) => begin(event.detail, true), { once: true });
  } else if (document.getElementById("id_body")) {
    begin(textareaEditor(config), false);
  } else {
    root.querySelector("[data-ai-connection]").textContent = "The AI writer needs the post editor on this page.";
  }
}

start();
