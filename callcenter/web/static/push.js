// push.js: the browser side of GET /push (Server-Sent Events), without dependencies.
//
//   var stream = CallcenterPush.connect("/push", { kinds: ["offer", "offer_withdrawn", "state"] });
//   document.addEventListener("push:offer", function (e) { show(e.detail.data); });
//   document.addEventListener("push:snapshot", function (e) { render(e.detail.data); });
//
// Every event of a listed kind (and always "snapshot" and "resync") is re-dispatched as a DOM
// CustomEvent "push:<kind>" on options.target (default: document) with
// detail = { kind, data (parsed JSON), id }. Connection changes dispatch "push:open" and
// "push:lost" (detail = { attempt, delay }).
//
// Resynchronisation: the browser's EventSource reconnects by itself and sends Last-Event-ID,
// and the server replays what was missed. When the EventSource gives up (an HTTP error such as
// 401 or 503, or a proxy answering something else), this wrapper opens a new one after an
// exponential back-off with jitter, passing the last id as ?last_event_id= because a new
// EventSource cannot set the header. If the server cannot replay, it sends "resync" then
// "snapshot": a page renders the snapshot as the whole truth. After a server restart the
// stream comes back the same way; CallcenterPush.follow (below) is how the pages use all this.
(function (global) {
  "use strict";

  function PushStream(url, options) {
    options = options || {};
    this.url = url;
    this.kinds = ["snapshot", "resync"].concat(options.kinds || []);
    this.target = options.target || global.document;
    this.minDelay = options.minDelay || 1000;
    this.maxDelay = options.maxDelay || 30000;
    this.random = options.random || Math.random;
    this.lastId = null;
    this.attempt = 0;
    this.source = null;
    this.timer = null;
    this.closed = false;
    this.open();
  }

  PushStream.prototype.emit = function (name, detail) {
    var event;
    if (typeof global.CustomEvent === "function") {
      event = new global.CustomEvent(name, { detail: detail });
    } else {
      event = global.document.createEvent("CustomEvent");
      event.initCustomEvent(name, false, false, detail);
    }
    this.target.dispatchEvent(event);
  };

  PushStream.prototype.streamUrl = function () {
    if (!this.lastId) {
      return this.url;
    }
    var sep = this.url.indexOf("?") === -1 ? "?" : "&";
    return this.url + sep + "last_event_id=" + encodeURIComponent(this.lastId);
  };

  PushStream.prototype.open = function () {
    var self = this;
    if (self.closed) {
      return;
    }
    var source = new global.EventSource(self.streamUrl(), { withCredentials: true });
    self.source = source;
    var forward = function (e) {
      if (source !== self.source) {
        return;
      }
      if (e.lastEventId) {
        self.lastId = e.lastEventId;
      }
      var data = e.data;
      try {
        data = JSON.parse(e.data);
      } catch (ignored) {
        // Not JSON: hand the text over as it came.
      }
      self.emit("push:" + (e.type === "message" ? "message" : e.type), { kind: e.type, data: data, id: self.lastId });
    };
    self.kinds.forEach(function (kind) { source.addEventListener(kind, forward); });
    source.onmessage = forward;
    source.onopen = function () {
      if (source !== self.source) {
        return;
      }
      self.attempt = 0;
      self.emit("push:open", { attempt: 0, delay: 0 });
    };
    source.onerror = function () {
      if (source !== self.source) {
        return;
      }
      if (source.readyState === global.EventSource.CLOSED) {
        self.retry();
      } else {
        self.emit("push:lost", { attempt: self.attempt, delay: null });
      }
    };
  };

  PushStream.prototype.retry = function () {
    var self = this;
    if (self.closed || self.timer !== null) {
      return;
    }
    if (self.source) {
      self.source.close();
    }
    self.attempt += 1;
    var ceiling = Math.min(self.maxDelay, self.minDelay * Math.pow(2, self.attempt - 1));
    // Jitter: a server restart must not bring every desktop back in the same second.
    var delay = Math.round(ceiling / 2 + self.random() * ceiling / 2);
    self.emit("push:lost", { attempt: self.attempt, delay: delay });
    self.timer = global.setTimeout(function () {
      self.timer = null;
      self.open();
    }, delay);
  };

  PushStream.prototype.reconnectNow = function () {
    if (this.timer !== null) {
      global.clearTimeout(this.timer);
      this.timer = null;
      this.open();
    }
  };

  PushStream.prototype.close = function () {
    this.closed = true;
    if (this.timer !== null) {
      global.clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.source) {
      this.source.close();
    }
  };

  function connect(url, options) {
    var stream = new PushStream(url, options);
    // A tab coming back to the foreground should not wait out a long back-off.
    global.document.addEventListener("visibilitychange", function () {
      if (global.document.visibilityState === "visible") {
        stream.reconnectNow();
      }
    });
    return stream;
  }

  // What the desktop and the dashboard do with /push: show the link's state on `link` (an
  // element with data-ok and data-lost texts) and call refresh() -- which re-reads the page's
  // snapshot and redraws -- when the stream (re)opens, on every event of `kinds`, and after each
  // hard failure (a server that is down or restarting, a session that is gone: the stream
  // cannot tell which, the snapshot call can, and then calls signIn()).
  function follow(kinds, refresh, link, options) {
    var target = (options && options.target) || global.document;
    var mark = function (ok) {
      link.dataset.state = ok ? "ok" : "lost";
      link.textContent = ok ? link.dataset.ok : link.dataset.lost;
    };
    target.addEventListener("push:open", function () { mark(true); refresh(); });
    target.addEventListener("push:lost", function (e) {
      mark(false);
      if (e.detail && e.detail.delay !== null) {
        refresh();
      }
    });
    ["snapshot", "resync", "message"].concat(kinds).forEach(function (kind) {
      target.addEventListener("push:" + kind, function () { refresh(); });
    });
    return connect("/push", Object.assign({ kinds: kinds }, options || {}));
  }

  // The session is gone (a 401 or 403 on a snapshot): sign in again, then come back here.
  function signIn() {
    var here = global.location.pathname + global.location.search;
    global.location.assign("/login?next=" + encodeURIComponent(here));
  }

  global.CallcenterPush = { connect: connect, follow: follow, signIn: signIn, PushStream: PushStream };
})(window);
