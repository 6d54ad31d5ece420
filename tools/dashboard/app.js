// Live dashboard for meter readers: subscribes to <prefix>/+/status, /state and /diag over MQTT
// WebSockets (MQTT.js) and shows one card per reader. No build step; plain DOM and canvas.
// The state JSON is docs/state.md: power signed (+ import, - export), energy in integer Wh.
(function () {
  "use strict";

  var params = new URLSearchParams(window.location.search);
  var PREFIX = params.get("prefix") || "meters";
  var CHART_MS = Math.max(1, Number(params.get("minutes")) || 5) * 60000;
  var MAX_POINTS = 2000; // per reader: bounds memory for fast readers and long sessions
  var COLORS = ["#2563eb", "#db2777", "#0891b2", "#7c3aed", "#ca8a04", "#059669", "#dc2626",
    "#4b5563"];
  var CHANNEL_FIELDS = [
    ["p", "Power"], ["u", "Voltage"], ["i", "Current"], ["pf", "PF"],
    ["e_imp", "Imported"], ["e_exp", "Exported"]
  ];

  var readers = {}; // id -> reader
  var diags = {}; // id -> the latest diag (retained; may come before the reader's status)
  var readersEl = document.getElementById("readers");
  var brokerEl = document.getElementById("broker");
  var brokerTextEl = document.getElementById("broker-text");
  var noticeEl = document.getElementById("notice");
  document.getElementById("empty-prefix").textContent = PREFIX;

  // ---- formatting: what a user expects to read ----------------------------------------------

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  function formatPower(w) {
    var a = Math.abs(w);
    if (a < 1000) return Math.round(a) + " W";
    return (a / 1000).toFixed(2) + " kW";
  }

  function direction(w) {
    if (Math.round(w) > 0) return "import";
    if (Math.round(w) < 0) return "export";
    return "";
  }

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  }

  // Energy counters are integer Wh: kWh is written as an exact decimal, never through a float.
  function formatEnergy(wh) {
    if (!isNum(wh)) return "";
    if (!Number.isInteger(wh)) return group((wh / 1000).toFixed(3)) + " kWh";
    var sign = wh < 0 ? "-" : "";
    var a = Math.abs(wh);
    var frac = String(a % 1000);
    return sign + group(String(Math.floor(a / 1000))) + "." + "000".slice(frac.length) + frac +
      " kWh";
  }

  function fixed(v, digits, unit) {
    return isNum(v) ? v.toFixed(digits) + (unit ? " " + unit : "") : "";
  }

  function clock(ms) {
    var d = new Date(ms);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }

  function age(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- one reader ---------------------------------------------------------------------------

  function reader(id) {
    var r = readers[id];
    if (r) return r;
    r = readers[id] = {
      id: id, status: "", statusSince: Date.now(),
      state: null, // the latest state as received
      values: {}, // latest known value per key ("p", "L1.u") with the time it came: {v, at}
      channels: [], // channel names in the order first seen
      lastAt: 0, intervals: [], history: [], ui: null
    };
    r.ui = buildCard(r);
    var ids = Object.keys(readers).sort();
    var next = ids[ids.indexOf(id) + 1];
    readersEl.insertBefore(r.ui.card, next ? readers[next].ui.card : null);
    document.getElementById("empty").hidden = true;
    return r;
  }

  function removeReader(id) {
    var r = readers[id];
    if (!r) return;
    r.ui.card.remove();
    delete readers[id];
    document.getElementById("empty").hidden = Object.keys(readers).length > 0;
  }

  function buildCard(r) {
    var ui = {};
    var card = ui.card = el("section", "reader");
    card.dataset.reader = r.id;
    card.dataset.status = "unknown";
    var head = el("div", "reader-head");
    head.appendChild(el("h2", "", r.id));
    ui.badge = el("span", "badge");
    ui.badge.appendChild(el("span", "dot"));
    ui.badgeText = el("span", "", "status unknown");
    ui.badgeText.dataset.field = "status";
    ui.badge.appendChild(ui.badgeText);
    head.appendChild(ui.badge);
    card.appendChild(head);
    ui.meta = el("div", "meta", "no reading yet");
    ui.meta.dataset.field = "updated";
    card.appendChild(ui.meta);

    var headline = el("div", "headline");
    ui.direction = el("span", "direction", "");
    ui.direction.dataset.field = "direction";
    ui.power = el("span", "power", "\u2013");
    ui.power.dataset.field = "p";
    headline.appendChild(ui.direction);
    headline.appendChild(ui.power);
    card.appendChild(headline);

    var totals = el("div", "totals");
    ui.totals = {};
    [["e_imp", "Imported"], ["e_exp", "Exported"], ["f", "Frequency"], ["t", "Temperature"]]
      .forEach(function (pair) {
        var item = el("span", "");
        item.hidden = true;
        item.appendChild(el("span", "label", pair[1]));
        var value = el("span", "value");
        value.dataset.field = pair[0];
        item.appendChild(value);
        totals.appendChild(item);
        ui.totals[pair[0]] = { item: item, value: value };
      });
    card.appendChild(totals);

    ui.canvas = el("canvas", "chart");
    ui.canvas.dataset.points = "0";
    ui.canvas.setAttribute("role", "img");
    ui.canvas.setAttribute("aria-label", "power over the last minutes");
    card.appendChild(ui.canvas);

    var table = ui.table = el("table", "channels");
    table.hidden = true;
    var hrow = el("tr");
    hrow.appendChild(el("th", "", "Channel"));
    ui.headers = CHANNEL_FIELDS.map(function (f) { return hrow.appendChild(el("th", "", f[1])); });
    var thead = el("thead");
    thead.appendChild(hrow);
    table.appendChild(thead);
    ui.tbody = el("tbody");
    table.appendChild(ui.tbody);
    card.appendChild(table);
    ui.rows = {};
    return ui;
  }

  function channelColor(r, name) {
    return COLORS[r.channels.indexOf(name) % COLORS.length];
  }

  function channelRow(r, name) {
    var row = r.ui.rows[name];
    if (row) return row;
    r.channels.push(name);
    var tr = el("tr");
    tr.dataset.channel = name;
    var first = el("td");
    var swatch = el("span", "swatch");
    swatch.style.background = channelColor(r, name);
    first.appendChild(swatch);
    first.appendChild(document.createTextNode(name));
    tr.appendChild(first);
    row = { tr: tr, cells: {} };
    CHANNEL_FIELDS.forEach(function (f) {
      var td = el("td");
      td.dataset.field = f[0];
      tr.appendChild(td);
      row.cells[f[0]] = td;
    });
    r.ui.tbody.appendChild(tr);
    r.ui.table.hidden = false;
    r.ui.rows[name] = row;
    return row;
  }

  // A HAN meter's short lists carry only power between its full lists: keep showing the last
  // voltage, current and energy a full list gave, greyed ("held"), rather than blanking them.
  function remember(r, key, value, now) {
    if (isNum(value)) r.values[key] = { v: value, at: now };
  }

  function show(cell, key, r, text) {
    var known = r.values[key];
    cell.textContent = known ? text(known.v) : "";
    var held = !!known && known.at !== r.lastAt;
    cell.classList.toggle("held", held);
    cell.title = held ? "last given at " + clock(known.at) : "";
  }

  function netPower(state) {
    if (isNum(state.p)) return state.p;
    if (isNum(state.p_imp) || isNum(state.p_exp)) {
      return (isNum(state.p_imp) ? state.p_imp : 0) - (isNum(state.p_exp) ? state.p_exp : 0);
    }
    return null;
  }

  function onState(r, state) {
    var now = Date.now();
    if (r.lastAt) {
      r.intervals.push(now - r.lastAt);
      if (r.intervals.length > 10) r.intervals.shift();
    }
    r.lastAt = now;
    r.state = state;
    var p = netPower(state);
    remember(r, "p", p, now);
    ["e_imp", "e_exp", "f", "t"].forEach(function (k) { remember(r, k, state[k], now); });
    var point = { t: now, p: isNum(p) ? p : null, ch: {} };
    var channels = state.ch && typeof state.ch === "object" ? state.ch : {};
    Object.keys(channels).forEach(function (name) {
      var ch = channels[name];
      if (!ch || typeof ch !== "object") return;
      channelRow(r, name);
      CHANNEL_FIELDS.forEach(function (f) { remember(r, name + "." + f[0], ch[f[0]], now); });
      if (isNum(ch.p)) point.ch[name] = ch.p;
    });
    r.history.push(point);
    prune(r, now);
    r.ui.card.dataset.ts = isNum(state.ts) ? String(state.ts) : "";
    render(r);
  }

  function prune(r, now) {
    while (r.history.length && (r.history.length > MAX_POINTS || r.history[0].t < now - CHART_MS)) {
      r.history.shift();
    }
  }

  function render(r) {
    var ui = r.ui;
    var state = r.state || {};
    var known = r.values.p;
    if (known) {
      var dir = direction(known.v);
      ui.direction.textContent = dir === "import" ? "importing" : dir === "export" ? "exporting"
        : "balanced";
      ui.direction.className = "direction " + (dir ? dir + "ing" : "");
      ui.power.textContent = formatPower(known.v);
      ui.power.className = "power " + (dir ? dir + "ing" : "");
    }
    Object.keys(ui.totals).forEach(function (k) {
      var t = ui.totals[k];
      var text = k === "f" ? function (v) { return fixed(v, 2, "Hz"); }
        : k === "t" ? function (v) { return fixed(v, 1, "\u00b0C"); } : formatEnergy;
      show(t.value, k, r, text);
      t.item.hidden = !r.values[k];
    });
    // Columns no channel of this reader has a value for are hidden (a HAN meter: u and i only).
    CHANNEL_FIELDS.forEach(function (f, k) {
      var used = r.channels.some(function (name) { return !!r.values[name + "." + f[0]]; });
      ui.headers[k].hidden = !used;
      r.channels.forEach(function (name) { ui.rows[name].cells[f[0]].hidden = !used; });
    });
    r.channels.forEach(function (name) {
      var cells = ui.rows[name].cells;
      show(cells.p, name + ".p", r, function (v) {
        var d = direction(v);
        return formatPower(v) + (d ? " " + d : "");
      });
      cells.p.classList.toggle("importing", direction((r.values[name + ".p"] || {}).v) === "import");
      cells.p.classList.toggle("exporting", direction((r.values[name + ".p"] || {}).v) === "export");
      show(cells.u, name + ".u", r, function (v) { return fixed(v, 1, "V"); });
      show(cells.i, name + ".i", r, function (v) { return fixed(v, 2, "A"); });
      show(cells.pf, name + ".pf", r, function (v) { return fixed(v, 2); });
      show(cells.e_imp, name + ".e_imp", r, formatEnergy);
      show(cells.e_exp, name + ".e_exp", r, formatEnergy);
    });
    var bits = [];
    if (state.src) bits.push(state.src === "han" ? "HAN port" : state.src);
    if (state.model) bits.push("meter " + state.model);
    if (state.id) bits.push("#" + state.id);
    var diag = diags[r.id];
    if (diag && diag.version) bits.push("firmware " + diag.version);
    r.meta = bits;
    renderAge(r, Date.now());
    drawChart(r);
  }

  function expectedInterval(r) {
    if (!r.intervals.length) return 10000;
    var sorted = r.intervals.slice().sort(function (a, b) { return a - b; });
    return sorted[Math.floor(sorted.length / 2)];
  }

  function renderAge(r, now) {
    var ui = r.ui;
    var parts = (r.meta || []).slice();
    if (r.lastAt) {
      var ts = r.state && isNum(r.state.ts) ? r.state.ts * 1000 : r.lastAt;
      parts.push("updated " + clock(ts) + " (" + age(now - r.lastAt) + ")");
    } else {
      parts.push("no reading yet");
    }
    ui.meta.textContent = parts.join(" \u00b7 ");
    var stale = r.status === "online" && r.lastAt &&
      now - r.lastAt > Math.max(3 * expectedInterval(r), 15000);
    ui.card.classList.toggle("stale", !!stale);
    var text;
    if (r.status === "online") {
      text = stale ? "online, no reading for " + age(now - r.lastAt).replace(" ago", "")
        : "online";
    } else if (r.status === "offline") {
      text = r.statusSince ? "offline since " + clock(r.statusSince) : "offline";
    } else {
      text = r.status ? r.status : "status unknown";
    }
    ui.badgeText.textContent = text;
  }

  // ---- the rolling chart --------------------------------------------------------------------

  function niceStep(range) {
    var raw = range / 3;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var n = raw / mag;
    return (n > 5 ? 10 : n > 2 ? 5 : n > 1 ? 2 : 1) * mag;
  }

  function axisLabel(w, step) {
    var sign = w > 0 ? "+" : w < 0 ? "\u2212" : "";
    var a = Math.abs(w);
    if (a === 0) return "0";
    if (step < 1000) return sign + a + " W";
    var decimals = step % 1000 === 0 ? 0 : step % 100 === 0 ? 1 : 2;
    return sign + (a / 1000).toFixed(decimals) + " kW";
  }

  function drawChart(r) {
    var canvas = r.ui.canvas;
    var dpr = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var now = Date.now();
    var pts = r.history;
    canvas.dataset.points = String(pts.length);
    var top = 6, bottom = height - 16;

    var lo = 0, hi = 0;
    pts.forEach(function (pt) {
      if (pt.p !== null) { lo = Math.min(lo, pt.p); hi = Math.max(hi, pt.p); }
      Object.keys(pt.ch).forEach(function (k) {
        lo = Math.min(lo, pt.ch[k]); hi = Math.max(hi, pt.ch[k]);
      });
    });
    if (hi - lo < 100) { hi += 50; lo -= 50; }
    var step = niceStep(hi - lo);
    hi = Math.ceil(hi / step) * step;
    lo = Math.floor(lo / step) * step;
    var ticks = [];
    for (var v = lo; v <= hi + step / 2; v += step) ticks.push(Math.round(v));

    ctx.font = "11px system-ui, sans-serif";
    var labels = ticks.map(function (w) { return axisLabel(w, step); });
    var left = 8 + Math.max.apply(null, labels.map(function (t) {
      return ctx.measureText(t).width;
    }));
    var right = width - 4;
    function x(t) { return left + (right - left) * (1 - (now - t) / CHART_MS); }
    function y(w) { return top + (bottom - top) * (hi - w) / (hi - lo); }

    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ticks.forEach(function (w, k) {
      ctx.strokeStyle = w === 0 ? "#9aa3ae" : "#eceef1";
      ctx.beginPath();
      ctx.moveTo(left, y(w));
      ctx.lineTo(right, y(w));
      ctx.stroke();
      ctx.fillStyle = "#6b7482";
      ctx.fillText(labels[k], left - 4, Math.min(Math.max(y(w), top + 5), bottom - 5));
    });
    ctx.textBaseline = "alphabetic";
    var minutes = CHART_MS / 60000;
    var every = minutes > 30 ? 10 : minutes > 10 ? 5 : 1;
    for (var m = 0; m <= minutes; m += every) {
      ctx.textAlign = m === 0 ? "right" : m + every > minutes ? "left" : "center";
      ctx.fillText(m === 0 ? "now" : "\u2212" + m + " min", x(now - m * 60000), height - 3);
    }
    if (!pts.length) return;

    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top - 2, right - left, bottom - top + 4);
    ctx.clip();
    // Channels: thin lines in their table colours.
    r.channels.forEach(function (name) {
      ctx.strokeStyle = channelColor(r, name);
      ctx.lineWidth = 1;
      line(ctx, pts, function (pt) { return pt.ch[name]; }, x, y);
    });
    // Total: shaded import (above zero) and export (below), then a thick line.
    var total = pts.filter(function (pt) { return pt.p !== null; });
    if (total.length) {
      [["import", "rgba(194, 65, 12, 0.18)", hi, 0], ["export", "rgba(21, 128, 61, 0.2)", 0, lo]]
        .forEach(function (band) {
          ctx.save();
          ctx.beginPath();
          ctx.rect(left, y(band[2]), right - left, y(band[3]) - y(band[2]));
          ctx.clip();
          ctx.fillStyle = band[1];
          ctx.beginPath();
          ctx.moveTo(x(total[0].t), y(0));
          total.forEach(function (pt) { ctx.lineTo(x(pt.t), y(pt.p)); });
          ctx.lineTo(x(total[total.length - 1].t), y(0));
          ctx.closePath();
          ctx.fill();
          ctx.restore();
        });
      ctx.strokeStyle = "#1d2430";
      ctx.lineWidth = 2;
      line(ctx, total, function (pt) { return pt.p; }, x, y);
      var last = total[total.length - 1]; // a dot: the latest reading (alone it makes no line)
      ctx.fillStyle = "#1d2430";
      ctx.beginPath();
      ctx.arc(x(last.t), y(last.p), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.restore();
  }

  function line(ctx, pts, value, x, y) {
    ctx.beginPath();
    var drawing = false;
    pts.forEach(function (pt) {
      var v = value(pt);
      if (!isNum(v)) { drawing = false; return; }
      if (drawing) ctx.lineTo(x(pt.t), y(v)); else ctx.moveTo(x(pt.t), y(v));
      drawing = true;
    });
    ctx.stroke();
  }

  // ---- MQTT ---------------------------------------------------------------------------------

  function setBroker(state, text) {
    brokerEl.dataset.state = state;
    brokerTextEl.textContent = text;
    document.body.classList.toggle("broker-down", state !== "connected");
  }

  function notice(text) {
    noticeEl.textContent = text;
    noticeEl.hidden = !text;
  }

  function defaultBroker() {
    var loc = window.location;
    if (loc.protocol === "http:") return "ws://" + loc.host;
    if (loc.protocol === "https:") return "wss://" + loc.host;
    return null;
  }

  function onMessage(topic, payload, packet) {
    var levels = topic.split("/");
    var kind = levels.pop();
    var id = levels.pop();
    if (levels.join("/") !== PREFIX || !id) return;
    var text = new TextDecoder("utf-8").decode(payload);
    if (kind === "status") {
      if (text === "") { // retained status cleared: the reader was removed
        removeReader(id);
        delete diags[id];
        return;
      }
      var r = reader(id);
      // A retained status is old news: when it changed is unknown.
      if (r.status !== text) r.statusSince = packet && packet.retain ? null : Date.now();
      r.status = text;
      r.ui.card.dataset.status = text === "online" || text === "offline" ? text : "unknown";
      renderAge(r, Date.now());
    } else if (kind === "state") {
      var state;
      try { state = JSON.parse(text); } catch (e) { return; }
      if (!state || typeof state !== "object" || Array.isArray(state)) return;
      onState(reader(id), state);
    } else if (kind === "diag") {
      try { diags[id] = JSON.parse(text); } catch (e) { return; }
      if (readers[id]) render(readers[id]);
    }
  }

  function start() {
    if (typeof window.mqtt === "undefined") {
      setBroker("error", "MQTT.js missing");
      notice("MQTT.js is not installed next to this page: run `make setup` " +
        "(tools/dashboard/setup.sh) and reload.");
      return;
    }
    var url = params.get("broker") || defaultBroker();
    if (!url) {
      setBroker("error", "no broker");
      notice("Opened from a file: add ?broker=ws://HOST:PORT (the broker's WebSocket listener) " +
        "to the address, or open the page from the broker (make dashboard).");
      return;
    }
    var options = {
      clientId: "dashboard-" + Math.random().toString(16).slice(2, 10),
      clean: true,
      reconnectPeriod: 2000,
      connectTimeout: 8000,
      keepalive: 30
    };
    if (params.get("user")) {
      options.username = params.get("user");
      options.password = params.get("password") || "";
    }
    setBroker("connecting", "connecting to " + url);
    var client = window.mqtt.connect(url, options);
    var connects = 0;
    client.on("connect", function () {
      brokerEl.dataset.connects = String(++connects);
      setBroker("connected", "connected to " + url);
      notice("");
      client.subscribe([PREFIX + "/+/status", PREFIX + "/+/state", PREFIX + "/+/diag"],
        { qos: 0 });
    });
    client.on("reconnect", function () { setBroker("reconnecting", "reconnecting to " + url); });
    client.on("offline", function () { setBroker("reconnecting", "broker unreachable: " + url); });
    client.on("error", function (err) {
      setBroker("error", "broker error: " + (err && err.message ? err.message : err));
    });
    client.on("message", onMessage);
    window.dashboardClient = client; // for the browser console
  }

  window.setInterval(function () {
    var now = Date.now();
    Object.keys(readers).forEach(function (id) {
      var r = readers[id];
      prune(r, now);
      renderAge(r, now);
      drawChart(r);
    });
  }, 1000);
  window.addEventListener("resize", function () {
    Object.keys(readers).forEach(function (id) { drawChart(readers[id]); });
  });
  start();
})();
