// The AI writer's Server-Sent Events stream, shared by the AI panel and the alt-text panels.
// EventSource cannot POST, so the request goes over fetch; aborting the fetch stops the generation.
// `refused` is the message thrown when the server answers with something other than a stream.
export async function streamOverSse(url, token, message, onEvent, signal, refused) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": token, Accept: "text/event-stream" },
    body: JSON.stringify(message),
    credentials: "same-origin",
    signal,
  });
  if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    throw new Error(refused);
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
