// cairn web UI: the copy buttons of pull commands. Progressive
// enhancement: without this script the command is still focusable and
// selected whole by a click (CSS user-select: all). Loaded from /static
// under the page's Content-Security-Policy (script-src 'self'); no inline
// script anywhere.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (btn) {
  var target = document.getElementById(btn.getAttribute("data-copy"));
  if (!target || !navigator.clipboard) {
    return;
  }
  btn.hidden = false;
  btn.addEventListener("click", function () {
    navigator.clipboard.writeText(target.textContent).then(function () {
      btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = "Copy"; }, 2000);
    }, function () {
      var r = document.createRange();
      r.selectNodeContents(target);
      var s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
      btn.textContent = "Press Ctrl+C";
    });
  });
});
