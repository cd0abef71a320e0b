// Officer console: keyboard shortcuts for the review queue and double-submit protection. No dependencies.
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("submit", function (event) {
    // A second click while the first post is on its way would only earn a "decided already" message.
    var form = event.target;
    // Removing a zone and the like ask first (the question is in the page's language).
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (form.dataset.sent === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "1";
  });

  var items = Array.prototype.slice.call(document.querySelectorAll(".queue-item"));
  if (!items.length) {
    return;
  }
  var current = 0;

  function select(index) {
    if (index < 0 || index >= items.length) {
      return;
    }
    items[current].classList.remove("current");
    current = index;
    items[current].classList.add("current");
    items[current].scrollIntoView({ block: "nearest" });
  }

  var fromHash = items.findIndex(function (item) { return "#" + item.id === window.location.hash; });
  select(fromHash >= 0 ? fromHash : 0);
  items[current].classList.add("current");

  items.forEach(function (item, index) {
    item.addEventListener("focusin", function () { select(index); });
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (typing(event.target)) {
      if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    var item = items[current];
    var button;
    switch (event.key) {
      case "j":
        select(current + 1);
        break;
      case "k":
        select(current - 1);
        break;
      case "a":
        button = item.querySelector("button[name=decision][value=accept]");
        if (button) {
          button.click();
        }
        break;
      case "r":
        var note = item.querySelector("textarea[name=note]");
        if (note) {
          event.preventDefault();
          note.focus();
        }
        break;
      case "?":
        var help = document.getElementById("shortcut-help");
        if (help) {
          help.classList.toggle("flash");
        }
        break;
      default:
        return;
    }
  });
}());
