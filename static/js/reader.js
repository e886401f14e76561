// A signed-in reader's own parts of a reader page that every reader shares (the page cache serves
// one copy to all): asks the reader fragment once (posts/reader_fragment.py) and puts in the account menu and,
// on a post page, the comment form with its CSRF token and the reader's comments waiting for an
// editor. Without this script, or when the request fails, the page stays as it is for a visitor
// who is not signed in: its links lead to pages Django renders for the reader.
"use strict";

(() => {
  const account = document.querySelector("nav[data-reader-account]");
  if (!account) return;
  const comments = document.querySelector("[data-reader-comments]");

  const url = new URL(account.dataset.readerAccount, window.location.origin);
  if (comments) url.searchParams.set("post", comments.dataset.readerComments);

  async function fillIn() {
    let parts;
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      parts = await response.json();
    } catch {
      return; // offline or interrupted: the page keeps its links to sign in and to comment
    }
    if (!parts.signed_in) return;
    account.innerHTML = parts.account;
    if (comments && typeof parts.comments === "string") comments.innerHTML = parts.comments;
  }

  fillIn();
})();
