// Portrait audience builder: the rule tree lives here, in the page; the server counts it.
// The tree is edited as groups (all of / any of, optionally excluded) holding conditions and
// groups, to any depth; it is sent as the rule's JSON form (docs/rules.md) after each edit,
// and the server answers with the exact size of the whole rule and of every node, and its
// canonical text. Editing the text rebuilds the tree. No inline script, no eval.
(function () {
  "use strict";
  var root = document.getElementById("builder");
  if (!root) return;
  var vocab = JSON.parse(root.getAttribute("data-vocabulary"));
  var T = JSON.parse(root.getAttribute("data-texts"));
  var initial = JSON.parse(root.getAttribute("data-document"));
  var csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
  var tagsByName = {};
  vocab.tags.forEach(function (t) { tagsByName[t.name] = t; });
  var valuesCache = {};
  var histograms = {};
  var seq = 0, shown = 0, timer = null, nextId = 1;
  var tree = group("and", false, []);
  var textBox = document.getElementById("rule-text");
  var currentText = "";

  // -- the model -------------------------------------------------------------------------
  function group(op, not, items) { return { id: nextId++, type: "group", op: op, not: not, items: items }; }
  function leaf(kind, data) { return { id: nextId++, type: "leaf", kind: kind, data: data }; }

  function fromJson(node) {
    if (!node) return group("and", false, []);
    if (node.kind === "and" || node.kind === "or") {
      return group(node.kind, false, node.items.map(fromJsonItem));
    }
    if (node.kind === "not") {
      var inner = node.item;
      if (inner.kind === "and" || inner.kind === "or") {
        return group(inner.kind, true, inner.items.map(fromJsonItem));
      }
      return group("and", true, [fromJsonItem(inner)]);
    }
    return group("and", false, [fromJsonItem(node)]);
  }
  function fromJsonItem(node) {
    if (node.kind === "and" || node.kind === "or" || node.kind === "not") return fromJson(node);
    return leaf(node.kind, JSON.parse(JSON.stringify(node)));
  }

  function isComplete(n) {
    var d = n.data;
    if (n.kind === "tag") {
      if (!d.tag || !d.op) return false;
      if (/^is /.test(d.op)) return true;
      if (Array.isArray(d.value)) return d.value.length > 0 && d.value.every(function (v) { return v !== "" && v !== null; });
      return d.value !== "" && d.value !== null && d.value !== undefined;
    }
    if (n.kind === "behaviour") {
      if (d.measure === "sum" && !d.of) return false;
      if (Array.isArray(d.value)) return d.value.every(function (v) { return v !== "" && v !== null && !isNaN(v); });
      return d.value !== "" && d.value !== null && !isNaN(d.value);
    }
    if (n.kind === "segment" || n.kind === "ids") return !!d.name;
    if (n.kind === "campaign") return !!d.name && !!d.outcome;
    return true;
  }

  // The JSON form of a UI node; records each node's path as the server will name it.
  function toJson(n, path) {
    if (n.type === "leaf") {
      n.path = isComplete(n) ? path : null;
      return n.path === null ? null : n.data;
    }
    var inner = path === "" ? "" : path + ".";
    var innerPath = n.not ? inner + "n" : path;
    var parts = [], kept = [];
    n.items.forEach(function (item) { kept.push(item); });
    var provisional = kept.map(function (item, i) { return { item: item, i: i }; });
    // a group of one is its item; of two or more, an and/or whose items are numbered
    var complete = provisional.filter(function (p) { return p.item.type === "group" ? hasContent(p.item) : isComplete(p.item); });
    provisional.forEach(function (p) { if (complete.indexOf(p) < 0) markIncomplete(p.item); });
    var json;
    if (complete.length === 0) { n.path = null; return null; }
    if (complete.length === 1) {
      json = toJson(complete[0].item, innerPath);
    } else {
      var base = innerPath === "" ? "" : innerPath + ".";
      complete.forEach(function (p, i) { parts.push(toJson(p.item, base + i)); });
      json = { kind: n.op, items: parts };
    }
    n.path = path;
    return n.not ? { kind: "not", item: json } : json;
  }
  function hasContent(g) {
    return g.items.some(function (item) { return item.type === "group" ? hasContent(item) : isComplete(item); });
  }
  function markIncomplete(n) {
    n.path = null;
    if (n.type === "group") n.items.forEach(markIncomplete);
  }

  // -- talking to the server ---------------------------------------------------------------
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.status === 401) { window.location.href = "/login?next=/builder"; throw new Error("signed out"); }
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    });
  }

  // A discrete edit (a choice, a box ticked, a node added) is counted at once; typing is
  // counted once the keys pause for TYPING ms. Answers older than the one shown are dropped.
  var TYPING = 60, typing = false;
  function schedule(delay) {
    if (timer) clearTimeout(timer);
    setPending();
    timer = setTimeout(count, typing ? TYPING : delay || 0);
  }

  function setPending() {
    root.querySelectorAll(".count").forEach(function (el) { el.classList.add("pending"); });
  }

  function count() {
    timer = null;
    var json = toJson(tree, "");
    var mine = ++seq;
    if (json === null) {
      showTotal(null, null);
      setText("");
      paintCounts({});
      return;
    }
    post("/builder/count", { version: 1, rule: json }).then(function (answer) {
      if (mine < shown) return; // an older answer arriving late
      shown = mine;
      if (!answer.ok) { showProblem(document.getElementById("total-problem"), answer.data.problem); return; }
      var data = answer.data;
      setText(data.text);
      showTotal(data.total, data);
      paintCounts(data.parts);
      // a newer edit is already on its way: these numbers stand until its answer comes
      if (mine !== seq || timer) setPending();
    }).catch(function () {});
  }

  function showTotal(total, data) {
    var size = document.getElementById("total-size");
    var share = document.getElementById("total-share");
    var note = document.getElementById("total-note");
    var problem = document.getElementById("total-problem");
    problem.textContent = "";
    if (!total) { size.textContent = "—"; share.textContent = ""; size.removeAttribute("data-size"); return; }
    if (total.problem) { size.textContent = "—"; share.textContent = ""; showProblem(problem, total.problem); return; }
    size.textContent = total.size === null ? T.suppressed : total.size.toLocaleString("en-US");
    size.setAttribute("data-size", total.size === null ? "" : String(total.size));
    share.textContent = total.share === null || total.share === undefined ? "" : (total.share * 100).toFixed(2) + "% / " + (data.population || 0).toLocaleString("en-US");
    note.textContent = data.as_of ? "as_of " + data.as_of : "";
  }

  function paintCounts(parts) {
    walk(tree, function (n) {
      var el = root.querySelector('[data-node="' + n.id + '"] > .head > .count, [data-node="' + n.id + '"] > .count');
      var err = root.querySelector('[data-node="' + n.id + '"] > .error');
      if (!el) return;
      el.classList.remove("pending");
      if (err) err.textContent = "";
      var box = root.querySelector('[data-node="' + n.id + '"]');
      box.classList.remove("bad");
      if (n.path === null || n.path === undefined || !parts[n.path]) { el.textContent = ""; el.removeAttribute("data-size"); return; }
      var part = parts[n.path];
      if (part.problem) {
        el.textContent = "";
        box.classList.add("bad");
        if (err) err.textContent = part.problem.message + (part.problem.hint ? " — " + part.problem.hint : "");
        return;
      }
      el.textContent = part.size === null ? T.suppressed : part.size.toLocaleString("en-US") + " " + T.users;
      el.setAttribute("data-size", part.size === null ? "" : String(part.size));
    });
  }

  function walk(n, f) { f(n); if (n.type === "group") n.items.forEach(function (i) { walk(i, f); }); }

  function showProblem(where, problem) {
    where.textContent = "";
    if (!problem) return;
    var box = document.createElement("div");
    box.className = "problem";
    box.setAttribute("role", "alert");
    var strong = document.createElement("strong");
    strong.textContent = problem.message;
    box.appendChild(strong);
    if (problem.line) {
      var at = document.createElement("div");
      at.className = "where";
      at.textContent = "line " + problem.line + ", column " + problem.column;
      box.appendChild(at);
    }
    if (problem.hint) {
      var hint = document.createElement("div");
      hint.className = "hint";
      hint.textContent = problem.hint;
      box.appendChild(hint);
    }
    where.appendChild(box);
  }

  function setText(text) {
    currentText = text;
    document.querySelectorAll(".rule-field").forEach(function (f) { f.value = text; });
    if (document.activeElement !== textBox) textBox.value = text;
  }

  function applyText() {
    var where = document.getElementById("text-problem");
    where.textContent = "";
    var text = textBox.value;
    if (!text.trim()) { tree = group("and", false, []); render(); schedule(); return; }
    post("/builder/tree", { text: text }).then(function (answer) {
      if (!answer.ok) {
        showProblem(where, answer.data.problem);
        if (answer.data.problem && answer.data.problem.line) selectAt(answer.data.problem.line, answer.data.problem.column);
        return;
      }
      tree = fromJson(answer.data.document.rule);
      render();
      schedule();
    });
  }

  function selectAt(line, column) {
    var lines = textBox.value.split("\n"), offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.max(0, column - 1);
    textBox.focus();
    textBox.setSelectionRange(offset, Math.min(offset + 1, textBox.value.length));
  }

  // -- drawing ---------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "className") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function select(label, options, value, onChange, extra) {
    var s = el("select", Object.assign({ "aria-label": label }, extra || {}));
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value)) opt.selected = true;
      s.appendChild(opt);
    });
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }

  function input(label, value, onInput, type) {
    var i = el("input", { "aria-label": label, type: type || "text" });
    i.value = value === null || value === undefined ? "" : String(value);
    i.addEventListener("input", function () { typing = true; onInput(i.value); typing = false; });
    return i;
  }

  function button(text, onClick, className) {
    var b = el("button", { type: "button", className: className || "secondary", text: text });
    b.addEventListener("click", onClick);
    return b;
  }

  var FOCUSABLE = "select, input, button, textarea";

  // Redraw the tree, keeping the keyboard focus where it was (the same control of the same
  // node), so keyboard users are not thrown back to the top after each structural edit.
  function render() {
    var active = document.activeElement, focusNode = null, focusIndex = -1;
    if (active && root.contains(active)) {
      var box = active.closest("[data-node]");
      if (box) {
        focusNode = box.getAttribute("data-node");
        focusIndex = Array.prototype.indexOf.call(box.querySelectorAll(FOCUSABLE), active);
      }
    }
    root.textContent = "";
    root.appendChild(drawGroup(tree, null));
    drawCharts();
    if (focusNode !== null) {
      var again = root.querySelector('[data-node="' + focusNode + '"]');
      var controls = again ? again.querySelectorAll(FOCUSABLE) : [];
      if (controls.length) controls[Math.min(focusIndex, controls.length - 1)].focus();
    }
  }

  function drawGroup(g, parent) {
    var box = el("div", { className: "group" + (g.not ? " not" : ""), "data-node": String(g.id), role: "group", "aria-label": T.of_group });
    var head = el("div", { className: "head" });
    head.appendChild(select(T.of_group, [["and", T.all], ["or", T.any]], g.op, function (v) { g.op = v; schedule(); }));
    var notBox = el("input", { type: "checkbox", "aria-label": T.group_not });
    notBox.checked = g.not;
    notBox.addEventListener("change", function () { g.not = notBox.checked; box.classList.toggle("not", g.not); schedule(); });
    head.appendChild(el("label", {}, [notBox, document.createTextNode(" " + T.group_not)]));
    if (parent) head.appendChild(button(T.remove, function () { remove(parent, g); }, "secondary"));
    head.appendChild(el("span", { className: "count", "aria-live": "off" }));
    box.appendChild(head);
    box.appendChild(el("div", { className: "error" }));
    if (!g.items.length) box.appendChild(el("p", { className: "muted", text: T.empty }));
    g.items.forEach(function (item) {
      box.appendChild(item.type === "group" ? drawGroup(item, g) : drawLeaf(item, g));
    });
    var adds = el("div", { className: "row adds" });
    adds.appendChild(button(T.add_tag, function () { add(g, leaf("tag", { kind: "tag", tag: "", op: "=", value: "" })); }));
    adds.appendChild(button(T.add_behaviour, function () {
      add(g, leaf("behaviour", { kind: "behaviour", measure: "count", event: vocab.events[0] || null, business_line: null, where: {}, of: null, window: { last: 30, start: null, end: null }, op: ">=", value: 1 }));
    }));
    if (vocab.segments.length) adds.appendChild(button(T.add_segment, function () { add(g, leaf("segment", { kind: "segment", name: vocab.segments[0] })); }));
    if (vocab.id_lists.length) adds.appendChild(button(T.add_ids, function () { add(g, leaf("ids", { kind: "ids", name: vocab.id_lists[0] })); }));
    if (vocab.campaigns.length) adds.appendChild(button(T.add_campaign, function () { add(g, leaf("campaign", { kind: "campaign", name: vocab.campaigns[0], outcome: "clicked" })); }));
    adds.appendChild(button(T.add_group, function () { add(g, group(g.op === "and" ? "or" : "and", false, [])); }));
    box.appendChild(adds);
    return box;
  }

  function add(g, node) { g.items.push(node); render(); schedule(); focusNode(node); }
  function remove(g, node) { g.items.splice(g.items.indexOf(node), 1); render(); schedule(); }
  function focusNode(node) {
    var box = root.querySelector('[data-node="' + node.id + '"]');
    var first = box && box.querySelector("select, input, button");
    if (first) first.focus();
  }

  function drawLeaf(n, parent) {
    var box = el("div", { className: "cond", "data-node": String(n.id), "data-kind": n.kind });
    var draw = { tag: drawTag, behaviour: drawBehaviour, segment: drawSegment, ids: drawIds, campaign: drawCampaign }[n.kind] || drawRaw;
    draw(n, box);
    box.appendChild(button(T.remove, function () { remove(parent, n); }, "secondary"));
    box.appendChild(el("span", { className: "count", "aria-live": "off" }));
    box.appendChild(el("div", { className: "error" }));
    return box;
  }

  function tagOptions(value) {
    var opts = [["", T.choose]];
    var cats = {};
    vocab.tags.forEach(function (t) { (cats[t.category || ""] = cats[t.category || ""] || []).push(t); });
    Object.keys(cats).sort().forEach(function (c) {
      cats[c].forEach(function (t) { opts.push([t.name, (t.title && t.title !== t.name ? t.title + " (" + t.name + ")" : t.name) + (c ? " · " + c : "")]); });
    });
    return opts;
  }

  function tagShape(name) {
    var t = tagsByName[name] || {};
    var type = t.type || "string";
    if (t.kind === "preference" || /^list/.test(type)) return "list";
    if (type === "int" || type === "float") return "number";
    if (type === "date" || type === "timestamp") return "time";
    if (type === "bool") return "bool";
    return "string";
  }

  var OPS = {
    string: ["=", "!=", "in", "not in", "is null", "is not null"],
    bool: ["=", "!=", "is null", "is not null"],
    number: [">=", ">", "<=", "<", "=", "!=", "between", "in", "not in", "is null", "is not null"],
    time: [">=", ">", "<=", "<", "between", "is null", "is not null"],
    list: ["contains any", "contains all", "is empty", "is not empty", "is null", "is not null"]
  };

  function typed(shape, text) {
    if (shape === "number") { var n = Number(text); return text === "" || isNaN(n) ? "" : n; }
    if (shape === "bool") return text === "true";
    if (shape === "time") {
      var m = /^\s*as_of\s*([+-])\s*(\d+)\s*([dw])\s*$/.exec(text);
      if (m) return { kind: "as_of", offset: (m[1] === "-" ? -1 : 1) * Number(m[2]), unit: m[3] };
    }
    return text;
  }
  function shownValue(v) {
    if (v && typeof v === "object" && v.kind === "as_of") return "as_of " + (v.offset < 0 ? "- " : "+ ") + Math.abs(v.offset) + v.unit;
    return v === null || v === undefined ? "" : String(v);
  }

  function drawTag(n, box) {
    var d = n.data;
    box.appendChild(select(T.tag, tagOptions(d.tag), d.tag, function (v) {
      d.tag = v;
      var ops = OPS[tagShape(v)];
      if (ops.indexOf(d.op) < 0) d.op = ops[0];
      d.value = defaultValue(d.op);
      render(); schedule();
    }, { "data-role": "tag" }));
    if (!d.tag) return;
    var shape = tagShape(d.tag);
    box.appendChild(select(T.operator, OPS[shape].map(function (o) { return [o, o]; }), d.op, function (v) {
      var wasList = Array.isArray(d.value);
      d.op = v;
      var want = defaultValue(v);
      if (Array.isArray(want) !== wasList || want === null) d.value = want;
      render(); schedule();
    }, { "data-role": "op" }));
    if (/^is /.test(d.op)) { delete d.value; d.value = null; return; }
    var multi = ["in", "not in", "contains any", "contains all"].indexOf(d.op) >= 0;
    var values = valuesCache[d.tag];
    if (!values || values === "loading") { loadValues(d.tag); box.appendChild(el("span", { className: "muted", text: T.counting })); return; }
    if (d.op === "between") {
      if (!Array.isArray(d.value)) d.value = ["", ""];
      box.appendChild(el("span", { text: T.from }));
      box.appendChild(input(T.from, shownValue(d.value[0]), function (v) { d.value[0] = typed(shape, v); schedule(); }, shape === "number" ? "number" : "text"));
      box.appendChild(el("span", { text: T.to }));
      box.appendChild(input(T.to, shownValue(d.value[1]), function (v) { d.value[1] = typed(shape, v); schedule(); }, shape === "number" ? "number" : "text"));
    } else if (multi && (shape === "string" || shape === "list") && values.values.length) {
      if (!Array.isArray(d.value)) d.value = [];
      var list = el("div", { className: "picker-values", role: "group", "aria-label": T.values_hint });
      values.values.forEach(function (v) {
        var c = el("input", { type: "checkbox", value: String(v.value) });
        c.checked = d.value.indexOf(v.value) >= 0;
        c.addEventListener("change", function () {
          var i = d.value.indexOf(v.value);
          if (c.checked && i < 0) d.value.push(v.value);
          if (!c.checked && i >= 0) d.value.splice(i, 1);
          schedule();
        });
        list.appendChild(el("label", {}, [c, document.createTextNode(String(v.value) + " (" + (v.count === null ? "—" : v.count.toLocaleString("en-US")) + ")")]));
      });
      box.appendChild(list);
    } else if (multi) {
      if (!Array.isArray(d.value)) d.value = [];
      box.appendChild(input(T.value, d.value.map(shownValue).join(", "), function (v) {
        d.value = v.split(",").map(function (s) { return typed(shape, s.trim()); }).filter(function (x) { return x !== ""; });
        schedule();
      }));
    } else if ((shape === "string" || shape === "bool") && values.values.length && !values.truncated) {
      var opts = [["", T.choose]].concat(values.values.map(function (v) {
        return [String(v.value), String(v.value) + " (" + (v.count === null ? "—" : v.count.toLocaleString("en-US")) + ")"];
      }));
      box.appendChild(select(T.value, opts, shownValue(d.value), function (v) { d.value = typed(shape, v); schedule(); }, { "data-role": "value" }));
    } else {
      box.appendChild(input(T.value, shownValue(d.value), function (v) { d.value = typed(shape, v); schedule(); }, shape === "number" ? "number" : "text"));
    }
    if ((shape === "number" || shape === "time") && values.values.length) {
      // drawn once per condition and tag, then moved along with each redraw of the tree
      var key = n.id + ":" + d.tag;
      if (!histograms[key]) {
        histograms[key] = el("div", { className: "chart mini", role: "img", "aria-label": T.histogram, "data-spec": JSON.stringify(histogram(values)) });
      }
      box.appendChild(histograms[key]);
    }
  }

  function histogram(values) {
    return {
      "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
      data: { values: values.values.filter(function (v) { return v.count !== null; }).map(function (v) { return { value: String(v.value), count: v.count }; }) },
      width: 260, height: 60,
      mark: { type: "bar", color: "#4c78a8" },
      encoding: {
        x: { field: "value", type: "nominal", sort: null, title: null, axis: { labelAngle: -45, labelFontSize: 9 } },
        y: { field: "count", type: "quantitative", title: null, axis: { format: "~s", labelFontSize: 9 } },
        tooltip: [{ field: "value", type: "nominal" }, { field: "count", type: "quantitative", format: "," }]
      },
      config: { view: { stroke: null } }
    };
  }

  function drawCharts() { if (window.portraitDrawCharts) window.portraitDrawCharts(root); }

  function defaultValue(op) {
    if (/^is /.test(op)) return null;
    if (op === "between") return ["", ""];
    if (["in", "not in", "contains any", "contains all"].indexOf(op) >= 0) return [];
    return "";
  }

  function loadValues(tag) {
    if (valuesCache[tag] === "loading") return;
    valuesCache[tag] = "loading";
    fetch("/builder/values/" + encodeURIComponent(tag), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { valuesCache[tag] = data.values ? data : { values: [], truncated: true }; render(); paintLast(); });
  }
  var lastParts = null;
  function paintLast() { schedule(); }

  function drawBehaviour(n, box) {
    var d = n.data;
    if (!d.window) d.window = { last: 30, start: null, end: null };
    box.appendChild(select(T.event, [["", T.any_event]].concat(vocab.events.map(function (e) { return [e, e]; })), d.event || "", function (v) { d.event = v || null; schedule(); }, { "data-role": "event" }));
    box.appendChild(select(T.line, [["", T.any_line]].concat(vocab.business_lines.map(function (e) { return [e, e]; })), d.business_line || "", function (v) { d.business_line = v || null; schedule(); }));
    box.appendChild(select(T.measure, [["count", T.count], ["sum", T.sum], ["active_days", T.active_days]], d.measure, function (v) {
      d.measure = v; if (v !== "sum") d.of = null; render(); schedule();
    }));
    if (d.measure === "sum") {
      box.appendChild(select(T.property, [["", T.choose]].concat(vocab.properties.map(function (p) { return [p, p]; })), d.of || "", function (v) { d.of = v || null; schedule(); }));
    }
    box.appendChild(el("span", { text: T.last_days }));
    box.appendChild(input(T.last_days, d.window.last, function (v) { var k = parseInt(v, 10); d.window = { last: isNaN(k) ? 1 : Math.max(1, k), start: null, end: null }; schedule(); }, "number"));
    box.appendChild(select(T.operator, [">=", ">", "<=", "<", "=", "!=", "between"].map(function (o) { return [o, o]; }), d.op, function (v) {
      d.op = v; d.value = v === "between" ? [1, 10] : (Array.isArray(d.value) ? d.value[0] : d.value); render(); schedule();
    }));
    if (d.op === "between") {
      box.appendChild(input(T.from, d.value[0], function (v) { d.value[0] = Number(v); schedule(); }, "number"));
      box.appendChild(input(T.to, d.value[1], function (v) { d.value[1] = Number(v); schedule(); }, "number"));
    } else {
      box.appendChild(input(T.value, d.value, function (v) { d.value = v === "" ? "" : Number(v); schedule(); }, "number"));
    }
    var filters = el("div", { className: "row" });
    Object.keys(d.where || {}).forEach(function (key) {
      filters.appendChild(el("span", { className: "muted", text: T.where + " " + key + " =" }));
      filters.appendChild(input(key, d.where[key], function (v) { d.where[key] = v; schedule(); }));
      filters.appendChild(button("×", function () { delete d.where[key]; render(); schedule(); }));
    });
    if (vocab.properties.length) {
      var pick = select(T.property, [["", T.add_filter]].concat(vocab.properties.map(function (p) { return [p, p]; })), "", function (v) {
        if (v) { d.where = Object.assign({}, d.where || {}); d.where[v] = ""; render(); }
      });
      filters.appendChild(pick);
    }
    box.appendChild(filters);
  }

  function drawSegment(n, box) {
    box.appendChild(el("span", { text: T.segment }));
    box.appendChild(select(T.segment, vocab.segments.map(function (s) { return [s, s]; }), n.data.name, function (v) { n.data.name = v; schedule(); }));
  }
  function drawIds(n, box) {
    box.appendChild(el("span", { text: T.ids }));
    box.appendChild(select(T.ids, vocab.id_lists.map(function (s) { return [s, s]; }), n.data.name, function (v) { n.data.name = v; schedule(); }));
  }
  function drawCampaign(n, box) {
    box.appendChild(el("span", { text: T.campaign }));
    var names = vocab.campaigns.indexOf(n.data.name) < 0 ? vocab.campaigns.concat([n.data.name]) : vocab.campaigns;
    box.appendChild(select(T.campaign, names.map(function (s) { return [s, s]; }), n.data.name, function (v) { n.data.name = v; schedule(); }));
    box.appendChild(select(T.outcome, vocab.outcomes.map(function (s) { return [s, s]; }), n.data.outcome, function (v) { n.data.outcome = v; schedule(); }));
  }
  function drawRaw(n, box) {
    // a comparison of tags (tag vs tag, arithmetic): shown as text, edited in the rule text
    box.appendChild(el("code", { text: n.kind + ": " + JSON.stringify(n.data) }));
  }

  // -- ID-list upload ----------------------------------------------------------------------------
  var idsForm = document.getElementById("ids-form");
  if (idsForm) {
    idsForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var out = document.getElementById("ids-result");
      out.textContent = T.counting;
      fetch("/builder/ids", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf, Accept: "application/json" }, body: new FormData(idsForm) })
        .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
        .then(function (answer) {
          out.textContent = "";
          if (!answer.ok) { showProblem(out, answer.data.problem); return; }
          var r = answer.data.report;
          var box = el("div", { className: "notice", role: "status", "data-testid": "ids-report" });
          box.textContent = answer.data.name + ": " + r.rows + " rows, " + r.matched + " matched, " + r.unmatched + " unmatched, " + r.duplicates + " duplicates";
          out.appendChild(box);
          if (vocab.id_lists.indexOf(answer.data.name) < 0) vocab.id_lists.push(answer.data.name);
          add(tree, leaf("ids", { kind: "ids", name: answer.data.name }));
        });
    });
  }

  document.getElementById("apply-text").addEventListener("click", applyText);
  textBox.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); applyText(); }
  });

  tree = fromJson(initial && initial.rule ? initial.rule : null);
  render();
  schedule();
  window.portraitBuilder = { tree: function () { return toJson(tree, ""); }, text: function () { return currentText; } };
})();
