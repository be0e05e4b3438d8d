// quadstats pages: times in the viewer's zone, relative times kept current, live refresh that never
// wipes a form being filled in. No inline script anywhere (the Content-Security-Policy forbids it).
(function () {
  "use strict";

  var zone = "UTC";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch (e) { /* very old browser: keep UTC */ }

  // The server renders times and form values in the zone of the "tz" cookie; tell it ours once.
  var shown = document.documentElement.getAttribute("data-tz");
  if (/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone) && document.cookie.split("; ").indexOf("tz=" + zone) < 0) {
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
    if (shown && shown !== zone && !sessionStorage.getItem("qs-tz-reload")) {
      sessionStorage.setItem("qs-tz-reload", "1");
      location.reload();
      return;
    }
  }

  // "2026-11-30 14:05:09 CET", as the server writes it (strftime "%Y-%m-%d %H:%M:%S %Z").
  var parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short"
  });

  function absolute(date) {
    var p = {};
    parts.formatToParts(date).forEach(function (part) { p[part.type] = part.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second +
      " " + p.timeZoneName;
  }

  function ago(date) {
    var seconds = Math.round((Date.now() - date.getTime()) / 1000);
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    var text = seconds + " s";
    if (seconds >= 86400) text = Math.floor(seconds / 86400) + " d";
    else if (seconds >= 3600) text = Math.floor(seconds / 3600) + " h";
    else if (seconds >= 60) text = Math.floor(seconds / 60) + " min";
    return future ? "in " + text : text + " ago";
  }

  function localize(root) {
    // The server wrote the times in our zone already (with its own zone names): leave them.
    if (shown === zone) return relativize(root);
    root.querySelectorAll("time.abs[datetime]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (!isNaN(date)) {
        el.textContent = absolute(date);
        el.title = date.toISOString();
      }
    });
    relativize(root);
  }

  function relativize(root) {
    root.querySelectorAll(".rel[data-since]").forEach(function (el) {
      var date = new Date(el.getAttribute("data-since"));
      if (!isNaN(date)) el.textContent = ago(date);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  document.addEventListener("htmx:load", function (evt) { localize(evt.target); });
  setInterval(function () { relativize(document); }, 15000);

  // A live region (tbody.live) polls; skip a round while someone works inside it (an open
  // "Silence…" form, an expanded journal line, focus in a field), so nothing typed is lost.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var el = evt.detail.elt;
    if (el.classList && el.classList.contains("live") && busy(el)) evt.preventDefault();
  });

  function busy(region) {
    return region.querySelector("details[open]") !== null || region.contains(document.activeElement);
  }
})();
