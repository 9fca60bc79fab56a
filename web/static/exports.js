// The exports page: the download button sends the filters of the last preview (hidden fields).
// When a filter is changed after it, the button is disabled until the next preview, so that
// nobody downloads other rows than the ones the page counted. Without this file the form works.
"use strict";
(function () {
  var filters = document.getElementById("export-filter");
  var submit = document.getElementById("export-submit");
  var note = document.getElementById("export-changed");
  if (!filters || !submit) {
    return;
  }
  function changed() {
    submit.disabled = true;
    if (note) {
      note.hidden = false;
    }
  }
  filters.addEventListener("change", changed);
  filters.addEventListener("input", changed);
})();
