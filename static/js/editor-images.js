/*
 * Images in the post editor: drop or paste images into the body, or pick files, and the
 * Markdown that shows each one goes in at the cursor once it is uploaded; insert an image from
 * the library; choose, upload or remove the cover image (saved with the post).
 *
 * Uploads go to the media library's endpoint (multipart, with the CSRF token); the server checks
 * every file and answers with a message to show when it refuses one. The body's text is changed
 * only through the textarea's own editing (setRangeText), followed by an input event, so the
 * editor's autosave, preview and local copy (editor.js) see it like typing.
 */

const form = document.getElementById("post-form");
const body = document.getElementById("id_body");
const picker = document.querySelector("[data-image-picker]");

const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"]);

function csrfToken() {
  return form.elements.csrfmiddlewaretoken.value;
}

async function uploadImage(file) {
  const data = new FormData();
  data.append("file", file, file.name || "pasted-image");
  let response;
  try {
    response = await fetch(picker.dataset.uploadUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: data,
    });
  } catch {
    throw new Error(navigator.onLine ? "The server could not be reached." : "You are offline.");
  }
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    // A refusal before Django (a proxy's size limit, say) has no JSON body.
  }
  if (!response.ok) {
    const fallback = response.status === 413 ? "The file is too large." : `The upload failed (${response.status}).`;
    throw new Error(answer.error || fallback);
  }
  return answer;
}

function showStatus(element, text, { error = false } = {}) {
  element.textContent = text;
  element.classList.toggle("error", error);
}

// --- the body ----------------------------------------------------------------------------

const tools = document.querySelector("[data-image-tools]");
const bodyStatus = document.querySelector("[data-image-status]");
const bodyFile = document.querySelector("[data-image-file]");

/** Put `text` in place of `placeholder` if it is still in the body, else at the cursor. */
function replacePlaceholder(placeholder, text) {
  const at = body.value.indexOf(placeholder);
  if (at === -1) {
    body.setRangeText(text, body.selectionStart, body.selectionEnd, "end");
  } else {
    body.setRangeText(text, at, at + placeholder.length, "preserve");
  }
  body.dispatchEvent(new Event("input", { bubbles: true }));
}

/** Put `text` at the cursor as a paragraph of its own: after a blank line, unless at the start. */
function insertAtCursor(text) {
  const start = body.selectionStart;
  const preceding = body.value.slice(Math.max(0, start - 2), start);
  const before = start === 0 || preceding === "\n\n" ? "" : preceding.endsWith("\n") ? "\n" : "\n\n";
  const inserted = `${before}${text}\n`;
  body.setRangeText(inserted, start, body.selectionEnd, "end");
  body.dispatchEvent(new Event("input", { bubbles: true }));
  return inserted;
}

async function uploadIntoBody(files) {
  const images = [...files].filter((file) => IMAGE_TYPES.has(file.type) || file.type === "");
  if (!images.length) {
    showStatus(bodyStatus, "Only JPEG, PNG, WebP, GIF and AVIF images can be added.", { error: true });
    return;
  }
  for (const [index, file] of images.entries()) {
    const placeholder = `![Uploading ${(file.name || "image").replace(/[[\]]/g, "")} (${index + 1})…]()`;
    const inserted = insertAtCursor(placeholder);
    showStatus(bodyStatus, `Uploading ${file.name || "the pasted image"}…`);
    try {
      const image = await uploadImage(file);
      replacePlaceholder(placeholder, image.markdown);
      const describe = image.alt_text ? "" : " It has no alt text yet: describe it in the media library.";
      showStatus(bodyStatus, `“${image.title || file.name}” added.${describe}`);
    } catch (error) {
      // Take back what was put in for the upload, the blank lines too, unless the writer edited around it.
      if (body.value.includes(inserted)) replacePlaceholder(inserted, "");
      else replacePlaceholder(placeholder, "");
      showStatus(bodyStatus, `${file.name || "The image"}: ${error.message}`, { error: true });
    }
  }
}

function hasFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes("Files");
}

if (form && body && picker && tools) {
  tools.hidden = false;
  body.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    body.classList.add("drop-target");
  });
  body.addEventListener("dragleave", () => body.classList.remove("drop-target"));
  body.addEventListener("drop", (event) => {
    body.classList.remove("drop-target");
    if (!hasFiles(event) || !event.dataTransfer.files.length) return;
    event.preventDefault();
    body.focus();
    uploadIntoBody(event.dataTransfer.files);
  });
  body.addEventListener("paste", (event) => {
    const files = event.clipboardData?.files;
    if (!files || !files.length) return; // text pastes as usual
    event.preventDefault();
    uploadIntoBody(files);
  });
  document.querySelector("[data-image-upload]").addEventListener("click", () => bodyFile.click());
  bodyFile.addEventListener("change", () => {
    if (bodyFile.files.length) uploadIntoBody(bodyFile.files);
    bodyFile.value = "";
  });
  document.querySelector("[data-image-library]").addEventListener("click", () => {
    const selection = [body.selectionStart, body.selectionEnd];
    openPicker((image) => {
      body.focus();
      body.setSelectionRange(...selection);
      insertAtCursor(image.markdown);
      showStatus(bodyStatus, `“${image.title}” added.`);
    });
  });
}

// --- the cover ---------------------------------------------------------------------------

const cover = document.querySelector("[data-cover-picker]");

function setCover(image) {
  const input = cover.querySelector('input[name="cover_image"]');
  const choice = cover.querySelector(".cover-choice");
  let preview = cover.querySelector("[data-cover-preview]");
  input.value = image ? image.id : "";
  if (image && !preview) {
    preview = document.createElement("img");
    preview.alt = "";
    preview.dataset.coverPreview = "";
    choice.prepend(preview);
  }
  if (preview) {
    preview.hidden = !image;
    if (image) {
      preview.src = image.url;
      preview.width = image.width;
      preview.height = image.height;
    }
  }
  cover.querySelector("[data-cover-name]").textContent = image
    ? `From the library: ${image.title}`
    : "No image from the library.";
  showStatus(cover.querySelector("[data-cover-status]"), "Press Save to keep this cover.");
}

if (cover && picker) {
  const status = cover.querySelector("[data-cover-status]");
  const file = cover.querySelector("[data-cover-file]");
  cover.querySelector("[data-cover-tools]").hidden = false;
  cover.querySelector("[data-cover-library]").addEventListener("click", () => openPicker(setCover));
  cover.querySelector("[data-cover-remove]").addEventListener("click", () => setCover(null));
  cover.querySelector("[data-cover-upload]").addEventListener("click", () => file.click());
  file.addEventListener("change", async () => {
    const chosen = file.files[0];
    file.value = "";
    if (!chosen) return;
    showStatus(status, `Uploading ${chosen.name}…`);
    try {
      setCover(await uploadImage(chosen));
    } catch (error) {
      showStatus(status, `${chosen.name}: ${error.message}`, { error: true });
    }
  });
}

// --- the library picker ------------------------------------------------------------------

let onPick = null;
let opener = null;
const grid = picker?.querySelector("[data-picker-grid]");
const pickerState = picker?.querySelector("[data-picker-state]");

async function loadPage(page = 1) {
  const query = picker.querySelector('input[name="q"]').value;
  const url = new URL(picker.dataset.libraryUrl, window.location.href);
  url.search = new URLSearchParams({ q: query, page }).toString();
  pickerState.textContent = "Loading…";
  let data;
  try {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    data = await response.json();
    if (!response.ok) throw new Error(data.error || `The library could not be read (${response.status}).`);
  } catch (error) {
    pickerState.textContent = error.message;
    return;
  }
  grid.replaceChildren(...data.images.map(pickerItem));
  pickerState.textContent = data.images.length ? `Page ${data.page} of ${data.pages}` : "No images match.";
  for (const [name, target] of [["previous", data.previous], ["next", data.next]]) {
    const button = picker.querySelector(`[data-picker-${name}]`);
    button.hidden = !target;
    button.onclick = () => loadPage(target);
  }
}

function pickerItem(image) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  const thumbnail = document.createElement("img");
  thumbnail.src = image.thumbnail_url;
  thumbnail.alt = "";
  thumbnail.loading = "lazy";
  const label = document.createElement("span");
  label.textContent = image.title || "Untitled";
  button.append(thumbnail, label);
  button.setAttribute("aria-label", `${image.title || "Untitled"}${image.alt_text ? `: ${image.alt_text}` : ""}`);
  button.addEventListener("click", () => {
    const pick = onPick;
    closePicker();
    pick(image);
  });
  item.append(button);
  return item;
}

function openPicker(callback) {
  onPick = callback;
  opener = document.activeElement;
  picker.showModal();
  picker.querySelector('input[name="q"]').focus();
  loadPage(1);
}

function closePicker() {
  picker.close();
}

if (picker) {
  picker.querySelector("[data-picker-search]").addEventListener("submit", (event) => {
    event.preventDefault();
    loadPage(1);
  });
  picker.querySelector("[data-picker-close]").addEventListener("click", closePicker);
  picker.addEventListener("close", () => {
    // Escape closes the dialog too; focus goes back to the button that opened it.
    onPick = null;
    opener?.focus();
  });
}
