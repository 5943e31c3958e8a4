// Forms work without this file. With it, a submitted form's button is disabled while the page
// loads, so a second tap does not post the form twice.
document.addEventListener("submit", function (event) {
  var button = event.target.querySelector("button[type=submit]");
  if (button) {
    window.setTimeout(function () { button.disabled = true; }, 0);
  }
});
