// chaosday's pages: live parts, counting clocks, confirmations. No dependencies, no build.
//
// [data-age], [data-left], [data-clock] and [data-countdown] hold milliseconds as of the
// page's render, and count on from there (the browser's clock may differ from the
// server's). [data-countdown] counts down to 0:00 as m:ss (h:mm:ss over an hour), and stands
// still while the element has data-paused (the game is paused: its time does not run).
//
// A live page names, on <body>, the HTML fragment of its live parts (data-live), the event
// stream it listens to (data-stream) and a poll period (data-poll, ms). On every event it
// fetches the fragment and replaces each part ([data-region] with an id) whose data-rev
// changed, keeping what was chosen in its forms. Every page works without this script.
(function () {
  "use strict";

  var body = document.body;

  // ---- Clocks: [data-age] counts up, [data-left] counts down, from the page's render ----

  function two(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function human(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + two(s % 60) + "s";
    return Math.floor(s / 3600) + "h " + two(Math.floor((s % 3600) / 60)) + "m";
  }

  function stopwatch(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    return two(Math.floor(s / 3600)) + ":" + two(Math.floor((s % 3600) / 60)) + ":" + two(s % 60);
  }

  // Time left, as the server writes it: 4:05, 0:00, 1:02:03.
  function countdown(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor((s % 3600) / 60);
    if (s >= 3600) return Math.floor(s / 3600) + ":" + two(m) + ":" + two(s % 60);
    return m + ":" + two(s % 60);
  }

  function stamp(root) {
    var now = performance.now();
    root.querySelectorAll("[data-age],[data-left],[data-clock],[data-countdown]").forEach(function (el) {
      el._t0 = now;
    });
  }

  function tick() {
    var now = performance.now();
    document.querySelectorAll("[data-age]").forEach(function (el) {
      el.textContent = human(Number(el.dataset.age) + (now - (el._t0 || now)));
    });
    document.querySelectorAll("[data-left]").forEach(function (el) {
      el.textContent = human(Number(el.dataset.left) - (now - (el._t0 || now)));
    });
    document.querySelectorAll("[data-clock]").forEach(function (el) {
      el.textContent = stopwatch(Number(el.dataset.clock) + (now - (el._t0 || now)));
    });
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Number(el.dataset.countdown);
      if (!el.hasAttribute("data-paused")) left -= now - (el._t0 || now);
      el.textContent = countdown(left);
      el.classList.toggle("is-low", left < 60000);
    });
  }

  stamp(document);
  tick();
  setInterval(tick, 1000);

  // ---- Live parts ----

  // The values chosen in a part's forms, by form action, incident and field name.
  function fieldKey(el) {
    var form = el.form;
    var where = form ? form.getAttribute("action") : "";
    var incident = form && form.elements.incident ? form.elements.incident.value : "";
    return where + "|" + incident + "|" + el.name;
  }

  function keepChoices(from, to) {
    var chosen = {};
    from.querySelectorAll("select[name], input[name]:not([type=hidden])").forEach(function (el) {
      chosen[fieldKey(el)] = el.value;
    });
    to.querySelectorAll("select[name], input[name]:not([type=hidden])").forEach(function (el) {
      var value = chosen[fieldKey(el)];
      if (value === undefined) return;
      if (el.tagName === "SELECT") {
        for (var i = 0; i < el.options.length; i++) {
          if (el.options[i].value === value) {
            el.value = value;
            return;
          }
        }
      } else {
        el.value = value;
      }
    });
  }

  // Marks what is new: timeline lines not seen before, scoreboard rows whose points moved.
  function markChanges(old, fresh) {
    var seen = {};
    old.querySelectorAll("[data-seq]").forEach(function (el) {
      seen[el.dataset.seq] = true;
    });
    if (old.querySelector("[data-seq]")) {
      fresh.querySelectorAll("[data-seq]").forEach(function (el) {
        if (!seen[el.dataset.seq]) el.classList.add("is-new");
      });
    }
    var points = {};
    old.querySelectorAll("[data-team][data-points]").forEach(function (el) {
      points[el.dataset.team] = el.dataset.points;
    });
    fresh.querySelectorAll("[data-team][data-points]").forEach(function (el) {
      var before = points[el.dataset.team];
      if (before !== undefined && before !== el.dataset.points) el.classList.add("is-bumped");
    });
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    doc.querySelectorAll("[data-region][id]").forEach(function (fresh) {
      var old = document.getElementById(fresh.id);
      if (!old || old.dataset.rev === fresh.dataset.rev) return;
      var node = document.importNode(fresh, true);
      keepChoices(old, node);
      markChanges(old, node);
      old.replaceWith(node);
      stamp(node);
    });
    tick();
  }

  var fragment = body.dataset.live;
  var inflight = false;
  var again = false;
  var timer = 0;

  function refresh() {
    if (!fragment) return;
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    fetch(fragment, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html" },
    })
      .then(function (answer) {
        if (answer.redirected && new URL(answer.url).pathname === "/login") {
          location.href = answer.url;
          return null;
        }
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        return answer.text();
      })
      .then(function (html) {
        if (html !== null) swap(html);
        body.classList.remove("is-stale");
      })
      .catch(function () {
        body.classList.add("is-stale");
      })
      .then(function () {
        inflight = false;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  // Several events of one commit arrive together: one fetch for them all.
  function schedule() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = 0;
      refresh();
    }, 150);
  }

  var stream = body.dataset.stream;
  if (fragment && stream && window.EventSource) {
    var connect = function () {
      var source = new EventSource(stream);
      source.onopen = function () {
        body.classList.remove("is-offline");
      };
      source.onerror = function () {
        body.classList.add("is-offline");
        if (source.readyState === EventSource.CLOSED) {
          // Refused (not a stream): try again later, and let the fragment say why.
          setTimeout(connect, 5000);
          schedule();
        }
      };
      source.addEventListener("snapshot", function (event) {
        body.classList.remove("is-offline");
        // The page is as new as the snapshot: nothing to fetch.
        if (event.lastEventId && event.lastEventId === body.dataset.seq) return;
        schedule();
      });
      ["scoreboard", "timeline", "incident", "status"].forEach(function (name) {
        source.addEventListener(name, schedule);
      });
    };
    connect();
  }
  var poll = Number(body.dataset.poll) || 0;
  if (fragment && poll > 0) {
    setInterval(function () {
      if (!document.hidden) schedule();
    }, poll);
  }

  // ---- Confirmations ----

  // A form with data-dialog opens that dialog instead of being sent (the kill switch); a
  // form with data-confirm asks first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var dialog = form.dataset.dialog && document.getElementById(form.dataset.dialog);
    if (dialog && dialog.showModal) {
      event.preventDefault();
      dialog.showModal();
      return;
    }
    var question = form.dataset.confirm;
    var confirm = document.getElementById("confirm-dialog");
    if (question && !form._confirmed && confirm && confirm.showModal) {
      event.preventDefault();
      confirm.querySelector("[data-text]").textContent = question;
      confirm._form = form;
      confirm.showModal();
      return;
    }
    // One click sends once.
    var button = event.submitter;
    if (button) {
      setTimeout(function () {
        button.disabled = true;
      }, 0);
    }
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-close]");
    if (close && close.closest("dialog")) {
      event.preventDefault();
      close.closest("dialog").close();
      return;
    }
    var ok = event.target.closest("[data-ok]");
    if (ok) {
      var dialog = ok.closest("dialog");
      var form = dialog && dialog._form;
      dialog.close();
      if (form) {
        form._confirmed = true;
        if (form.requestSubmit) form.requestSubmit();
        else form.submit();
      }
      return;
    }
    if (event.target.closest(".flash-close")) {
      var flash = event.target.closest(".flash");
      if (flash) flash.remove();
    }
  });
})();
