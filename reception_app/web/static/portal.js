// Progressive help only: every page works without it. When the visitor's own time zone differs
// from the branch's (a patient abroad, say, booking a video consultation), each time on the page
// is followed by the visitor's own local time.
(function () {
  "use strict";
  var zoneEl = document.querySelector("[data-zone]");
  if (!zoneEl || !window.Intl) { return; }
  var branchZone = zoneEl.getAttribute("data-zone");
  var mine;
  try { mine = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!mine || mine === branchZone) { return; }
  var lang = document.documentElement.lang || "en";
  var fmt = new Intl.DateTimeFormat(lang, { weekday: "short", hour: "2-digit", minute: "2-digit", timeZone: mine });
  var yours = lang.indexOf("pt") === 0 ? "no seu fuso horário" : "your time";
  document.querySelectorAll("time[data-local]").forEach(function (t) {
    var span = document.createElement("span");
    span.className = "local";
    span.textContent = " (" + fmt.format(new Date(t.getAttribute("datetime"))) + " " + yours + ")";
    t.parentNode.insertBefore(span, t.nextSibling);
  });
})();
