// The back office works without this file; it only helps: the script editor selects the
// line a refusal names, so the cursor is where the fix goes; a running job's page reloads
// itself (without JavaScript, its <noscript> refresh does).
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
