// Copy buttons: <button class="copy" data-copy="text">. Everything else works without JS.
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b) return;
  e.preventDefault();
  navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () {
    var t = b.textContent; b.textContent = "Copied"; setTimeout(function () { b.textContent = t; }, 1500);
  });
});
