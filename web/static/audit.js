// The audit page's keyboard shortcuts: 1/2/3 label the item 正面/中性/负面, s or 0 skips it.
// Progressive enhancement only: the buttons are a plain form POST that works without this file.
"use strict";
(function () {
  var form = document.getElementById("audit-form");
  if (!form) {
    return;
  }
  var keys = { "1": "positive", "2": "neutral", "3": "negative", "s": "skip", "S": "skip", "0": "skip" };
  var sent = false;
  document.addEventListener("keydown", function (event) {
    if (sent || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) {
      return; // typing a month is not a label
    }
    var label = keys[event.key];
    if (!label) {
      return;
    }
    var button = form.querySelector('button[data-label="' + label + '"]');
    if (!button) {
      return;
    }
    event.preventDefault();
    sent = true; // one label per page: a held key does not post twice
    if (form.requestSubmit) {
      form.requestSubmit(button); // sends the button's name=label value, like a click
    } else {
      button.click();
    }
  });
})();
