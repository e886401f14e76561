// Alt text from the AI writer, in two places:
// - a media library image's page: a suggestion for that image, put into its alt text field only
//   when the editor clicks Accept (the image's own Save keeps it);
// - the post editor's sidebar: the images the body shows with no alt text, each with a
//   suggestion that Accept keeps in the media library (the page shows it wherever the Markdown
//   gives none).
// Suggestions stream over Server-Sent Events (POST /aiwriter/stream/, the alt_text action with the
// image's id); written alt text is never replaced without a click.
import { streamOverSse } from "./aiwriter-sse.js";

const STREAM_REFUSED = "The AI writer could not take the request. Reload the page and try again.";

async function postJson(url, token, payload) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token, Accept: "application/json" },
      body: JSON.stringify(payload),
      credentials: "same-origin",
    });
  } catch {
    throw new Error(navigator.onLine ? "The server could not be reached. Try again." : "You are offline.");
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message || "The server refused the request. Reload the page.");
  return answer;
}

// The picker lists the models that read images first; text-only ones are shown but cannot be
// picked. Returns a message for the panel when no model reads images.
async function loadModels(panel, select) {
  let data;
  try {
    const response = await fetch(panel.dataset.modelsUrl, { credentials: "same-origin" });
    data = await response.json();
    if (!response.ok) throw new Error(data.message || "The AI writer is unavailable right now.");
  } catch (error) {
    select.replaceChildren(new Option("No models available", ""));
    throw error;
  }
  const models = data.models || [];
  const seeing = models.filter((model) => model.vision);
  select.replaceChildren(
    ...seeing.map((model) => new Option(`${model.name} (reads images)`, model.name)),
    ...models
      .filter((model) => !model.vision)
      .map((model) => {
        const option = new Option(`${model.name} (text only)`, model.name);
        option.disabled = true;
        return option;
      }),
  );
  const preferred = seeing.find((model) => model.name === panel.dataset.defaultModel) || seeing[0];
  if (preferred) {
    select.value = preferred.name;
    return "";
  }
  select.prepend(new Option("No model reads images", ""));
  select.value = "";
  return "None of the AI models can read images, so none can suggest alt text. An administrator can add one.";
}

// The panel's status line and error box.
function panelMessages(panel) {
  const status = panel.querySelector("[data-alt-status]");
  const errorBox = panel.querySelector("[data-alt-error]");
  return {
    say: (text) => (status.textContent = text),
    error: (text) => {
      errorBox.textContent = text;
      errorBox.hidden = !text;
    },
  };
}

// The controls of one suggestion inside `root`; `choices` holds its Accept and Discard buttons.
function suggestionView(root, choices, { say, error }) {
  return {
    suggest: root.querySelector("[data-alt-suggest]"),
    stop: root.querySelector("[data-alt-stop]"),
    output: root.querySelector("[data-alt-output]"),
    choices,
    say,
    error,
  };
}

// One suggestion at a time per image: `view` has the output box and the buttons to show or hide.
function suggestion(panel, view, { message, onDone }) {
  let abort = null;
  let count = 0;
  const token = () => panel.querySelector("input[name=csrfmiddlewaretoken]").value;

  function busy(on) {
    view.suggest.disabled = on;
    view.stop.hidden = !on;
    view.output.setAttribute("aria-busy", String(on));
  }

  async function run() {
    if (abort) return;
    view.error("");
    view.output.textContent = "";
    view.output.hidden = false;
    view.choices.hidden = true;
    abort = new AbortController();
    busy(true);
    count += 1;
    const request = { type: "generate", request_id: `alt-${Date.now()}-${count}`, action: "alt_text", ...message() };
    try {
      await streamOverSse(panel.dataset.streamUrl, token(), request, handle, abort.signal, STREAM_REFUSED);
    } catch (error) {
      if (error.name === "AbortError") view.say("Stopped. The text so far is kept here.");
      else view.error(error.message || "The AI writer is unavailable right now. Try again in a minute.");
    } finally {
      abort = null;
      busy(false);
      view.choices.hidden = !view.output.textContent.trim();
    }
  }

  function handle(event) {
    if (event.type === "start") view.say(`Asking ${event.model}…`);
    else if (event.type === "chunk") view.output.textContent += event.text;
    else if (event.type === "done") onDone(view.output.textContent.trim());
    else if (event.type === "error") {
      view.error(event.message);
      view.say("");
    }
  }

  view.stop.addEventListener("click", () => abort && abort.abort());
  return { run, text: () => view.output.textContent.trim() };
}

// A media library image's page.
function imagePage(panel) {
  const form = panel.querySelector("[data-alt-form]");
  const modelSelect = panel.querySelector("[data-alt-model]");
  const notes = panel.querySelector("[data-alt-notes]");
  const result = panel.querySelector("[data-alt-result]");
  const acceptButton = panel.querySelector("[data-alt-accept]");
  const field = document.getElementById(panel.dataset.fieldId);
  const view = suggestionView(panel, acceptButton.parentElement, panelMessages(panel));
  const current = suggestion(panel, view, {
    message: () => ({ image_id: Number(panel.dataset.imageId), post_id: null, model: modelSelect.value, text: notes.value.trim() }),
    onDone: (text) => {
      acceptButton.disabled = !text;
      view.say(text ? "Read the suggestion, then Accept it into the alt text field or Discard it." : "The model gave no text.");
    },
  });
  // The suggest button submits the form, so Enter in the notes asks too.
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    result.hidden = false;
    acceptButton.disabled = true;
    current.run();
  });
  acceptButton.addEventListener("click", () => {
    field.value = current.text();
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.focus();
    result.hidden = true;
    view.say("The suggestion is in the alt text field. Edit it if you like, then Save the image.");
  });
  panel.querySelector("[data-alt-discard]").addEventListener("click", () => {
    view.output.textContent = "";
    result.hidden = true;
    view.say("Suggestion discarded. The alt text field is as it was.");
  });
  view.suggest.disabled = true;
  loadModels(panel, modelSelect)
    .then((note) => {
      view.say(note);
      view.suggest.disabled = !modelSelect.value;
    })
    .catch((error) => view.error(error.message));
}

// The post editor's sidebar.
function postEditor(panel, editor) {
  const form = panel.querySelector("[data-alt-form]");
  const modelSelect = panel.querySelector("[data-alt-model]");
  const list = panel.querySelector("[data-alt-list]");
  const itemTemplate = panel.querySelector("[data-alt-item]");
  const token = () => form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const messages = panelMessages(panel);
  const { say, error: showError } = messages;

  function item(image) {
    const element = itemTemplate.content.firstElementChild.cloneNode(true);
    element.querySelector("[data-alt-title]").textContent = image.title;
    const view = suggestionView(element, element.querySelector("[data-alt-choices]"), messages);
    view.output.setAttribute("aria-label", `Suggested alt text for ${image.title}`);
    view.suggest.disabled = !modelSelect.value;
    const current = suggestion(panel, view, {
      message: () => ({ image_id: image.id, post_id: editor.postId(), model: modelSelect.value, text: "" }),
      onDone: (text) =>
        say(text ? `Read the suggestion for “${image.title}”, then Accept or Discard it.` : "The model gave no text."),
    });
    view.suggest.addEventListener("click", current.run);
    element.querySelector("[data-alt-accept]").addEventListener("click", async () => {
      const url = panel.dataset.saveUrl.replace(/\/0\/$/, `/${image.id}/`);
      try {
        await postJson(url, token(), { alt_text: current.text() });
      } catch (error) {
        showError(error.message);
        return;
      }
      element.replaceChildren(Object.assign(document.createElement("p"), {
        textContent: `“${image.title}”: “${current.text()}” is its alt text in the media library now.`,
      }));
      say("Saved. Readers get this alt text wherever the post's Markdown gives none.");
    });
    element.querySelector("[data-alt-discard]").addEventListener("click", () => {
      view.output.textContent = "";
      view.output.hidden = true;
      view.choices.hidden = true;
      say("Suggestion discarded. Nothing was changed.");
    });
    return element;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    say("Looking at the images in the post…");
    let answer;
    try {
      answer = await postJson(panel.dataset.imagesUrl, token(), { body: editor.getBody() });
    } catch (error) {
      say("");
      showError(error.message);
      return;
    }
    list.replaceChildren(...answer.images.map(item));
    say(
      answer.images.length
        ? `${answer.images.length} image${answer.images.length === 1 ? " has" : "s have"} no alt text.`
        : "Every library image in the post has alt text.",
    );
  });
  loadModels(panel, modelSelect)
    .then(say)
    .catch((error) => showError(error.message));
}

const imagePanel = document.querySelector("[data-ai-alt-text]");
if (imagePanel) imagePage(imagePanel);
const editorPanel = document.querySelector("[data-ai-alt-text-editor]");
if (editorPanel) {
  const start = (editor) => postEditor(editorPanel, editor);
  if (window.blogsiteEditor) start(window.blogsiteEditor);
  else document.addEventListener("blogsite:editor-ready", (event) => start(event.detail), { once: true });
}
