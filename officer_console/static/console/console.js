// Officer console: keyboard shortcuts for the review queue, double-submit protection and the notices of the last
// form post. No dependencies.
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

  // The result of the last form post: the notice area is fixed to the window; a message shown next to its form is
  // scrolled into view (the redirect's anchor may have put the form's section top at the window's top only).
  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-close-notice]");
    if (close) {
      close.parentNode.remove();
    }
  });

  // A confirmation gets out of the way by itself (one with an undo button when the undo window is over);
  // errors stay until closed.
  Array.prototype.forEach.call(document.querySelectorAll("#notices [data-hide-after]"), function (notice) {
    var seconds = parseInt(notice.dataset.hideAfter, 10);
    if (seconds > 0) {
      window.setTimeout(function () { notice.remove(); }, seconds * 1000);
    }
  });

  function showFormNotice() {
    var notice = document.querySelector(".form-notice");
    if (notice) {
      notice.scrollIntoView({ block: "center" });
    }
  }

  var items = Array.prototype.slice.call(document.querySelectorAll(".queue-item"));
  if (!items.length) {
    showFormNotice();
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
  showFormNotice();

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
        // A check-in decision can be undone from its message; other one-key accepts (an inspection) ask first.
        if (button && (!item.dataset.confirmAccept || window.confirm(item.dataset.confirmAccept))) {
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
