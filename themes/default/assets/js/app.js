// Forms work without this file. With it, a form marked `data-confirm` asks its question first;
// a submitted form's button is disabled while the page loads, so a second tap does not post the
// form twice; and the scan button scans with the
// camera where the browser can read barcodes and QR codes (BarcodeDetector), else it stays the
// link to the typed entry. What it reads goes into the form's `data-scan-field` (the search's
// `q` otherwise) and the form is sent.
document.addEventListener("submit", function (event) {
  // A plugin's button that asks first (data-confirm): not sent unless the person agrees.
  var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // The button pressed (a form may have two: checkout's 更新优惠 and 提交订单).
  var button = event.submitter || event.target.querySelector("button[type=submit]");
  if (button) {
    window.setTimeout(function () { button.disabled = true; }, 0);
  }
});

document.addEventListener("click", function (event) {
  var scan = event.target.closest && event.target.closest("[data-scan]");
  if (!scan || !("BarcodeDetector" in window) || !navigator.mediaDevices) {
    return;
  }
  var dialog = document.getElementById("scanner");
  var form = scan.closest("form");
  if (!dialog || !form || !dialog.showModal) {
    return;
  }
  event.preventDefault();
  var video = dialog.querySelector("video");
  var detector = new window.BarcodeDetector({ formats: ["ean_13", "ean_8", "upc_a", "code_128", "qr_code"] });
  var stream = null;
  var stop = function () {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    if (dialog.open) { dialog.close(); }
  };
  dialog.querySelector("[data-scan-close]").onclick = stop;
  dialog.onclose = stop;
  navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
    stream = s;
    video.srcObject = s;
    dialog.showModal();
    return video.play();
  }).then(function look() {
    if (!stream) { return; }
    detector.detect(video).then(function (codes) {
      if (codes.length) {
        (form.querySelector("[data-scan-field]") || form.querySelector("input[name=q]")).value = codes[0].rawValue;
        stop();
        form.submit();
      } else {
        window.setTimeout(look, 250);
      }
    }, function () { window.setTimeout(look, 500); });
  }).catch(function () {
    // No camera or no permission: the typed entry the link leads to.
    stop();
    window.location.href = scan.getAttribute("href");
  });
});

// Flash-sale countdowns tick each second; the page's own text is right when it was served.
(function () {
  var clocks = document.querySelectorAll("[data-countdown] b");
  if (!clocks.length) { return; }
  var started = Date.now();
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  window.setInterval(function () {
    var gone = Math.floor((Date.now() - started) / 1000);
    clocks.forEach(function (clock) {
      var left = Math.max(0, parseInt(clock.parentNode.getAttribute("data-countdown"), 10) - gone);
      var days = Math.floor(left / 86400);
      clock.textContent = (days ? days + "天" : "") + pad(Math.floor(left % 86400 / 3600)) + ":" +
        pad(Math.floor(left % 3600 / 60)) + ":" + pad(left % 60);
    });
  }, 1000);
})();
