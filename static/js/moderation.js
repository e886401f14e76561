/**
 * The comment moderation queue (templates/editor/comment_queue.html): a box that ticks every
 * comment on the page. The queue works without this script; the box stays hidden then.
 */

const selectAll = document.getElementById("select-all-comments");
const boxes = [...document.querySelectorAll("[data-comment-select]")];

if (selectAll && boxes.length) {
  const update = () => {
    const ticked = boxes.filter((box) => box.checked).length;
    selectAll.checked = ticked === boxes.length;
    selectAll.indeterminate = ticked > 0 && ticked < boxes.length;
  };
  selectAll.hidden = false;
  selectAll.addEventListener("change", () => {
    for (const box of boxes) box.checked = selectAll.checked;
    update();
  });
  for (const box of boxes) box.addEventListener("change", update);
  update();
}
