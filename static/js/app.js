// Credits: the few enhancements htmx does not do. Loaded as a file (the CSP allows no inline
// script); everything here is optional: without it the pages show UTC and still work.
(function () {
  "use strict";

  var dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  // Show <time datetime="...Z" data-local> in the viewer's timezone; the title keeps UTC.
  function localiseTimes(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var times = scope.querySelectorAll("time[data-local]");
    if (scope.matches && scope.matches("time[data-local]")) {
      times = [scope].concat(Array.prototype.slice.call(times));
    }
    Array.prototype.forEach.call(times, function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        el.textContent = dateTime.format(when);
      }
    });
  }

  function errorRegion() {
    return document.getElementById("error-region");
  }

  // Tell the person when the server could not be reached at all (htmx swaps nothing then).
  function showOffline() {
    var region = errorRegion();
    if (!region) return;
    var box = document.createElement("div");
    box.id = "request-error";
    box.className = "notice notice-error";
    var title = document.createElement("p");
    title.className = "notice-title";
    title.textContent = "Could not reach Credits";
    var text = document.createElement("p");
    text.textContent = "Check your connection and try again. Nothing was charged.";
    box.appendChild(title);
    box.appendChild(text);
    region.replaceChildren(box);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes(document);
  });

  document.addEventListener("htmx:load", function (event) {
    localiseTimes(event.detail.elt);
  });

  // An earlier error stops being true once a request succeeds again.
  document.addEventListener("htmx:afterRequest", function (event) {
    var region = errorRegion();
    if (event.detail.successful && region && region.firstChild) {
      region.replaceChildren();
    }
  });

  document.addEventListener("htmx:sendError", showOffline);
})();
