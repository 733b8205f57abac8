/* Small SVG charts drawn from JSON islands (no library, no build step).
 *
 *   <figure class="chart" data-chart="line|histogram|bars" data-source="ID" ...>
 *   <script type="application/json" id="ID">...</script>   (Django's json_script)
 *
 * line:      {"yLabel": "AUC", "xLabel": "version", "series": [{"name": "churn", "points": [{"x": 1, "y": 0.8}]}]}
 *            ("xPrefix": "" for a count on the x axis; the default labels versions v1, v2, ...)
 * histogram: {"series": [{"label": "v1", "counts": [..], "edges": [..]}]}
 * bars:      {"rows": [{"label": "Ready", "value": 3, "href": "/models/?state=ready", "color": "green"}], "unit": "%"}
 * scatter:   {"xLabel": "champion score", "yLabel": "shadow score", "points": [{"x": 0.2, "y": 0.3, "label": "offer"}]}
 * bands:     {"yLabel": "success rate", "series": [{"name": "Champion", "points": [{"x": ms, "y": .2, "lo": .1, "hi": .3, "n": 40}]}]}
 * curve:     {"xLabel": "false positive rate", "yLabel": "true positive rate", "diagonal": true,
 *             "series": [{"name": "v3", "points": [{"x": 0.1, "y": 0.6}]}]}   (both axes 0 to 1: ROC, PR, calibration)
 *
 * After drawing, the figure carries data-points (how many data points were drawn) and each mark carries its
 * value (data-x, data-y / data-value), so tests read what is on screen rather than trusting that an svg exists.
 */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#1f5fbf", "#b45309", "#1a7f37", "#7c3aed", "#b42318", "#0e7490"];
  var DASHES = ["", "6 3", "2 3", "8 3 2 3", "1 2", "10 4"];
  var MARKERS = ["circle", "square", "diamond", "circle", "square", "diamond"];
  var COLORS = {green: "#1a7f37", blue: "#1f5fbf", red: "#b42318", grey: "#626b78", dark: "#374151", amber: "#8a5a00"};

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }
  function title(node, text) { el("title", {}, node).textContent = text; return node; }
  function fmt(v) { return Math.abs(v) >= 100 ? String(Math.round(v)) : (+v).toFixed(Math.abs(v) < 1 ? 3 : 2).replace(/\.?0+$/, ""); }
  function ticks(lo, hi, n) {
    if (hi === lo) { hi = lo + 1; }
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
    [1, 2, 2.5, 5, 10].some(function (m) { if ((hi - lo) / (step * m) <= n) { step *= m; return true; } return false; });
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step / 1e6; t += step) out.push(+t.toFixed(10));
    return out;
  }
  function svgFor(fig, w, h, label) {
    var old = fig.querySelector("svg.chart-svg");
    if (old) old.remove();
    var svg = el("svg", {"class": "chart-svg", viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": label,
      preserveAspectRatio: "xMidYMid meet"});
    var cap = fig.querySelector("figcaption");
    fig.insertBefore(svg, cap ? cap.nextSibling : fig.firstChild);
    return svg;
  }
  function marker(kind, x, y, color, parent) {
    if (kind === "square") return el("rect", {x: x - 4, y: y - 4, width: 8, height: 8, fill: color}, parent);
    if (kind === "diamond") return el("path", {d: "M" + x + " " + (y - 5) + "l5 5-5 5-5-5z", fill: color}, parent);
    return el("circle", {cx: x, cy: y, r: 4.5, fill: color}, parent);
  }
  function legend(fig, items) {
    var old = fig.querySelector(".chart-legend");
    if (old) old.remove();
    if (items.length < 2 && !fig.hasAttribute("data-legend")) return;
    var ul = document.createElement("ul");
    ul.className = "chart-legend";
    items.forEach(function (it) {
      var li = document.createElement("li");
      var sw = document.createElement("span");
      sw.className = "chart-swatch" + (it.dash ? " is-dashed" : "");
      sw.style.borderColor = it.color; sw.style.background = it.fill ? it.color : "transparent";
      sw.setAttribute("aria-hidden", "true");
      li.appendChild(sw); li.appendChild(document.createTextNode(it.label));
      ul.appendChild(li);
    });
    fig.appendChild(ul);
  }

  function widthOf(fig, fallback) { return Math.max(280, Math.round(fig.clientWidth || fallback)); }
  function axisLabels(svg, data, W, H, L, R, T, B) {
    el("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", "class": "chart-axis-label"}, svg).textContent = data.xLabel || "";
    el("text", {x: 12, y: (T + H - B) / 2, "text-anchor": "middle", "class": "chart-axis-label",
      transform: "rotate(-90 12 " + (T + H - B) / 2 + ")"}, svg).textContent = data.yLabel || "";
  }

  function line(fig, data) {
    var W = widthOf(fig, 560), H = 230, L = 64, R = 16, T = 14, B = 38;
    var series = (data.series || []).filter(function (s) { return s.points && s.points.length; });
    var pts = [].concat.apply([], series.map(function (s) { return s.points; }));
    var px = data.xPrefix != null ? data.xPrefix : "v";
    var svg = svgFor(fig, W, H, (data.yLabel || "value") + " by " + (data.xLabel || "x") + ": " + series.map(function (s) {
      return s.name + " " + s.points.map(function (p) { return px + p.x + " " + fmt(p.y); }).join(", ");
    }).join("; "));
    if (!pts.length) { fig.setAttribute("data-points", "0"); return; }
    var xs = pts.map(function (p) { return p.x; }), ys = pts.map(function (p) { return p.y; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = data.yMin != null ? Math.min(data.yMin, Math.min.apply(null, ys)) : Math.min.apply(null, ys);
    var y1 = data.yMax != null ? Math.max(data.yMax, Math.max.apply(null, ys)) : Math.max.apply(null, ys);
    var pad = (y1 - y0) * 0.08 || 0.05; y0 -= pad; y1 += pad;
    if (data.yMin != null) y0 = Math.max(y0, data.yMin); if (data.yMax != null) y1 = Math.min(y1, data.yMax);
    function sx(x) { return x1 === x0 ? (L + W - R) / 2 : L + 14 + (x - x0) * (W - L - R - 28) / (x1 - x0); }
    function sy(y) { return T + (y1 - y) * (H - T - B) / (y1 - y0); }
    var grid = el("g", {"class": "chart-grid"}, svg);
    ticks(y0, y1, 5).forEach(function (t) {
      el("line", {x1: L, x2: W - R, y1: sy(t), y2: sy(t)}, grid);
      el("text", {x: L - 6, y: sy(t) + 4, "text-anchor": "end"}, grid).textContent = fmt(t);
    });
    var xt = []; for (var x = x0; x <= x1; x++) xt.push(x);
    if (xt.length > 12) xt = ticks(x0, x1, 10).filter(function (t) { return t === Math.round(t); });
    xt.forEach(function (t) { el("text", {x: sx(t), y: H - B + 16, "text-anchor": "middle"}, grid).textContent = px + t; });
    axisLabels(svg, data, W, H, L, R, T, B);
    var drawn = 0;
    series.forEach(function (s, i) {
      var color = PALETTE[i % PALETTE.length];
      var g = el("g", {"class": "chart-series", "data-series": s.name}, svg);
      el("polyline", {points: s.points.map(function (p) { return sx(p.x) + "," + sy(p.y); }).join(" "), fill: "none",
        stroke: color, "stroke-width": 2, "stroke-dasharray": DASHES[i % DASHES.length]}, g);
      s.points.forEach(function (p) {
        var m = marker(MARKERS[i % MARKERS.length], sx(p.x), sy(p.y), color, g);
        m.setAttribute("class", "chart-point"); m.setAttribute("data-x", p.x); m.setAttribute("data-y", p.y);
        title(m, s.name + ", " + (px || (data.xLabel || "x") + " ") + p.x + ": " + fmt(p.y));
        drawn++;
      });
    });
    legend(fig, series.map(function (s, i) { return {label: s.name, color: PALETTE[i % PALETTE.length], dash: !!DASHES[i % DASHES.length]}; }));
    fig.setAttribute("data-points", String(drawn));
  }

  function histogram(fig, data) {
    var W = widthOf(fig, 560), H = 210, L = 46, R = 12, T = 12, B = 40;
    var series = (data.series || []).filter(function (s) { return s.counts && s.counts.length; });
    var svg = svgFor(fig, W, H, "Score histogram, low to high scores: " + series.map(function (s) {
      return s.label + " " + s.counts.join(", ");
    }).join("; "));
    if (!series.length) { fig.setAttribute("data-points", "0"); return; }
    var bins = Math.max.apply(null, series.map(function (s) { return s.counts.length; }));
    var top = Math.max.apply(null, [].concat.apply([1], series.map(function (s) { return s.counts; })));
    function sy(v) { return T + (top - v) * (H - T - B) / top; }
    var grid = el("g", {"class": "chart-grid"}, svg);
    ticks(0, top, 4).forEach(function (t) {
      el("line", {x1: L, x2: W - R, y1: sy(t), y2: sy(t)}, grid);
      el("text", {x: L - 6, y: sy(t) + 4, "text-anchor": "end"}, grid).textContent = fmt(t);
    });
    var slot = (W - L - R) / bins, bw = (slot - 4) / series.length, drawn = 0;
    var edges = series[0].edges || [];
    for (var b = 0; b <= bins; b += Math.max(1, Math.round(bins / 5))) {
      var label = edges.length > b ? fmt(edges[b]) : String(b);
      el("text", {x: L + b * slot, y: H - B + 15, "text-anchor": "middle"}, grid).textContent = label;
    }
    el("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", "class": "chart-axis-label"}, svg).textContent = data.xLabel || "score";
    series.forEach(function (s, i) {
      var color = PALETTE[i % PALETTE.length];
      var g = el("g", {"class": "chart-series", "data-series": s.label}, svg);
      s.counts.forEach(function (c, b) {
        var r = el("rect", {x: L + b * slot + 2 + i * bw, y: sy(c), width: Math.max(1, bw - 1), height: Math.max(0, H - B - sy(c)),
          fill: color, "class": "chart-bar", "data-value": c, "data-bin": b}, g);
        var lo = s.edges && s.edges[b] != null ? fmt(s.edges[b]) : b, hi = s.edges && s.edges[b + 1] != null ? fmt(s.edges[b + 1]) : b + 1;
        title(r, s.label + ": " + c + " scores between " + lo + " and " + hi);
        drawn++;
      });
    });
    legend(fig, series.map(function (s, i) { return {label: s.label, color: PALETTE[i % PALETTE.length], fill: true}; }));
    fig.setAttribute("data-points", String(drawn));
  }

  function bars(fig, data) {
    var rows = data.rows || [];
    var W = widthOf(fig, 360), row = 24, L = data.labelWidth || 90, R = data.unit || rows.some(function (r) { return r.note; }) ? 120 : 40;
    var H = rows.length * row + 6;
    var svg = svgFor(fig, W, H, rows.map(function (r) { return r.label + " " + r.value; }).join(", "));
    var top = Math.max.apply(null, rows.map(function (r) { return r.value; }).concat([1]));
    rows.forEach(function (r, i) {
      var y = 3 + i * row, color = COLORS[r.color] || PALETTE[0];
      var g = el("g", {"class": "chart-row"}, svg);
      el("text", {x: L - 8, y: y + row / 2 + 4, "text-anchor": "end"}, g).textContent = r.label;
      var w = Math.max(r.value ? 3 : 0, (W - L - R) * r.value / top);
      var bar = el("rect", {x: L, y: y + 4, width: w, height: row - 8, rx: 3, fill: color, "class": "chart-bar",
        "data-value": r.value, "data-label": r.label}, g);
      title(bar, r.label + ": " + r.value);
      el("text", {x: L + w + 6, y: y + row / 2 + 4, "class": "chart-value"}, g).textContent =
        String(r.value) + (data.unit || "") + (r.note ? " (" + r.note + ")" : "");
    });
    fig.setAttribute("data-points", String(rows.length));
  }

  /* Two scores of the same thing: one point per pair, the diagonal where they agree. */
  function scatter(fig, data) {
    var W = widthOf(fig, 560), H = Math.min(360, Math.max(240, Math.round(W * 0.55))), L = 52, R = 16, T = 12, B = 40;
    var pts = data.points || [];
    var svg = svgFor(fig, W, H, (data.yLabel || "y") + " against " + (data.xLabel || "x") + ": " + pts.length + " points");
    if (!pts.length) { fig.setAttribute("data-points", "0"); return; }
    var x0 = data.xMin != null ? data.xMin : Math.min.apply(null, pts.map(function (p) { return p.x; }));
    var x1 = data.xMax != null ? data.xMax : Math.max.apply(null, pts.map(function (p) { return p.x; }));
    var y0 = data.yMin != null ? data.yMin : Math.min.apply(null, pts.map(function (p) { return p.y; }));
    var y1 = data.yMax != null ? data.yMax : Math.max.apply(null, pts.map(function (p) { return p.y; }));
    if (x1 === x0) x1 = x0 + 1; if (y1 === y0) y1 = y0 + 1;
    function sx(x) { return L + (x - x0) * (W - L - R) / (x1 - x0); }
    function sy(y) { return T + (y1 - y) * (H - T - B) / (y1 - y0); }
    var grid = el("g", {"class": "chart-grid"}, svg);
    ticks(y0, y1, 5).forEach(function (t) {
      el("line", {x1: L, x2: W - R, y1: sy(t), y2: sy(t)}, grid);
      el("text", {x: L - 6, y: sy(t) + 4, "text-anchor": "end"}, grid).textContent = fmt(t);
    });
    ticks(x0, x1, 5).forEach(function (t) {
      el("text", {x: sx(t), y: H - B + 16, "text-anchor": "middle"}, grid).textContent = fmt(t);
    });
    var lo = Math.max(x0, y0), hi = Math.min(x1, y1);
    if (hi > lo) el("line", {x1: sx(lo), y1: sy(lo), x2: sx(hi), y2: sy(hi), "class": "chart-diagonal"}, svg);
    axisLabels(svg, data, W, H, L, R, T, B);
    var g = el("g", {"class": "chart-series"}, svg);
    pts.forEach(function (p) {
      var m = el("circle", {cx: sx(p.x), cy: sy(p.y), r: 3.5, fill: PALETTE[0], "fill-opacity": 0.45, "class": "chart-point",
        "data-x": p.x, "data-y": p.y}, g);
      title(m, (p.label ? p.label + ": " : "") + (data.xLabel || "x") + " " + fmt(p.x) + ", " + (data.yLabel || "y") + " " + fmt(p.y));
    });
    fig.setAttribute("data-points", String(pts.length));
  }

  /* Rates over time with their confidence band: a shaded band per series, the line, a marker per point. */
  function bands(fig, data) {
    var W = widthOf(fig, 560), H = 260, L = 52, R = 16, T = 12, B = 40;
    var series = (data.series || []).filter(function (s) { return s.points && s.points.length; });
    var pts = [].concat.apply([], series.map(function (s) { return s.points; }));
    function day(ms) { var d = new Date(ms); return d.toLocaleDateString(undefined, {month: "short", day: "numeric"}); }
    function when(ms) { var d = new Date(ms); return day(ms) + " " + d.toLocaleTimeString(undefined, {hour: "2-digit", minute: "2-digit"}); }
    var svg = svgFor(fig, W, H, (data.yLabel || "rate") + " over time: " + series.map(function (s) {
      var last = s.points[s.points.length - 1];
      return s.name + " " + fmt(last.y) + " (" + fmt(last.lo) + " to " + fmt(last.hi) + ") after " + last.n;
    }).join("; "));
    if (!pts.length) { fig.setAttribute("data-points", "0"); return; }
    var x0 = Math.min.apply(null, pts.map(function (p) { return p.x; })), x1 = Math.max.apply(null, pts.map(function (p) { return p.x; }));
    var y0 = Math.min.apply(null, pts.map(function (p) { return p.lo; })), y1 = Math.max.apply(null, pts.map(function (p) { return p.hi; }));
    var pad = (y1 - y0) * 0.08 || 0.05; y0 = Math.max(data.yMin != null ? data.yMin : -Infinity, y0 - pad);
    y1 = Math.min(data.yMax != null ? data.yMax : Infinity, y1 + pad);
    function sx(x) { return x1 === x0 ? (L + W - R) / 2 : L + 10 + (x - x0) * (W - L - R - 20) / (x1 - x0); }
    function sy(y) { return T + (y1 - y) * (H - T - B) / (y1 - y0); }
    var grid = el("g", {"class": "chart-grid"}, svg);
    ticks(y0, y1, 6).forEach(function (t) {
      el("line", {x1: L, x2: W - R, y1: sy(t), y2: sy(t)}, grid);
      el("text", {x: L - 6, y: sy(t) + 4, "text-anchor": "end"}, grid).textContent = fmt(t);
    });
    var spanDays = (x1 - x0) / 864e5, n = Math.min(6, Math.max(2, Math.floor((W - L - R) / 110)));
    for (var i = 0; i <= n; i++) {
      var t = x0 + (x1 - x0) * i / n;
      el("text", {x: sx(t), y: H - B + 16, "text-anchor": "middle"}, grid).textContent = spanDays > 3 ? day(t) : when(t);
      if (x1 === x0) break;
    }
    axisLabels(svg, data, W, H, L, R, T, B);
    var drawn = 0;
    series.forEach(function (s, i) {
      var color = PALETTE[i % PALETTE.length];
      var g = el("g", {"class": "chart-series", "data-series": s.name}, svg);
      var upper = s.points.map(function (p) { return sx(p.x) + "," + sy(p.hi); });
      var lower = s.points.slice().reverse().map(function (p) { return sx(p.x) + "," + sy(p.lo); });
      el("polygon", {points: upper.concat(lower).join(" "), fill: color, "fill-opacity": 0.13, stroke: "none", "class": "chart-band"}, g);
      el("polyline", {points: s.points.map(function (p) { return sx(p.x) + "," + sy(p.y); }).join(" "), fill: "none",
        stroke: color, "stroke-width": 2, "stroke-dasharray": DASHES[i % DASHES.length]}, g);
      s.points.forEach(function (p) {
        var m = marker(MARKERS[i % MARKERS.length], sx(p.x), sy(p.y), color, g);
        m.setAttribute("class", "chart-point"); m.setAttribute("data-x", p.x); m.setAttribute("data-y", p.y);
        m.setAttribute("data-lo", p.lo); m.setAttribute("data-hi", p.hi);
        title(m, s.name + ", " + when(p.x) + ": " + fmt(p.y) + " (95% " + fmt(p.lo) + " to " + fmt(p.hi) + ") after " + p.n + " responses");
        drawn++;
      });
    });
    legend(fig, series.map(function (s, i) { return {label: s.name, color: PALETTE[i % PALETTE.length], dash: !!DASHES[i % DASHES.length]}; }));
    fig.setAttribute("data-points", String(drawn));
  }

  /* Curves on the unit square (ROC, precision-recall, calibration), one line per series; the diagonal on request. */
  function curve(fig, data) {
    var W = widthOf(fig, 420), H = Math.min(340, Math.max(240, Math.round(W * 0.7))), L = 52, R = 16, T = 12, B = 40;
    var series = (data.series || []).filter(function (s) { return s.points && s.points.length; });
    var svg = svgFor(fig, W, H, (data.yLabel || "y") + " against " + (data.xLabel || "x") + ": " + series.map(function (s) {
      return s.name + " " + s.points.length + " points" + (s.note ? " (" + s.note + ")" : "");
    }).join("; "));
    if (!series.length) { fig.setAttribute("data-points", "0"); return; }
    function sx(x) { return L + x * (W - L - R); }
    function sy(y) { return T + (1 - y) * (H - T - B); }
    var grid = el("g", {"class": "chart-grid"}, svg);
    [0, 0.25, 0.5, 0.75, 1].forEach(function (t) {
      el("line", {x1: L, x2: W - R, y1: sy(t), y2: sy(t)}, grid);
      el("text", {x: L - 6, y: sy(t) + 4, "text-anchor": "end"}, grid).textContent = fmt(t);
      el("text", {x: sx(t), y: H - B + 16, "text-anchor": "middle"}, grid).textContent = fmt(t);
    });
    if (data.diagonal) el("line", {x1: sx(0), y1: sy(0), x2: sx(1), y2: sy(1), "class": "chart-diagonal"}, svg);
    axisLabels(svg, data, W, H, L, R, T, B);
    var drawn = 0;
    series.forEach(function (s, i) {
      var color = PALETTE[i % PALETTE.length];
      var g = el("g", {"class": "chart-series", "data-series": s.name}, svg);
      el("polyline", {points: s.points.map(function (p) { return sx(p.x) + "," + sy(p.y); }).join(" "), fill: "none",
        stroke: color, "stroke-width": 2, "stroke-dasharray": DASHES[i % DASHES.length]}, g);
      s.points.forEach(function (p) {
        var m = el("circle", {cx: sx(p.x), cy: sy(p.y), r: 2.5, fill: color, "class": "chart-point", "data-x": p.x, "data-y": p.y}, g);
        title(m, s.name + ": " + (data.xLabel || "x") + " " + fmt(p.x) + ", " + (data.yLabel || "y") + " " + fmt(p.y) +
          (p.label ? " (" + p.label + ")" : ""));
        drawn++;
      });
    });
    legend(fig, series.map(function (s, i) { return {label: s.name, color: PALETTE[i % PALETTE.length], dash: !!DASHES[i % DASHES.length]}; }));
    fig.setAttribute("data-points", String(drawn));
  }

  var KINDS = {curve: curve, line: line, histogram: histogram, bars: bars, scatter: scatter, bands: bands};

  function render(root) {
    (root || document).querySelectorAll("figure[data-chart]").forEach(function (fig) {
      var source = document.getElementById(fig.getAttribute("data-source"));
      var draw = KINDS[fig.getAttribute("data-chart")];
      if (!source || !draw) return;
      try { draw(fig, JSON.parse(source.textContent)); fig.classList.add("is-drawn"); }
      catch (e) { fig.setAttribute("data-error", String(e)); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.addEventListener("htmx:afterSettle", function (evt) { render(evt.target.parentNode || document); });
  var resizing;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { render(document); }, 150);
  });
  window.Charts = {render: render};
})();
