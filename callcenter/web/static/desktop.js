// The agent desktop: listens to the push stream and renders the agent's state, offers and work.
// Any push event (or a reconnect, also after a server restart) re-reads /api/me, so nothing
// pushed while the link was down is missed: the server's snapshot is the truth, pushes only say
// "look again". A session that is gone sends the agent to sign in (and back here).
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("desktop-config").textContent);
  var L = config.labels;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var snapshot = null;
  var stateSince = Date.now();
  var clockSkew = 0;

  function $(id) { return document.getElementById(id); }

  function showError(message) {
    var box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function call(method, url, body) {
    var options = { method: method, credentials: "same-origin",
                    headers: { "Accept": "application/json", "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var err = (data && data.error) || {};
          var error = new Error(err.message || (L.error + " " + response.status));
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function act(method, url, body) {
    showError("");
    return call(method, url, body).then(refresh).catch(function (e) { showError(e.message); });
  }

  function text(el, value) { el.textContent = value == null ? "" : String(value); return el; }

  function make(tag, cls, value) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (value !== undefined) { text(el, value); }
    return el;
  }

  function fillDl(dl, pairs) {
    dl.textContent = "";
    pairs.forEach(function (pair) {
      if (pair[1] === null || pair[1] === undefined || pair[1] === "") { return; }
      dl.appendChild(make("dt", null, pair[0]));
      dl.appendChild(make("dd", null, typeof pair[1] === "object" ? JSON.stringify(pair[1]) : pair[1]));
    });
  }

  function crmLink(customer) {
    if (!config.crm_url) { return null; }
    return config.crm_url.replace(/\{(\w+)\}/g, function (_, key) {
      var value = key === "id" ? customer.id : (customer.external_ids || {})[key];
      return encodeURIComponent(value == null ? "" : value);
    });
  }

  function sizeText(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" :
      bytes >= 1024 ? Math.round(bytes / 1024) + " KB" : bytes + " B";
  }

  // The email thread, newest message first (the server's order): who and when, what is new,
  // the quoted history folded, attachments as download links, and for what we send its
  // delivery state. A message that could not be read shows a banner and its original.
  function renderThread(box, mails) {
    box.textContent = "";
    box.hidden = mails.length === 0;
    mails.forEach(function (m) {
      var item = make("article", "mail " + m.direction + (m.flagged ? " flagged" : ""));
      item.setAttribute("data-testid", "mail-" + m.id);
      var head = make("header", "mail-head");
      head.appendChild(make("span", "mail-dir", m.direction === "inbound" ? "←" : "→"));
      head.appendChild(make("span", "mail-from", (m.name ? m.name + " " : "") + (m.from ? "<" + m.from + ">" : "")));
      if (m.at) { head.appendChild(make("time", "mail-at", m.at.slice(0, 16).replace("T", " "))); }
      if (m.delivery) {
        var state = make("span", "delivery " + m.delivery.state, L["delivery_" + m.delivery.state] || m.delivery.state);
        state.setAttribute("data-testid", "delivery-" + m.id);
        if (m.delivery.detail) { state.title = m.delivery.detail; }
        head.appendChild(state);
        if (m.delivery.detail) { head.appendChild(make("span", "delivery-detail", m.delivery.detail)); }
      }
      item.appendChild(head);
      if (m.subject) { item.appendChild(make("p", "mail-subject", m.subject)); }
      if (m.flagged) {
        item.appendChild(make("p", "banner", L.unreadable_banner + (m.reason ? " (" + m.reason + ")" : "")));
      }
      if (m.text) { item.appendChild(make("pre", "mail-text", m.text)); }
      if (m.quoted && m.quoted.trim()) {
        var fold = make("details", "quoted");
        fold.appendChild(make("summary", null, L.quoted_history));
        fold.appendChild(make("pre", null, m.quoted));
        item.appendChild(fold);
      }
      var files = make("ul", "attachments");
      (m.attachments || []).forEach(function (a) {
        var li = make("li");
        var label = "📎 " + (a.filename || a.content_type) + " (" + sizeText(a.size) + ")";
        if (a.url) {
          var link = make("a", null, label);
          link.href = a.url;
          link.setAttribute("download", a.filename || "");
          link.setAttribute("data-testid", "attachment-" + a.id);
          li.appendChild(link);
        } else {
          li.appendChild(make("span", null, label + " · " + L.not_kept));
        }
        files.appendChild(li);
      });
      if (m.flagged && m.raw_url) {
        var raw = make("a", null, "📎 " + L.original_message + " (.eml)");
        raw.href = m.raw_url;
        raw.setAttribute("download", "");
        raw.setAttribute("data-testid", "raw-" + m.id);
        var li2 = make("li");
        li2.appendChild(raw);
        files.appendChild(li2);
      }
      if (files.children.length) { item.appendChild(files); }
      box.appendChild(item);
    });
  }

  // The notes of an interaction (those added while working it, then its wrap-up notes), read
  // from its event log; kept between re-renders so the list does not flicker on every push.
  var notesOf = {};

  function fillNotes(list, notes) {
    list.textContent = "";
    notes.forEach(function (n) {
      var li = make("li", "note");
      li.appendChild(make("time", "note-at", n.at ? n.at.slice(0, 16).replace("T", " ") : ""));
      li.appendChild(make("span", "note-by", n.by ? " · " + n.by + ": " : " · "));
      li.appendChild(make("span", "note-text", n.text));
      list.appendChild(li);
    });
    list.hidden = notes.length === 0;
    list.previousElementSibling.hidden = notes.length === 0;
  }

  function renderNotes(list, id, wrapUpNotes) {
    list.setAttribute("data-testid", "notes-" + id);
    fillNotes(list, notesOf[id] || []);
    call("GET", "/api/interactions/" + id).then(function (data) {
      var notes = (data.events || []).filter(function (e) { return e.kind === "note" && e.details; }).map(function (e) {
        return { at: e.at, by: e.actor, text: e.details.text };
      });
      var wrapped = data.interaction && data.interaction.notes;
      if (wrapped || wrapUpNotes) { notes.push({ at: data.interaction.wrap_up_ended_at, by: data.interaction.agent, text: wrapped || wrapUpNotes }); }
      notesOf[id] = notes;
      fillNotes(list, notes);
    }).catch(function () { /* the notes stay as last read; the next refresh tries again */ });
  }

  function channelName(channel) { return L["channel_" + channel] || channel; }

  function renderPop(pop, kind) {
    var node = document.getElementById("pop-template").content.firstElementChild.cloneNode(true);
    var interaction = pop.interaction, customer = pop.customer, payload = interaction.payload || {};
    node.dataset.interaction = interaction.id;
    node.setAttribute("data-testid", kind + "-" + interaction.id);
    text(node.querySelector(".pop-title"), "#" + interaction.id + " · " + channelName(interaction.channel) +
         (interaction.subject ? " · " + interaction.subject : ""));
    text(node.querySelector(".customer-name"), (customer.display_name || "—") +
         (customer.provisional ? " (" + L.provisional + ")" : ""));
    text(node.querySelector(".customer-tier"), customer.tier);
    text(node.querySelector(".customer-contacts"),
         (customer.contact_points || []).map(function (p) { return p.value; }).join(", "));
    fillDl(node.querySelector(".customer-attributes"),
           Object.keys(customer.attributes || {}).map(function (k) { return [k, customer.attributes[k]]; }));
    var link = crmLink(customer);
    if (link) { var a = node.querySelector(".crm-link"); a.href = link; a.hidden = false; }
    var call_ = payload.call || payload.cti || {};
    var fields = [[L.channel, channelName(interaction.channel)], [L.subject, interaction.subject],
                  [L.caller, call_.caller_number || call_.from], [L.ivr, call_.ivr_digits]];
    var formFields = payload.fields || {}, formLabels = payload.labels || {};
    Object.keys(formFields).forEach(function (k) { fields.push([formLabels[k] || k, formFields[k]]); });
    fillDl(node.querySelector(".interaction-fields"), fields);
    var mails = (pop.content || {}).email || [];
    renderThread(node.querySelector(".email-thread"), mails);
    text(node.querySelector(".interaction-body"), mails.length ? "" : (payload.message || ""));
    var list = node.querySelector(".timeline");
    (pop.timeline || []).forEach(function (item) {
      var li = make("li", null, item.created_at.slice(0, 16).replace("T", " ") + " · " + channelName(item.channel) +
        " · " + item.state + (item.subject ? " · " + item.subject : "") +
        (item.disposition ? " · " + item.disposition : ""));
      if (item.notes) { li.appendChild(make("span", "note-text", " · " + item.notes)); }
      list.appendChild(li);
    });
    renderNotes(node.querySelector(".notes"), interaction.id, interaction.notes);
    return node;
  }

  function button(label, testid, onClick) {
    var b = make("button", null, label);
    b.type = "button";
    if (testid) { b.setAttribute("data-testid", testid); }
    b.addEventListener("click", onClick);
    return b;
  }

  function select(name, options) {
    var s = make("select");
    s.name = name;
    options.forEach(function (o) { var opt = make("option", null, o[1]); opt.value = o[0]; s.appendChild(opt); });
    return s;
  }

  function renderOffers(offers) {
    var list = $("offers");
    list.textContent = "";
    $("no-offers").hidden = offers.length > 0;
    offers.forEach(function (pop) {
      var id = pop.interaction.id, li = make("li");
      var node = renderPop(pop, "offer");
      var countdown = make("span", "countdown");
      countdown.dataset.expires = pop.expires_at;
      var actions = node.querySelector(".actions");
      actions.appendChild(make("span", null, L.expires_in + " "));
      actions.appendChild(countdown);
      actions.appendChild(button(L.accept, "accept-" + id, function () { act("POST", "/api/me/offers/" + id + "/accept"); }));
      actions.appendChild(button(L.reject, "reject-" + id, function () { act("POST", "/api/me/offers/" + id + "/reject"); }));
      li.appendChild(node);
      list.appendChild(li);
    });
  }

  // Reply boxes survive re-renders (every push re-reads /api/me), so typing is never lost.
  var drafts = {}, noteDrafts = {};

  function loadDraft(id, box, template, replace) {
    box.dataset.loaded = "1";
    var url = "/api/me/work/" + id + "/reply-draft" + (template ? "?template=" + encodeURIComponent(template) : "");
    call("GET", url).then(function (draft) {
      if (replace || !box.dataset.touched) { box.value = draft.body; }
    }).catch(function (e) { showError(e.message); });
  }

  function renderWork(work, wrapping) {
    var box = $("work");
    box.textContent = "";
    $("no-work").hidden = work.length + wrapping.length > 0;
    work.concat(wrapping).forEach(function (pop) {
      var id = pop.interaction.id, inWrapUp = wrapping.indexOf(pop) >= 0;
      var node = renderPop(pop, "work");
      var actions = node.querySelector(".actions");
      var notes = noteDrafts[id] || make("textarea");
      noteDrafts[id] = notes;
      notes.setAttribute("aria-label", L.notes);
      notes.placeholder = L.notes;
      notes.rows = 2;
      actions.appendChild(notes);
      notes.setAttribute("data-testid", "note-text-" + id);
      actions.appendChild(button(L.add_note, "note-" + id, function () {
        if (!notes.value.trim()) { return; }
        showError("");
        call("POST", "/api/me/work/" + id + "/notes", { notes: notes.value }).then(function () {
          notes.value = "";
          return refresh();
        }).catch(function (e) { showError(e.message); });
      }));
      if (!inWrapUp) {
        if (pop.interaction.channel === "email" && config.can_reply) {
          // The answer is written once: it starts from the reply template's greeting and
          // signature, and is sent exactly as it reads here (a template chosen is sent whole).
          var reply = drafts[id] || make("textarea");
          drafts[id] = reply;
          reply.setAttribute("aria-label", L.reply);
          reply.setAttribute("data-testid", "reply-text-" + id);
          reply.rows = 10;
          reply.addEventListener("input", function () { reply.dataset.touched = "1"; });
          var templates = select("template", [["", "—"]].concat(config.reply_templates));
          actions.appendChild(templates);
          actions.appendChild(button(L.start_from_template, "draft-" + id, function () {
            loadDraft(id, reply, templates.value, true);
          }));
          actions.appendChild(reply);
          actions.appendChild(button(L.send_reply, "reply-" + id, function () {
            showError("");
            call("POST", "/api/me/work/" + id + "/reply", { body: reply.value }).then(function () {
              delete drafts[id];
              return refresh();
            }).catch(function (e) { showError(e.message); });
          }));
          if (!reply.dataset.loaded) { loadDraft(id, reply, "", false); }
        }
        var queues = select("queue", config.queues);
        actions.appendChild(queues);
        actions.appendChild(button(L.transfer, "transfer-" + id, function () {
          act("POST", "/api/me/work/" + id + "/transfer", { queue: queues.value });
        }));
        actions.appendChild(button(L.complete, "complete-" + id, function () {
          act("POST", "/api/me/work/" + id + "/complete");
        }));
      } else {
        var disposition = select("disposition", config.dispositions);
        disposition.setAttribute("aria-label", L.disposition);
        disposition.setAttribute("data-testid", "disposition-" + id);
        actions.appendChild(disposition);
        actions.appendChild(button(L.finish_wrap_up, "wrap-up-" + id, function () {
          act("POST", "/api/me/work/" + id + "/wrap-up", { disposition: disposition.value, notes: notes.value || null });
        }));
      }
      box.appendChild(node);
    });
  }

  function render(data) {
    snapshot = data;
    clockSkew = Date.now() / 1000 - data.now;
    var st = data.state || {};
    var name = st.state || "logged_out";
    text($("state"), (L[name] || name) + (st.reason ? " (" + st.reason + ")" : ""));
    // Logged out has no meaningful start (the core's "since" is 0 until the first login).
    stateSince = name === "logged_out" ? null : (st.since ? (st.since + clockSkew) * 1000 : Date.now());
    renderOffers(data.offers || []);
    renderWork(data.work || [], data.wrap_up || []);
    tick();
  }

  function refresh() {
    return call("GET", "/api/me").then(function (data) { showError(""); render(data); }).catch(function (e) {
      if (e.status === 401 || e.status === 403) {
        CallcenterPush.signIn();
      } else if (e.status) {
        showError(e.message);
      }  // no status: the server is out of reach; the link shows it and the stream retries
    });
  }

  function tick() {
    var seconds = Math.max(0, Math.floor((Date.now() - stateSince) / 1000));
    text($("since"), stateSince === null ? "–" : Math.floor(seconds / 60) + ":" + ("0" + (seconds % 60)).slice(-2));
    Array.prototype.forEach.call(document.querySelectorAll(".countdown"), function (el) {
      var left = Math.max(0, Math.ceil(Number(el.dataset.expires) + clockSkew - Date.now() / 1000));
      text(el, left + L.seconds);
    });
  }

  $("go-available").addEventListener("click", function () { act("POST", "/api/me/state", { state: "available" }); });
  $("go-not-ready").addEventListener("click", function () {
    act("POST", "/api/me/state", { state: "not_ready", reason: $("reason").value });
  });
  $("log-out").addEventListener("click", function () { act("POST", "/api/me/state", { state: "logged_out" }); });
  $("dial-form").addEventListener("submit", function (event) {
    event.preventDefault();
    act("POST", "/api/dial", { number: $("dial-number").value });
  });
  refresh();
  CallcenterPush.follow(["offer", "offer_withdrawn", "state", "wrap_up_ended", "work"], refresh, $("link"));
  setInterval(tick, 500);
})();
