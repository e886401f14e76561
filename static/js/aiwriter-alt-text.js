// Alt text from the AI writer on a media library image's page: asks a model that reads images
// (POST /aiwriter/stream/, the alt_text action with the image's id), shows the suggestion as it
// streams, and puts it into the alt text field only when the editor clicks Accept. The field is
// saved with the image's own Save button, so nothing written is replaced without the editor.
"use strict";

(() => {
  const panel = document.querySelector("[data-ai-alt-text]");
  if (!panel) return;

  const form = panel.querySelector("[data-alt-form]");
  const modelSelect = panel.querySelector("[data-alt-model]");
  const notes = panel.querySelector("[data-alt-notes]");
  const suggestButton = panel.querySelector("[data-alt-suggest]");
  const stopButton = panel.querySelector("[data-alt-stop]");
  const status = panel.querySelector("[data-alt-status]");
  const errorBox = panel.querySelector("[data-alt-error]");
  const result = panel.querySelector("[data-alt-result]");
  const output = panel.querySelector("[data-alt-output]");
  const acceptButton = panel.querySelector("[data-alt-accept]");
  const discardButton = panel.querySelector("[data-alt-discard]");
  const field = document.getElementById(panel.dataset.fieldId);
  const imageId = Number(panel.dataset.imageId);
  let abort = null;
  let requestCount = 0;

  const csrfToken = () => form.querySelector("input[name=csrfmiddlewaretoken]").value;

  function say(text) {
    status.textContent = text;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function setBusy(busy) {
    suggestButton.disabled = busy || !modelSelect.value;
    stopButton.hidden = !busy;
    output.setAttribute("aria-busy", String(busy));
  }

  // The picker lists the models that read images first; text-only ones are shown but cannot be picked.
  async function loadModels() {
    let data;
    try {
      const response = await fetch(panel.dataset.modelsUrl, { credentials: "same-origin" });
      data = await response.json();
      if (!response.ok) throw new Error(data.message || "The AI writer is unavailable right now.");
    } catch (error) {
      modelSelect.replaceChildren(new Option("No models available", ""));
      showError(error.message || "The AI writer is unavailable right now. Reload the page to try again.");
      setBusy(false);
      return;
    }
    const models = data.models || [];
    const seeing = models.filter((model) => model.vision);
    const textOnly = models.filter((model) => !model.vision);
    modelSelect.replaceChildren(
      ...seeing.map((model) => new Option(`${model.name} (reads images)`, model.name)),
      ...textOnly.map((model) => {
        const option = new Option(`${model.name} (text only)`, model.name);
        option.disabled = true;
        return option;
      }),
    );
    const preferred = seeing.find((model) => model.name === panel.dataset.defaultModel) || seeing[0];
    if (preferred) {
      modelSelect.value = preferred.name;
      say("");
    } else {
      modelSelect.prepend(new Option("No model reads images", ""));
      modelSelect.value = "";
      say("None of the AI models can read images, so none can suggest alt text. An administrator can add one.");
    }
    setBusy(false);
  }

  // Server-Sent Events over fetch (EventSource cannot POST); aborting the fetch stops the generation.
  async function stream(message, onEvent, signal) {
    const response = await fetch(panel.dataset.streamUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "text/event-stream" },
      body: JSON.stringify(message),
      credentials: "same-origin",
      signal,
    });
    if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
      throw new Error("The AI writer could not take the request. Reload the page and try again.");
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

  function handle(event) {
    if (event.type === "start") say(`Asking ${event.model}…`);
    else if (event.type === "chunk") output.textContent += event.text;
    else if (event.type === "done") {
      const text = output.textContent.trim();
      acceptButton.disabled = !text;
      say(text ? "Read the suggestion, then Accept it into the alt text field or Discard it." : "The model gave no text.");
    } else if (event.type === "error") {
      showError(event.message);
      say("");
    }
  }

  async function suggest() {
    if (abort) return;
    showError("");
    output.textContent = "";
    acceptButton.disabled = true;
    result.hidden = false;
    abort = new AbortController();
    setBusy(true);
    requestCount += 1;
    const message = {
      type: "generate",
      request_id: `alt-${imageId}-${Date.now()}-${requestCount}`,
      action: "alt_text",
      image_id: imageId,
      post_id: null,
      model: modelSelect.value,
      text: notes.value.trim(),
    };
    try {
      await stream(message, handle, abort.signal);
    } catch (error) {
      if (error.name === "AbortError") say("Stopped. The text so far is kept here.");
      else showError(error.message || "The AI writer is unavailable right now. Try again in a minute.");
    } finally {
      abort = null;
      setBusy(false);
      acceptButton.disabled = !output.textContent.trim();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    suggest();
  });
  modelSelect.addEventListener("change", () => setBusy(Boolean(abort)));
  stopButton.addEventListener("click", () => abort && abort.abort());
  acceptButton.addEventListener("click", () => {
    if (!field) return;
    field.value = output.textContent.trim();
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.focus();
    result.hidden = true;
    say("The suggestion is in the alt text field. Edit it if you like, then Save the image.");
  });
  discardButton.addEventListener("click", () => {
    output.textContent = "";
    result.hidden = true;
    say("Suggestion discarded. The alt text field is as it was.");
  });

  setBusy(false);
  loadModels();
})();
