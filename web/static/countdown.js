// The dashboard's SLA countdowns: each .countdown[data-due] (the moment its target falls due, from the server) is
// counted on every 30 s in the words the server wrote ("sisa 3 j 20 m", "lewat 1 j 5 m"; web/field.py's span), so
// a queue left open stays true. No inline script on the page, so a strict Content-Security-Policy fits.
(function () {
  "use strict";
  function span(seconds) {
    var minutes = Math.floor(Math.abs(seconds) / 60);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) { return days + " hr " + hours + " j"; }
    return hours ? hours + " j " + mins + " m" : mins + " m";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (element) {
      var due = Date.parse(element.dataset.due);
      if (isNaN(due)) { return; }
      var left = (due - now) / 1000;
      var late = left <= 0;
      element.textContent = (late ? "lewat " : "sisa ") + span(left);
      element.classList.toggle("late", late);
    });
  }
  tick();
  window.setInterval(tick, 30000);
})();
