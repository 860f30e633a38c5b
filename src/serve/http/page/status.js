// Lifeline's status page: draws records, endpoints, check latency and
// recent events from the server's event stream (GET /v1/stream), and
// redraws what changes as the server says so. No framework, no build step.
"use strict";

(function () {
  const HISTORY = 60; // results kept per check, as the server keeps them
  const EVENTS = 50; // events listed
  const SVG = "http://www.w3.org/2000/svg";
  const CHART = { width: 120, height: 28, pad: 2 };

  let records = [];
  let endpoints = [];
  // "endpoint\u0000check" -> [{at, ok, latency_ms, detail}], oldest first
  const histories = new Map();
  let latestEvent = 0;
  const dirty = new Set(); // charts to redraw at the next frame

  const key = (endpoint, check) => endpoint + "\u0000" + check;

  // el("td", {className: "x", text: "y", data: {record: "z"}}, child...)
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    const p = props || {};
    if (p.className) node.className = p.className;
    if (p.text !== undefined) node.textContent = p.text;
    if (p.title) node.title = p.title;
    for (const [k, v] of Object.entries(p.data || {})) node.dataset[k] = v;
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function time(at) {
    const t = el("time", { text: new Date(at).toLocaleTimeString() });
    t.dateTime = at;
    t.title = at;
    return t;
  }

  // A cell with the column's name, which narrow screens show as a label.
  function cell(table, column, props, ...children) {
    const header = table.tHead.rows[0].cells[column].textContent;
    const td = el("td", props, ...children);
    td.dataset.label = header;
    return td;
  }

  function badge(text, kind, title) {
    return el("span", { className: "badge " + kind, text: text, title: title });
  }

  // --- records ---

  function answerText(answer) {
    if (answer.negative) return answer.negative;
    let text = answer.addresses.join(", ");
    if (answer.take) text += " (" + answer.take + " per answer, " + answer.selection.replace("_", " ") + ")";
    if (answer.backup) {
      const share = Math.round((1 - answer.backup.share) * 100);
      text += "; " + share + "% of answers: " + answer.backup.addresses.join(", ") + " (tier " + answer.backup.tier + ")";
    }
    return text;
  }

  function recordState(r) {
    if (r.tier === null) return ["all down", "down"];
    if (r.failed_over) return ["failed over", "warn"];
    if (r.degraded) return ["degraded", "warn"];
    return ["healthy", "up"];
  }

  function drawRecords() {
    const table = document.getElementById("records");
    const rows = records.map((r) => {
      const [state, kind] = recordState(r);
      const tr = el("tr", { data: { record: r.name } });
      tr.append(
        el("th", { text: r.name }),
        cell(table, 1, { className: "answer", text: answerText(r.answer) }),
        cell(table, 2, { className: "tier", text: r.tier === null ? "none" : String(r.tier) }),
        cell(table, 3, { className: "ttl", text: String(r.ttl) }),
        cell(table, 4, { className: "state" }, badge(state, kind)),
        cell(table, 5, { className: "why", text: r.rule.text }),
      );
      tr.firstChild.scope = "row";
      return tr;
    });
    table.tBodies[0].replaceChildren(...rows);
    document.getElementById("no-records").hidden = records.length > 0;
  }

  // --- endpoints ---

  function verdictCell(table, e) {
    const td = cell(table, 1, { className: "verdict" });
    td.append(el("strong", { className: e.up ? "up" : "down", text: e.up ? "UP" : "DOWN" }));
    if (e.override) {
      const o = e.override;
      const why = [o.by && "by " + o.by, o.reason, o.until && "until " + o.until].filter(Boolean).join(", ");
      td.append(" ", badge(o.mode, "override", why));
    }
    if (e.scheduled) {
      const s = e.scheduled;
      const why = [s.by && "by " + s.by, s.reason, s.until && "until " + s.until].filter(Boolean).join(", ");
      td.append(" ", badge(s.mode + " at " + s.starts, "warn", why));
    }
    if (e.held_until) td.append(" ", badge("damped", "warn", "flapping: held down until " + e.held_until));
    if (e.stale) td.append(" ", badge("stale", "warn", "no fresh check result: the verdict holds"));
    if (!e.override && e.checks_up !== e.up) td.append(" ", badge("checks say " + (e.checks_up ? "up" : "down"), "warn"));
    return td;
  }

  function checkBlock(e, c) {
    const block = el("div", { className: "check", data: { check: c.check } });
    block.append(el("span", { className: "name", text: c.check }), el("span", { className: "last" }));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + CHART.width + " " + CHART.height);
    svg.setAttribute("role", "img");
    svg.classList.add("chart");
    block.append(svg);
    drawCheck(block, e.name, c);
    return block;
  }

  function drawEndpoints() {
    const table = document.getElementById("endpoints");
    const rows = endpoints.map((e) => {
      const tr = el("tr", { data: { endpoint: e.name } });
      const name = el("th", { text: e.name });
      name.scope = "row";
      name.append(el("span", { className: "records", text: e.records.join(", ") }));
      tr.append(
        name,
        verdictCell(table, e),
        cell(table, 2, { className: "since" }, time(e.since)),
        cell(table, 3, { className: "checks" }, ...e.checks.map((c) => checkBlock(e, c))),
      );
      return tr;
    });
    table.tBodies[0].replaceChildren(...rows);
  }

  // The last result and the latency chart of one check.
  function drawCheck(block, endpoint, c) {
    const points = histories.get(key(endpoint, c.check)) || [];
    const last = points[points.length - 1] || c.last;
    const text = block.querySelector(".last");
    if (last) {
      text.textContent = (last.ok ? "ok" : "FAIL") + " " + last.latency_ms.toFixed(1) + " ms";
      text.className = "last " + (last.ok ? "up" : "down");
      text.title = (last.detail || "") + " at " + last.at;
    }
    drawChart(block.querySelector("svg"), points, c.check);
  }

  // Latency as a line scaled to the slowest result shown; failed results
  // as red marks along the bottom.
  function drawChart(svg, points, check) {
    const { width, height, pad } = CHART;
    const max = Math.max(1, ...points.map((p) => p.latency_ms));
    const x = (i) => width - pad - (points.length - 1 - i) * ((width - 2 * pad) / (HISTORY - 1));
    const y = (ms) => height - pad - (ms / max) * (height - 2 * pad);
    const shapes = [];
    if (points.length > 1) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", points.map((p, i) => x(i).toFixed(1) + "," + y(p.latency_ms).toFixed(1)).join(" "));
      line.classList.add("latency");
      shapes.push(line);
    }
    points.forEach((p, i) => {
      if (p.ok) return;
      const mark = document.createElementNS(SVG, "rect");
      mark.setAttribute("x", (x(i) - 1).toFixed(1));
      mark.setAttribute("y", String(height - 6));
      mark.setAttribute("width", "2");
      mark.setAttribute("height", "6");
      mark.classList.add("failed");
      shapes.push(mark);
    });
    const failed = points.filter((p) => !p.ok).length;
    const label = points.length
      ? check + ": latency of the last " + points.length + " results, up to " + max.toFixed(1) + " ms; " + failed + " failed"
      : check + ": no results yet";
    const title = document.createElementNS(SVG, "title");
    title.textContent = label;
    svg.setAttribute("aria-label", label);
    svg.replaceChildren(title, ...shapes);
  }

  function redrawDirty() {
    for (const k of dirty) {
      const [endpoint, check] = k.split("\u0000");
      const e = endpoints.find((x) => x.name === endpoint);
      const c = e && e.checks.find((x) => x.check === check);
      const row = c && document.querySelector('tr[data-endpoint="' + CSS.escape(endpoint) + '"]');
      const block = row && row.querySelector('.check[data-check="' + CSS.escape(check) + '"]');
      if (block) drawCheck(block, endpoint, c);
    }
    dirty.clear();
  }

  function addResult(r) {
    const k = key(r.endpoint, r.check);
    const points = histories.get(k) || [];
    if (points.length && points[points.length - 1].at >= r.at) return; // already have it
    points.push(r);
    if (points.length > HISTORY) points.shift();
    histories.set(k, points);
    if (dirty.size === 0) requestAnimationFrame(redrawDirty);
    dirty.add(k);
  }

  // --- summary and events ---

  function drawSummary() {
    const count = (list, test) => list.filter(test).length;
    const healthy = count(records, (r) => recordState(r)[0] === "healthy");
    const up = count(endpoints, (e) => e.up);
    document.getElementById("summary").textContent =
      records.length + " records, " + healthy + " healthy · " +
      endpoints.length + " endpoints, " + up + " up, " + (endpoints.length - up) + " down";
  }

  function eventItem(e) {
    const li = el("li", { className: "kind-" + e.kind, data: { id: String(e.id) } });
    li.append(time(e.at), " ", el("span", { className: "kind", text: e.kind }), " ", el("span", { text: e.message }));
    return li;
  }

  // Adds events given newest first.
  function addEvents(list) {
    const fresh = list.filter((e) => e.id > latestEvent);
    if (!fresh.length) return;
    latestEvent = Math.max(latestEvent, ...fresh.map((e) => e.id));
    const ol = document.getElementById("events");
    ol.prepend(...fresh.map(eventItem));
    while (ol.children.length > EVENTS) ol.lastElementChild.remove();
    document.getElementById("no-events").hidden = true;
  }

  // --- the stream ---

  function connection(state, text) {
    const p = document.getElementById("connection");
    p.dataset.state = state;
    p.textContent = text;
  }

  const handlers = {
    state(s) {
      records = s.records;
      endpoints = s.endpoints;
      drawRecords();
      drawEndpoints();
      drawSummary();
    },
    history(series) {
      histories.clear();
      for (const s of series) histories.set(key(s.endpoint, s.check), s.results);
      drawEndpoints();
    },
    // On every connect: the list starts over (the server may have restarted).
    events(list) {
      document.getElementById("events").replaceChildren();
      latestEvent = 0;
      addEvents(list);
      document.getElementById("no-events").hidden = list.length > 0;
    },
    checks(results) {
      results.forEach(addResult);
    },
    event(e) {
      addEvents([e]);
    },
  };

  function connect() {
    const source = new EventSource("/v1/stream");
    source.onopen = () => connection("live", "live");
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        connection("down", "disconnected; retrying");
        setTimeout(connect, 2000);
      } else {
        connection("down", "reconnecting");
      }
    };
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, (m) => handle(JSON.parse(m.data)));
    }
  }

  connect();
})();
