// Closebook's own few lines of behaviour. htmx does the requests; this opens the
// dialogs it loads and submits the header switchers. Pages work without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function openDialogs(root) {
    var dialogs = root.querySelectorAll ? root.querySelectorAll("dialog[data-modal]") : [];
    if (root.matches && root.matches("dialog[data-modal]")) dialogs = [root];
    dialogs.forEach(function (dialog) {
      if (!dialog.open) dialog.showModal();
      // A closed dialog leaves the page as it was: empty the slot it came in.
      dialog.addEventListener("close", function () {
        var slot = dialog.closest("#modal");
        if (slot) slot.replaceChildren();
      });
    });
  }

  document.addEventListener("htmx:load", function (event) {
    openDialogs(event.detail.elt);
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      event.preventDefault();
      var dialog = closer.closest("dialog");
      if (dialog) dialog.close();
    }
  });

  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit();
  });
})();
