// signoff reviewer inbox: keys, one-request decisions, live updates. Hand-written, no dependencies.
// Every form works without this file; the script only sends the same requests and updates the page.
// Text that came from an event is only ever set with textContent; HTML comes from the server, escaped there.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var page = document.body.dataset.page || "";
  var decided = new Set();

  // -- small helpers ------------------------------------------------------------------------
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  var toastTimer = null;
  function toast(msg, bad) {
    var el = $("#toast");
    if (!el) return;
    el.textContent = msg;
    el.className = bad ? "bad" : "";
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, bad ? 7000 : 3500);
  }
  function typing(ev) {
    var t = ev.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf }
    }).then(function (r) {
      return r.json().catch(function () { return { ok: false, message: "HTTP " + r.status }; })
        .then(function (j) { j.httpStatus = r.status; return j; });
    });
  }
  function fromHTML(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    return tpl.content.firstElementChild;
  }

  // -- countdowns ---------------------------------------------------------------------------
  function fmt(s) {
    s = Math.floor(Math.abs(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
    function p(n) { return (n < 10 ? "0" : "") + n; }
    if (d) return d + "d " + p(h) + "h";
    if (h) return h + "h " + p(m) + "m";
    if (m) return m + "m " + p(x) + "s";
    return x + "s";
  }
  function tick() {
    var now = Date.now();
    $$("time.countdown").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("datetime")) - now) / 1000;
      if (isNaN(left)) return;
      el.textContent = left <= 0 ? "overdue" : "in " + fmt(left);
      el.classList.toggle("overdue", left <= 0);
      el.classList.toggle("soon", left > 0 && left < 300);
    });
  }
  setInterval(tick, 1000);
  tick();

  // -- keys help ----------------------------------------------------------------------------
  function help() {
    var d = $("#keys-help");
    if (d && d.showModal && !d.open) d.showModal();
  }
  $$("[data-keys-help]").forEach(function (b) { b.addEventListener("click", help); });

  // -- the inbox: selection -----------------------------------------------------------------
  function rows() { return $$("#inbox tr.ticket").filter(function (r) { return !r.classList.contains("decided"); }); }
  function selected() { return $("#inbox tr.ticket.sel"); }
  function select(row) {
    $$("#inbox tr.ticket.sel").forEach(function (r) { r.classList.remove("sel"); });
    if (!row) return;
    row.classList.add("sel");
    row.scrollIntoView({ block: "nearest" });
  }
  function move(delta) {
    var rs = rows();
    if (!rs.length) return;
    var i = rs.indexOf(selected());
    i = i < 0 ? (delta > 0 ? 0 : rs.length - 1) : Math.max(0, Math.min(rs.length - 1, i + delta));
    select(rs[i]);
  }
  function nextAfter(row) {
    var rs = rows();
    var i = rs.indexOf(row);
    return rs[i + 1] || rs[i - 1] || null;
  }

  // A group's buttons decide exactly the ids in its form (the rows the server drew under it).
  // A row decided elsewhere leaves the form and the count; a row that arrives later never joins it.
  function leaveGroup(tbody, id) {
    if (!tbody || !tbody.classList.contains("group")) return;
    var input = $('input[name="tickets"]', tbody);
    if (!input) return;
    var ids = input.value.split(",").filter(function (x) { return x && x !== id; });
    input.value = ids.join(",");
    $$(".n", tbody).forEach(function (el) { el.textContent = String(ids.length); });
    if (!ids.length) $$("form[data-group-decide] button", tbody).forEach(function (b) { b.disabled = true; });
  }
  function bumpPending(delta) {
    var el = $("#pending-count");
    if (!el) return;
    var n = parseInt(el.textContent.replace(/[^0-9]/g, ""), 10) || 0;
    el.textContent = String(Math.max(0, n + delta)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function markDecided(id, text) {
    if (decided.has(id)) return;
    decided.add(id);
    bumpPending(-1);
    var row = $('#inbox tr.ticket[data-id="' + CSS.escape(id) + '"]');
    if (!row) return;
    if (row.classList.contains("sel")) select(nextAfter(row));
    row.classList.add("decided");
    var ctl = $("td.ctl", row);
    if (ctl) ctl.textContent = text;
    var rj = row.nextElementSibling;
    if (rj && rj.classList.contains("reject-row")) rj.remove();
    leaveGroup(row.parentElement, id);
    setTimeout(function () {
      var tb = row.parentElement;
      row.remove();
      if (tb && !$("tr.ticket", tb)) tb.remove();
      var empty = $("#inbox tbody.empty-row");
      if (empty) empty.hidden = !!$("#inbox tr.ticket");
    }, 2500);
  }

  // -- deciding -----------------------------------------------------------------------------
  function decideForm(form) {
    var body = new FormData(form);
    if (form.dataset.sub) body.append(form.dataset.sub, form.dataset.subValue || "");
    var buttons = $$("button", form);
    buttons.forEach(function (b) { b.disabled = true; });
    return post(form.action, body).then(function (res) {
      buttons.forEach(function (b) { b.disabled = false; });
      if (!res.ok) { toast((res.title ? res.title + ": " : "") + res.message, true); return res; }
      toast(res.message);
      return res;
    }, function () {
      buttons.forEach(function (b) { b.disabled = false; });
      toast("The server could not be reached; nothing was sent.", true);
      return { ok: false };
    });
  }
  function approveRow(row) {
    if (!row) return;
    if (row.dataset.can !== "1") { toast("You cannot decide this one: " + ($(".why-not", row) || {}).textContent, true); return; }
    var form = $('form[data-decide="approve"]', row);
    if (!form) return;
    decideForm(form).then(function (res) {
      if (res.ok && res.status && res.status !== "pending") markDecided(row.dataset.id, res.status + " by you");
      else if (res.ok) refreshRow(row.dataset.id);
    });
  }
  function rejectBox(row) {
    if (!row) return;
    if (row.dataset.can !== "1") { toast("You cannot decide this one: " + ($(".why-not", row) || {}).textContent, true); return; }
    var open = row.nextElementSibling;
    if (open && open.classList.contains("reject-row")) { $("textarea", open).focus(); return; }
    $$("#inbox tr.reject-row").forEach(function (r) { r.remove(); });
    var tr = document.createElement("tr");
    tr.className = "reject-row";
    var td = document.createElement("td");
    td.colSpan = 8;
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/tickets/" + encodeURIComponent(row.dataset.id) + "/reject";
    var label = document.createElement("label");
    label.textContent = "Feedback to the agent (Enter sends, Shift+Enter new line, Esc cancels)";
    var ta = document.createElement("textarea");
    ta.name = "feedback";
    ta.rows = 2;
    ta.setAttribute("data-enter-submits", "");
    ta.placeholder = "why not, and what to do instead";
    var btn = document.createElement("button");
    btn.className = "reject small";
    btn.textContent = "Reject and send feedback";
    label.appendChild(ta);
    form.appendChild(label);
    form.appendChild(btn);
    td.appendChild(form);
    tr.appendChild(td);
    row.after(tr);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      decideForm(form).then(function (res) {
        if (res.ok) { tr.remove(); markDecided(row.dataset.id, "rejected by you"); }
      });
    });
    ta.focus();
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.matches("[data-group-decide]")) {
      ev.preventDefault();
      var sub = ev.submitter;
      var body = new FormData(form);
      if (sub && sub.name) body.append(sub.name, sub.value);
      post(form.action, body).then(function (res) {
        if (!res.ok) { toast((res.title ? res.title + ": " : "") + res.message, true); return; }
        toast(res.message);
        (res.decided || []).forEach(function (id) { markDecided(id, (sub && sub.value === "reject" ? "rejected" : "approved") + " by you"); });
      }, function () { toast("The server could not be reached; nothing was sent.", true); });
      return;
    }
    if (form.matches("[data-decide]")) {
      ev.preventDefault();
      var row = form.closest("tr.ticket");
      if (row) {
        if (form.dataset.decide === "approve") approveRow(row);
        return;
      }
      decideForm(form).then(function (res) { if (res.ok) afterTicketDecision(res); });
      return;
    }
    if (form.matches("[data-edit]")) {
      ev.preventDefault();
      var ta = $("textarea[data-json]", form);
      if (!validateJSON(ta)) return;
      post(form.action, new FormData(form)).then(function (res) {
        var slot = $("#diff-slot");
        if (!res.ok) { showJSONError(form, res.message); return; }
        if (slot) {
          slot.innerHTML = res.html;
          var b = $("button.approve", slot);
          if (b) b.focus();
        }
      });
    }
  });

  // -- the ticket page ----------------------------------------------------------------------
  function afterTicketDecision(res) {
    var art = $(".ticket-page");
    if (!art) return;
    if (res.status === "pending") { setTimeout(function () { location.reload(); }, 600); return; }
    var bar = $("#decide");
    if (bar) bar.textContent = res.message;
    setTimeout(function () { location.href = art.dataset.next || "/"; }, 700);
  }
  function showJSONError(form, msg) {
    var el = $(".json-error", form);
    if (!el) return;
    el.textContent = msg || "";
    el.hidden = !msg;
  }
  function validateJSON(ta) {
    if (!ta) return true;
    var form = ta.form;
    try {
      var v = JSON.parse(ta.value);
      if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("the arguments must be a JSON object ({...})");
      showJSONError(form, "");
      ta.setCustomValidity("");
      return true;
    } catch (e) {
      var msg = "Not valid JSON: " + e.message;
      showJSONError(form, msg);
      ta.setCustomValidity(msg);
      return false;
    }
  }
  $$("textarea[data-json]").forEach(function (ta) {
    ta.addEventListener("input", function () {
      validateJSON(ta);
      var slot = $("#diff-slot");
      if (slot) slot.textContent = "";  // an old diff must never be confirmed for new text
    });
  });
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (t && t.matches && t.matches("textarea[data-enter-submits]") && ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      t.form.requestSubmit();
    }
  }, true);
  function openBox(id) {
    var d = document.getElementById(id);
    if (!d) return;
    $$(".decide-bar details[open]").forEach(function (x) { if (x !== d) x.open = false; });
    d.open = true;
    var ta = $("textarea", d);
    if (ta) { ta.focus(); if (id === "edit") ta.setSelectionRange(0, 0); }
  }
  if (location.hash === "#reject" || location.hash === "#edit") openBox(location.hash.slice(1));

  // -- keys ---------------------------------------------------------------------------------
  var pendingG = false;
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") {
      if (typing(ev)) ev.target.blur();
      $$("#inbox tr.reject-row").forEach(function (r) { r.remove(); });
      $$(".decide-bar details[open]").forEach(function (d) { d.open = false; });
      return;
    }
    if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (pendingG) {
      pendingG = false;
      if (ev.key === "i") { location.href = "/"; return; }
    }
    if (ev.key === "?") { ev.preventDefault(); help(); return; }
    if (ev.key === "g") { pendingG = true; return; }
    if (page === "inbox") {
      var row = selected();
      // Nothing selected yet: a deciding key first selects the top row (and decides nothing), so a
      // decision is never taken on a row the reviewer has not seen highlighted.
      if (!row && (ev.key === "a" || ev.key === "r" || ev.key === "e" || ev.key === "Enter")) {
        ev.preventDefault(); move(1); return;
      }
      if (ev.key === "j") { ev.preventDefault(); move(1); }
      else if (ev.key === "k") { ev.preventDefault(); move(-1); }
      else if (ev.key === "Enter" && row) { ev.preventDefault(); location.href = row.dataset.href; }
      else if (ev.key === "a" && row) { ev.preventDefault(); approveRow(row); }
      else if (ev.key === "r" && row) { ev.preventDefault(); rejectBox(row); }
      else if (ev.key === "e" && row) { ev.preventDefault(); location.href = row.dataset.href + "#edit"; }
    } else if (page === "ticket") {
      var approve = $('.decide-bar form[data-decide="approve"]');
      if (ev.key === "a" && approve) { ev.preventDefault(); approve.requestSubmit(); }
      else if (ev.key === "r" && $("#reject")) { ev.preventDefault(); openBox("reject"); }
      else if (ev.key === "e" && $("#edit")) { ev.preventDefault(); openBox("edit"); }
    }
  });
  // A click on a row (not on its links and buttons) selects it.
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest("#inbox tr.ticket");
    if (!row || ev.target.closest("a, button, form, input, textarea, summary")) return;
    select(row);
  });
  $$("[data-reject]").forEach(function (a) {
    a.addEventListener("click", function (ev) { ev.preventDefault(); var r = a.closest("tr.ticket"); select(r); rejectBox(r); });
  });

  // -- live updates -------------------------------------------------------------------------
  var FINAL = { approved: 1, rejected: 1, expired: 1, aborted: 1, cancelled: 1 };
  var table = $("#inbox");
  var filters = table ? JSON.parse(table.dataset.filters || "{}") : {};
  function rowURL(id) {
    var q = new URLSearchParams();
    Object.keys(filters).forEach(function (k) { if (filters[k]) q.set(k, filters[k]); });
    var s = q.toString();
    return "/ui/rows/" + encodeURIComponent(id) + (s ? "?" + s : "");
  }
  function fetchRow(id) {
    return fetch(rowURL(id), { credentials: "same-origin" }).then(function (r) {
      if (r.redirected || r.status !== 200) {  // logged out meanwhile: the login page is no row
        if (r.redirected) { var st = $("#live-status"); if (st) { st.hidden = false; st.textContent = "Your session ended: reload to log in again."; } }
        return null;
      }
      return r.text();
    });
  }
  function refreshRow(id) {
    var old = $('#inbox tr.ticket[data-id="' + CSS.escape(id) + '"]');
    if (!old) return;
    fetchRow(id).then(function (html) {
      if (!html) { markDecided(id, "decided"); return; }
      var tr = fromHTML(html);
      if (old.classList.contains("sel")) tr.classList.add("sel");
      old.replaceWith(tr);
    });
  }
  var refreshing = null;
  function refreshTable() {
    if (refreshing) return;
    refreshing = setTimeout(function () {
      fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.redirected ? "" : r.text(); }).then(function (html) {
        refreshing = null;
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("inbox");
        if (!fresh || !table) return;
        var sel = selected();
        var selId = sel && sel.dataset.id;
        table.replaceWith(fresh);
        table = fresh;
        if (selId) select($('#inbox tr.ticket[data-id="' + CSS.escape(selId) + '"]'));
        var range = doc.getElementById("shown-range"), mine = $("#shown-range");
        if (range && mine) mine.textContent = range.textContent;
      }, function () { refreshing = null; });
    }, 300);
  }
  function arrived(id, group) {
    if (!table) return;
    if ($('#inbox tr.ticket[data-id="' + CSS.escape(id) + '"]')) { refreshRow(id); return; }
    if (table.dataset.liveAppend !== "1") {
      var st = $("#live-status");
      if (st) { st.hidden = false; st.textContent = "New requests arrived on later pages."; }
      return;
    }
    fetchRow(id).then(function (html) {
      if (!html) return;
      var tr = fromHTML(html);
      tr.classList.add("arrived");
      var block = $('#inbox tbody.block[data-group="' + CSS.escape(group || id) + '"]');
      if (block && !block.classList.contains("group")) {
        refreshTable();  // a second similar request: redraw so both sit under one group header
        return;
      }
      // A new block of its own, also when its group is shown: the group's buttons decide only
      // the rows the reviewer had when the page was drawn, so a late arrival is never among them.
      var tb = document.createElement("tbody");
      tb.className = "block" + (block ? " late" : "");
      tb.dataset.group = group || id;
      tb.dataset.total = "1";
      tb.appendChild(tr);
      var empty = $("#inbox tbody.empty-row");
      table.insertBefore(tb, empty);
      if (empty) empty.hidden = true;
      if (block) {
        var st = $("#live-status");
        if (st) { st.hidden = false; st.textContent = "A similar request arrived; it is listed on its own, not in its group's buttons."; }
      }
    });
  }
  function onChange(ev) {
    var d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    var art = $(".ticket-page");
    if (art && d.ticket === art.dataset.id && art.dataset.status === "pending") {
      var st = $("#live-status");
      var who = d.reviewer ? " by " + d.reviewer : "";
      if (FINAL[d.kind]) {
        st.textContent = "This ticket was just " + d.kind + who + ". Reload to see the outcome.";
        st.hidden = false;
        $$(".decide-bar button, .decide-bar summary").forEach(function (b) { b.disabled = true; b.classList.add("disabled"); });
        $$(".decide-bar details").forEach(function (x) { x.open = false; });
        var bar = $(".decide-bar");
        if (bar) bar.hidden = true;
      } else if (d.kind === "approval" || d.kind === "escalated" || d.kind === "retried") {
        st.textContent = (d.kind === "approval" ? "Approved" + who + " (" + (d.approvals || "") + ")"
          : d.kind === "escalated" ? "Escalated to " + (d.tier || "the next tier") : "Reviewers notified again") + ". Reload to see it.";
        st.hidden = false;
      }
      return;
    }
    if (page !== "inbox" || !d.ticket) {
      if (d.kind === "submitted" && d.status === "pending") bumpPending(1);
      else if (FINAL[d.kind] && !decided.has(d.ticket)) { decided.add(d.ticket); bumpPending(-1); }
      return;
    }
    if (d.kind === "submitted" && d.status === "pending") { bumpPending(1); arrived(d.ticket, d.group); }
    else if (FINAL[d.kind]) markDecided(d.ticket, d.kind + (d.reviewer ? " by " + d.reviewer : ""));
    else if (d.kind === "approval" || d.kind === "escalated" || d.kind === "retried") refreshRow(d.ticket);
  }
  if (window.EventSource && csrf && page) {
    var es = new EventSource("/ui/events");
    es.addEventListener("change", onChange);
    es.addEventListener("open", function () { document.body.dataset.live = "1"; });
  }
})();
