// The web chat: posts what the citizen types (with a photo or the browser's location), shows the hub's
// replies with their buttons, and polls for new ones. A question answered or outdated loses its buttons
// ("cleared"); a short notice (a toast, e.g. for a stale button) shows for a moment. Every text is set with
// textContent, never as HTML.
(function () {
  "use strict";
  var list = document.getElementById("messages");
  var form = document.getElementById("chat-form");
  var text = document.getElementById("chat-text");
  var photo = document.getElementById("chat-photo");
  var errorBox = document.getElementById("chat-error");
  var noticeBox = document.getElementById("chat-notice");
  if (!list || !form) { return; }
  var cursor = null;
  var shown = {};  // ids already on the page (ours and the hub's)
  var cleared = {};  // ids of the hub's replies whose buttons are gone
  var noticed = {};  // notices already shown (a poll rereads recent replies)
  var noticeTimer = null;

  function newId() {  // crypto.randomUUID needs https; getRandomValues does not
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // HA (issue 20): the hub's links to a ticket's public page (".../t/JKT-2026-000123") become links; the rest of
  // a reply stays text, and only http(s) addresses are ever made links.
  var TICKET_PAGE = /https?:\/\/[^\s<>"]+\/t\/[A-Za-z]{2,8}-\d{4}-\d{6,18}(?![\w-])/g;
  function linkTicketPages(box) {
    var words = box.textContent, last = 0, found;
    TICKET_PAGE.lastIndex = 0;
    while ((found = TICKET_PAGE.exec(words)) !== null) {
      if (last === 0) { box.textContent = ""; }
      box.appendChild(document.createTextNode(words.slice(last, found.index)));
      var link = document.createElement("a");
      link.href = found[0];
      link.textContent = found[0];
      link.target = "_blank";
      link.rel = "noopener";
      box.appendChild(link);
      last = found.index + found[0].length;
    }
    if (last > 0) { box.appendChild(document.createTextNode(words.slice(last))); }
  }

  function showError(message) {
    errorBox.textContent = message || "";
    errorBox.hidden = !message;
  }

  function bubble(m) {
    var key = m.from + ":" + m.id;
    if (m.id && shown[key]) { return shown[key]; }
    var item = document.createElement("li");
    item.className = "msg msg-" + m.from;
    if (m.id) { item.dataset.id = m.id; shown[key] = item; }
    var body = document.createElement("div");
    body.className = "msg-text";
    body.textContent = m.text || (m.photo ? "[foto]" : m.location ? "[lokasi]" : "");
    if (m.from === "hub") { linkTicketPages(body); }  // HA (issue 20)
    item.appendChild(body);
    if (m.from === "hub" && m.photo) {
      var img = document.createElement("img");
      img.src = m.photo;
      img.alt = "foto dari petugas";
      img.className = "msg-photo";
      // A photo grows its message once it has loaded: keep the newest message (its buttons) in view.
      img.addEventListener("load", function () {
        var chat = document.getElementById("chat");
        if (chat) { chat.scrollTop = chat.scrollHeight; }
      });
      item.appendChild(img);
    }
    var live = !(m.from === "hub" && cleared[m.id]);
    (live ? m.buttons || [] : []).forEach(function (row) {
      var line = document.createElement("div");
      line.className = "msg-buttons";
      row.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b.label;
        button.addEventListener("click", function () { send({ text: b.value, reply_to: m.id }, b.label); });
        line.appendChild(button);
      });
      item.appendChild(line);
    });
    if (live && m.ask_location) {
      var share = document.createElement("button");
      share.type = "button";
      share.className = "msg-share";
      share.textContent = m.ask_location;
      share.addEventListener("click", shareLocation);
      item.appendChild(share);
    }
    list.appendChild(item);
    // The message list scrolls inside its box (the input below stays on screen): show the newest message.
    var box = document.getElementById("chat");
    if (box) { box.scrollTop = box.scrollHeight; }
    return item;
  }

  // The buttons of a question answered or outdated go, so nobody presses them.
  function clearButtons(id) {
    cleared[id] = true;
    var item = shown["hub:" + id];
    if (!item) { return; }
    Array.prototype.forEach.call(item.querySelectorAll(".msg-buttons, .msg-share"), function (el) { el.remove(); });
  }

  function showNotice(n) {
    if (!noticeBox || noticed[n.id]) { return; }
    noticed[n.id] = true;
    noticeBox.textContent = n.text;
    noticeBox.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { noticeBox.hidden = true; }, 4000);
  }

  // A message is posted with its own id, so a retry after a lost answer is the same message to the hub.
  function send(fields, label, file) {
    var id = newId();
    var mine = bubble({ from: "me", id: id, text: label !== undefined ? label : fields.text,
                        photo: !!file, location: !!fields.location });
    mine.classList.add("pending");
    var request;
    if (file) {
      var data = new FormData();
      data.append("id", id);
      if (fields.text) { data.append("text", fields.text); }
      data.append("photo", file);
      request = { method: "POST", body: data };
    } else {
      fields.id = id;
      request = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(fields) };
    }
    var attempt = function (left) {
      return fetch("/chat/messages", request).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) { throw { status: r.status, message: body.error || ("HTTP " + r.status) }; }
          mine.classList.remove("pending");
          showError("");
          poll();
        });
      }).catch(function (err) {
        if (err && err.status) { mine.classList.add("failed"); showError("Pesan tidak terkirim: " + err.message); return; }
        if (left > 0) { return new Promise(function (ok) { setTimeout(ok, 2000); }).then(function () { return attempt(left - 1); }); }
        mine.classList.add("failed");
        showError("Pesan tidak terkirim: tidak ada sambungan. Coba lagi.");
      });
    };
    return attempt(3);
  }

  function shareLocation() {
    if (!navigator.geolocation) { showError("Peramban ini tidak bisa membagikan lokasi; tulis alamatnya."); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      send({ location: { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy_m: pos.coords.accuracy } },
           "[lokasi]");
    }, function () { showError("Lokasi tidak bisa dibaca; tulis alamatnya."); }, { enableHighAccuracy: true, timeout: 15000 });
  }

  var polling = false;
  function poll() {
    if (polling) { return; }
    polling = true;
    var url = "/chat/messages" + (cursor === null ? "" : "?after=" + cursor);
    fetch(url, { cache: "no-store" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
      if (!body) { return; }
      (body.cleared || []).forEach(function (id) { cleared[id] = true; });
      body.messages.forEach(bubble);
      (body.cleared || []).forEach(clearButtons);
      (body.notices || []).forEach(showNotice);
      cursor = body.cursor;
      list.dataset.loaded = String((Number(list.dataset.loaded) || 0) + 1);
    }).catch(function () { /* offline for a moment: the next poll tries again */ }).then(function () {
      polling = false;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = text.value.trim();
    var file = photo.files && photo.files[0];
    if (!value && !file) { return; }
    send({ text: value }, value, file);
    text.value = "";
    photo.value = "";
  });
  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  document.getElementById("chat-location").addEventListener("click", shareLocation);

  poll();
  setInterval(function () { if (!document.hidden) { poll(); } }, 2000);
})();
