// The supervisor dashboard: re-reads the live snapshot whenever the push stream says something
// changed (and every 15 s for today's figures), ticks the wait and state clocks locally each
// second, and sends supervisor actions. After a server restart it reconnects and redraws; a
// session that is gone sends the supervisor to sign in.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("dashboard-config").textContent);
  var L = config.labels;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var STATE_ORDER = { busy: 0, wrap_up: 1, available: 2, not_ready: 3, logged_out: 4 };
  var pending = false, last = null, takenAt = 0, sortKey = "name", sortUp = true;
  var reasonLabels = {};
  config.reasons.forEach(function (r) { reasonLabels[r[0]] = r[1]; });

  function $(id) { return document.getElementById(id); }
  function cell(row, value, cls) {
    var td = document.createElement("td"); td.textContent = value == null ? "–" : String(value);
    if (cls) { td.className = cls; }
    row.appendChild(td); return td;
  }
  function pct(v) { return v == null ? null : (v * 100).toFixed(1) + "%"; }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  // 42 -> "0:42", 3725 -> "1:02:05"; null stays "–" (a logged-out agent has no time in state).
  function clock(v) {
    if (v == null) { return "–"; }
    var s = Math.max(0, Math.floor(v)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s % 60);
  }
  function secs(v) { return v == null ? null : Math.round(v) + "s"; }

  function call(method, url, body) {
    return fetch(url, { method: method, credentials: "same-origin",
      headers: { "Accept": "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body) }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var e = new Error((data.error && data.error.message) || r.status); e.status = r.status; throw e; }
        return data;
      });
    });
  }

  function act(method, url, body) {
    $("error").hidden = true;
    call(method, url, body).then(refresh).catch(function (e) { $("error").textContent = e.message; $("error").hidden = false; });
  }

  function select(options, label) {
    var s = document.createElement("select");
    if (label) { s.setAttribute("aria-label", label); }
    options.forEach(function (o) { var opt = document.createElement("option"); opt.value = o[0]; opt.textContent = o[1]; s.appendChild(opt); });
    return s;
  }

  function button(label, onClick) {
    var b = document.createElement("button"); b.type = "button"; b.textContent = label; b.addEventListener("click", onClick); return b;
  }

  // A clock cell that the 1 s tick advances from the snapshot's value.
  function ticking(row, seconds, cls) {
    var td = cell(row, clock(seconds), cls);
    if (seconds != null) { td.setAttribute("data-base", String(seconds)); }
    return td;
  }

  function tick() {
    var elapsed = (Date.now() - takenAt) / 1000;
    Array.prototype.forEach.call(document.querySelectorAll("[data-base]"), function (td) {
      td.textContent = clock(parseFloat(td.getAttribute("data-base")) + elapsed);
    });
  }

  function level(q, t) {
    if (t.service_level == null) { return ""; }
    var target = q.target.percent / 100;
    return t.service_level >= target ? "good" : (t.service_level >= target - 0.1 ? "warn" : "bad");
  }

  function renderQueues(s) {
    var rows = $("queue-rows"); rows.textContent = "";
    Object.keys(s.queues).forEach(function (name) {
      var q = s.queues[name], t = q.today || {}, tr = document.createElement("tr");
      tr.setAttribute("data-queue", name);
      cell(tr, q.label, "name");
      cell(tr, q.waiting, "num big" + (q.waiting ? " attention" : "")).setAttribute("data-testid", "waiting-" + name);
      ticking(tr, q.waiting ? q.longest_wait : null, "num");
      var sl = cell(tr, t.service_level == null ? "–" : pct(t.service_level), "num sl " + level(q, t));
      var small = document.createElement("small"); small.textContent = " / " + q.target.percent + "% ≤ " + q.target.within + "s";
      sl.appendChild(small);
      cell(tr, t.offered, "num"); cell(tr, t.handled, "num"); cell(tr, t.abandoned, "num");
      cell(tr, pct(t.abandon_rate), "num"); cell(tr, secs(t.asa), "num"); cell(tr, secs(t.aht), "num");
      // One coloured count per state (the column header is the legend), so ten queues fit a narrow screen.
      var td = cell(tr, "", "states");
      Object.keys(q.agents).forEach(function (k) {
        var b = document.createElement("span"); b.className = "state " + k + (q.agents[k] ? "" : " none");
        b.textContent = String(q.agents[k]); b.title = (L[k] || k) + ": " + q.agents[k];
        b.setAttribute("data-testid", "agents-" + k + "-" + name); td.appendChild(b);
      });
      rows.appendChild(tr);
    });
  }

  function renderWaiting(s) {
    var waiting = $("waiting-rows"); waiting.textContent = "";
    $("waiting-count").textContent = "(" + s.waiting.length + ")";
    if (!s.waiting.length) {
      var none = document.createElement("tr"), td = cell(none, L.nobody_waiting, "empty");
      td.colSpan = 9; waiting.appendChild(none);
    }
    s.waiting.forEach(function (w) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-interaction", String(w.interaction));
      cell(tr, w.interaction, "num"); cell(tr, (s.queues[w.queue] || {}).label || w.queue);
      cell(tr, w.channel ? (L["channel_" + w.channel] || w.channel) : null);
      ticking(tr, w.waited, "num");
      // Whole seconds read at a glance; the exact parts are in the tooltip.
      cell(tr, Math.round(w.score), "num").title = w.score + " = " + w.parts.aging + " + " + w.parts.bonus_applied;
      cell(tr, w.priority, "num"); cell(tr, w.tier); cell(tr, w.offered_to ? agentName(s, w.offered_to) : null);
      var td = cell(tr, "", "actions"), queues = select(config.queues, L.move);
      queues.value = w.queue;
      td.appendChild(queues);
      td.appendChild(button(L.move, function () { act("POST", "/api/supervisor/interactions/" + w.interaction + "/move", { queue: queues.value }); }));
      td.appendChild(button(L.raise_priority, function () { act("POST", "/api/supervisor/interactions/" + w.interaction + "/priority", { priority: w.priority + 1 }); }));
      waiting.appendChild(tr);
    });
  }

  function agentName(s, login) {
    for (var i = 0; i < s.agents.length; i += 1) { if (s.agents[i].agent === login) { return s.agents[i].name; } }
    return login;
  }

  // "Call #12, Email #40", and what is offered to the agent: "(offered: Web form #41)".
  function workText(a) {
    function named(ids, channels) {
      return ids.map(function (id, i) { var ch = (channels || [])[i]; return (ch ? (L["channel_" + ch] || ch) + " " : "") + "#" + id; });
    }
    var text = named(a.work, a.work_channels).join(", ");
    if (a.offers && a.offers.length) { text += (text ? " " : "") + "(" + L.offered + ": " + named(a.offers, a.offer_channels).join(", ") + ")"; }
    return text;
  }

  function sortValue(a) {
    if (sortKey === "state") { return STATE_ORDER[a.state] == null ? 9 : STATE_ORDER[a.state]; }
    if (sortKey === "since") { return a.since_seconds == null ? -1 : a.since_seconds; }
    if (sortKey === "handled") { return a.today.handled || 0; }
    if (sortKey === "occupancy") { return a.today.occupancy || 0; }
    return (a.name || a.agent).toLowerCase();
  }

  // One compact control per agent: picking an entry sends it at once.
  function stateControl(a) {
    var options = [["", L.change_state], ["available", L.available]].concat(
      config.reasons.map(function (r) { return ["not_ready:" + r[0], L.not_ready + " · " + r[1]]; }),
      [["logged_out", L.logged_out]]);
    var s = select(options, L.set_state + " · " + a.name);
    s.setAttribute("data-testid", "set-state-" + a.agent);
    s.addEventListener("change", function () {
      if (!s.value) { return; }
      var parts = s.value.split(":"), body = { state: parts[0] };
      if (parts[1]) { body.reason = parts[1]; }
      act("POST", "/api/supervisor/agents/" + encodeURIComponent(a.agent) + "/state", body);
    });
    return s;
  }

  function renderAgents(s) {
    var agents = $("agent-rows"), needle = $("agent-filter").value.trim().toLowerCase(), shown = 0;
    agents.textContent = "";
    var list = s.agents.slice().sort(function (x, y) {
      var a = sortValue(x), b = sortValue(y);
      return (a < b ? -1 : a > b ? 1 : 0) * (sortUp ? 1 : -1);
    });
    list.forEach(function (a) {
      var state = (L[a.state] || a.state) + (a.reason ? " (" + (reasonLabels[a.reason] || a.reason) + ")" : "");
      if (needle && (a.name + " " + a.agent + " " + state).toLowerCase().indexOf(needle) < 0) { return; }
      shown += 1;
      var tr = document.createElement("tr");
      tr.setAttribute("data-agent", a.agent);
      cell(tr, a.name, "name");
      var st = cell(tr, "", ""), dot = document.createElement("span");
      dot.className = "state " + a.state; dot.textContent = state; st.appendChild(dot);
      ticking(tr, a.since_seconds, "num").setAttribute("data-testid", "since-" + a.agent);
      cell(tr, workText(a), "work");
      cell(tr, a.today.handled, "num"); cell(tr, pct(a.today.occupancy), "num");
      cell(tr, "", "actions").appendChild(stateControl(a));
      agents.appendChild(tr);
    });
    $("agent-count").textContent = "(" + (shown === s.agents.length ? shown : shown + "/" + s.agents.length) + ")";
  }

  // One line per queue however many of its alerts are raised ("Sales: longest wait ... · service
  // level ..."), so a bad hour does not push the queue table off the first screen.
  function renderAlerts(s) {
    var alerts = $("alerts"), byQueue = {}, order = [];
    alerts.textContent = "";
    (s.alerts || []).forEach(function (a) {
      if (!byQueue[a.queue]) { byQueue[a.queue] = []; order.push(a.queue); }
      var prefix = a.queue + ": ";
      byQueue[a.queue].push(a.message.indexOf(prefix) === 0 ? a.message.slice(prefix.length) : a.message);
    });
    order.forEach(function (queue) {
      var li = document.createElement("li"), label = document.createElement("strong");
      label.textContent = ((s.queues[queue] || {}).label || queue) + ": ";
      li.appendChild(label);
      li.appendChild(document.createTextNode(byQueue[queue].join(" · ")));
      li.setAttribute("data-testid", "alert-" + queue);
      alerts.appendChild(li);
    });
  }

  function render(s) {
    last = s; takenAt = Date.now();
    renderAlerts(s);
    renderQueues(s); renderWaiting(s); renderAgents(s);
  }

  function refresh() {
    if (pending) { return; }
    pending = true;
    call("GET", "/api/supervisor/snapshot").then(render).catch(function (e) {
      if (e.status === 401 || e.status === 403) { CallcenterPush.signIn(); }
    }).then(function () { pending = false; });
  }

  // Admins: check and reload config/; the answer lists the changes, or the errors and that
  // nothing was applied (the API answers 422 with the same body then).
  function showReload(result) {
    var out = $("reload-result"); out.textContent = "";
    function line(tag, value, cls) { var el = document.createElement(tag); el.textContent = value; if (cls) { el.className = cls; } out.appendChild(el); return el; }
    function list(items, cls) { var ul = line("ul", "", cls); items.forEach(function (i) { var li = document.createElement("li"); li.textContent = i; ul.appendChild(li); }); }
    line("p", result.applied ? L.reload_applied : L.reload_refused, result.applied ? "" : "error");
    if (result.errors && result.errors.length) { list(result.errors, "error"); }
    if (result.applied) { if (result.changes.length) { list(result.changes); } else { line("p", L.no_changes); } }
    if (result.needs_restart && result.needs_restart.length) { line("p", L.needs_restart); list(result.needs_restart); }
  }
  if ($("reload-config")) {
    $("reload-config").addEventListener("click", function () {
      var b = $("reload-config"); b.disabled = true;
      fetch("/api/admin/reload", { method: "POST", credentials: "same-origin",
        headers: { "Accept": "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: "{}" })
        .then(function (r) {
          return r.json().then(function (data) {
            if (r.ok || r.status === 422) { showReload(data); refresh(); return; }
            throw new Error((data.error && data.error.message) || r.status);
          });
        })
        .catch(function (e) { $("reload-result").textContent = L.error + ": " + e.message; })
        .then(function () { b.disabled = false; });
    });
  }

  $("agent-filter").addEventListener("input", function () { if (last) { renderAgents(last); tick(); } });
  Array.prototype.forEach.call(document.querySelectorAll("th[data-sort]"), function (th) {
    th.tabIndex = 0;
    function sort() {
      var key = th.getAttribute("data-sort");
      sortUp = key === sortKey ? !sortUp : true; sortKey = key;
      Array.prototype.forEach.call(document.querySelectorAll("th[data-sort]"), function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortUp ? "ascending" : "descending");
      if (last) { renderAgents(last); tick(); }
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
  });

  CallcenterPush.follow(["queued", "offer", "agent_state", "overflowed", "step_relaxed", "no_agents",
                         "customer_replied", "removed", "alert_raised", "alert_cleared"], refresh, $("link"));
  refresh();
  setInterval(tick, 1000);
  setInterval(refresh, 15000);
})();
