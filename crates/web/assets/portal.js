// partnerhub portal: the only script. Pages work without it; with it, "Copy" buttons copy.
document.addEventListener("click", function (e) {
  var b = e.target.closest("[data-copy]");
  if (!b) return;
  var src = document.getElementById(b.getAttribute("data-copy"));
  if (!src) return;
  e.preventDefault();
  var text = src.value !== undefined ? src.value : src.textContent;
  var done = function () { b.setAttribute("data-copied", "true"); b.textContent = b.getAttribute("data-copied-label") || b.textContent; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {
    src.select && src.select();
    document.execCommand("copy");
    done();
  }
});
