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
  var time = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: mine });
  var wday = new Intl.DateTimeFormat(lang, { weekday: "short", timeZone: mine });
  var there = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone: branchZone });
  var here = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone: mine });
  var pt = lang.indexOf("pt") === 0;
  var note = document.createElement("p");
  note.className = "zone local-note";
  note.textContent = (pt ? "Seu fuso horário é " : "Your time zone is ") + mine.replace(/_/g, " ") +
    (pt ? ": o seu horário aparece ao lado de cada horário." : ": your own time is shown beside each time.");
  zoneEl.parentNode.insertBefore(note, zoneEl.nextSibling);
  document.querySelectorAll("time[data-local]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    var span = document.createElement("span");
    span.className = "local";
    var other = there.format(d) !== here.format(d) ? wday.format(d) + " " : "";
    span.textContent = (pt ? "seu horário: " : "your time: ") + other + time.format(d);
    t.parentNode.insertBefore(span, t.nextSibling);
  });
})();
