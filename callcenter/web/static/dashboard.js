// The supervisor dashboard: re-reads the live snapshot whenever the push stream says something
// changed (and once a second for the wait clocks), and sends supervisor actions. After a server
// restart it reconnects and redraws; a session that is gone sends the supervisor to sign in.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("dashboard-config").textContent);
  var L = config.labels;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var pending = false;

  function $(id) { return document.getElementById(id); }
  function cell(row, value) { var td = document.createElement("td"); td.textContent = value == null ? "–" : String(value); row.appendChild(td); return td; }
  function pct(v) { return v == null ? null : (v * 100).toFixed(1) + "%"; }
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

  function select(options) {
    var s = document.createElement("select");
    options.forEach(function (o) { var opt = document.createElement("option"); opt.value = o[0]; opt.textContent = o[1]; s.appendChild(opt); });
    return s;
  }

  function button(label, onClick) {
    var b = document.createElement("button"); b.type = "button"; b.textContent = label; b.addEventListener("click", onClick); return b;
  }

  function render(s) {
    var alerts = $("alerts"); alerts.textContent = "";
    (s.alerts || []).forEach(function (a) { var li = document.createElement("li"); li.textContent = a.message; alerts.appendChild(li); });
    var rows = $("queue-rows"); rows.textContent = "";
    Object.keys(s.queues).forEach(function (name) {
      var q = s.queues[name], t = q.today || {}, tr = document.createElement("tr");
      tr.setAttribute("data-queue", name);
      cell(tr, q.label); cell(tr, q.waiting).setAttribute("data-testid", "waiting-" + name);
      cell(tr, secs(q.longest_wait)); cell(tr, t.offered); cell(tr, t.handled); cell(tr, t.abandoned);
      cell(tr, pct(t.abandon_rate));
      cell(tr, t.service_level == null ? null : pct(t.service_level) + " / " + q.target.percent + "% ≤ " + q.target.within + "s");
      cell(tr, secs(t.asa)); cell(tr, secs(t.aht));
      cell(tr, Object.keys(q.agents).map(function (k) { return (L[k] || k) + " " + q.agents[k]; }).join(", "));
      rows.appendChild(tr);
    });
    var waiting = $("waiting-rows"); waiting.textContent = "";
    s.waiting.forEach(function (w) {
      var tr = document.createElement("tr");
      cell(tr, w.interaction); cell(tr, w.queue);
      cell(tr, w.score + " = " + w.parts.aging + " + " + w.parts.bonus_applied);
      cell(tr, secs(w.waited));
      var td = cell(tr, ""), queues = select(config.queues);
      td.appendChild(queues);
      td.appendChild(button(L.move, function () { act("POST", "/api/supervisor/interactions/" + w.interaction + "/move", { queue: queues.value }); }));
      td.appendChild(button(L.raise_priority, function () { act("POST", "/api/supervisor/interactions/" + w.interaction + "/priority", { priority: w.priority + 1 }); }));
      waiting.appendChild(tr);
    });
    var agents = $("agent-rows"); agents.textContent = "";
    s.agents.forEach(function (a) {
      var tr = document.createElement("tr");
      cell(tr, a.name); cell(tr, (L[a.state] || a.state) + (a.reason ? " (" + a.reason + ")" : ""));
      cell(tr, secs(a.since_seconds)); cell(tr, a.work.join(", "));
      cell(tr, a.today.handled); cell(tr, pct(a.today.occupancy));
      var td = cell(tr, ""), reasons = select(config.reasons);
      td.appendChild(button(L.available, function () { act("POST", "/api/supervisor/agents/" + a.agent + "/state", { state: "available" }); }));
      td.appendChild(reasons);
      td.appendChild(button(L.not_ready, function () { act("POST", "/api/supervisor/agents/" + a.agent + "/state", { state: "not_ready", reason: reasons.value }); }));
      agents.appendChild(tr);
    });
  }

  function refresh() {
    if (pending) { return; }
    pending = true;
    call("GET", "/api/supervisor/snapshot").then(render).catch(function (e) {
      if (e.status === 401 || e.status === 403) { CallcenterPush.signIn(); }
    }).then(function () { pending = false; });
  }

  CallcenterPush.follow(["queued", "offer", "agent_state", "overflowed", "step_relaxed", "no_agents",
                         "customer_replied", "removed", "alert_raised", "alert_cleared"], refresh, $("link"));
  refresh();
  setInterval(refresh, 1000);
})();
