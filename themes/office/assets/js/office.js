// The back office works without this file; it only helps: the script editor selects the
// line a refusal names, so the cursor is where the fix goes; a running job's page reloads
// itself (without JavaScript, its <noscript> refresh does); a plugin's button marked
// `data-confirm` asks its question before it posts.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
document.addEventListener("DOMContentLoaded", () => {
  const running = document.querySelector("[data-reload-after]");
  if (running) setTimeout(() => location.reload(), Number(running.dataset.reloadAfter) || 1000);
});
document.addEventListener("DOMContentLoaded", () => {
  const source = document.querySelector("textarea[data-problem-line]");
  const line = source && Number(source.dataset.problemLine);
  if (!line) return;
  const lines = source.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, text) => n + text.length + 1, 0);
  const end = start + (lines[line - 1] || "").length;
  source.focus();
  source.setSelectionRange(start, end);
  const lineHeight = parseFloat(getComputedStyle(source).lineHeight) || 20;
  source.scrollTop = Math.max(0, (line - 3) * lineHeight);
});
// 店铺装修: a section dragged onto another takes its place; the new order is posted with the
// same form the 上移/下移 buttons stand in for without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  const list = document.querySelector("[data-sortable]");
  if (!list) return;
  const form = document.getElementById(list.dataset.sortable);
  let dragged = null;
  list.addEventListener("dragstart", (event) => {
    dragged = event.target.closest("[data-index]");
    if (!dragged) return;
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.index);
  });
  list.addEventListener("dragover", (event) => {
    const over = event.target.closest("[data-index]");
    if (!dragged || !over || over === dragged) return;
    event.preventDefault();
    list.querySelectorAll(".drop-target").forEach((el) => el.classList.remove("drop-target"));
    over.classList.add("drop-target");
  });
  list.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    list.querySelectorAll(".drop-target").forEach((el) => el.classList.remove("drop-target"));
    dragged = null;
  });
  list.addEventListener("drop", (event) => {
    const over = event.target.closest("[data-index]");
    if (!dragged || !over || over === dragged) return;
    event.preventDefault();
    const items = [...list.querySelectorAll("[data-index]")];
    const from = items.indexOf(dragged);
    const to = items.indexOf(over);
    items.splice(to, 0, items.splice(from, 1)[0]);
    form.elements.order.value = items.map((el) => el.dataset.index).join(",");
    form.submit();
  });
});
