// vscope report charts: window.vscopeReport.render(result, opts) draws a
// diagnosis (the JSON of `vscope diagnose --format json`) into the page's
// chart elements with Apache ECharts:
//   #chart-flow     the flow graph, components coloured by score
//   #chart-contrib  the ranked metrics' scores next to their robust |z|
//   #chart-score    the anomaly score of every point, episodes shaded
//   #chart-series   one small chart per top metric, baseline then window
// Elements that are absent are skipped, so a page can hold any of them.
// When ECharts is missing, each element says so instead of staying empty.
(function () {
  'use strict';

  var COLORS = { cause: '#c62828', symptom: '#ef8a00', unrelated: '#8a94a6' };
  var WINDOW_BLUE = '#1f6feb';
  var TOP_SERIES = 10; // small charts of top metrics
  var MAX_GRAPH = 90; // components drawn before the graph is narrowed
  var MAX_BARS = 25; // ranked metrics in the contributions chart

  function ms(t) { return typeof t === 'number' ? t : Date.parse(t); }

  // fmt: a number for axes and labels, 3 significant digits, k/M/G.
  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) { return '–'; }
    var a = Math.abs(v);
    if (a === 0) { return '0'; }
    if (a >= 1e9) { return (v / 1e9).toPrecision(3) + 'G'; }
    if (a >= 1e6) { return (v / 1e6).toPrecision(3) + 'M'; }
    if (a >= 1e4) { return (v / 1e3).toPrecision(3) + 'k'; }
    if (a >= 100) { return v.toFixed(0); }
    if (a >= 0.01) { return String(+v.toPrecision(3)); }
    return v.toExponential(1);
  }

  function clock(t) {
    var d = new Date(ms(t));
    function two(n) { return (n < 10 ? '0' : '') + n; }
    return two(d.getUTCHours()) + ':' + two(d.getUTCMinutes()) + ':' + two(d.getUTCSeconds()) + 'Z';
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function compName(c) {
    return c.agent ? c.host + '/' + c.agent + '/' + c.component : c.host + '/' + c.component;
  }

  function metricLabel(m) {
    return (m.agent ? m.agent + '/' : '') + m.component + ' ' + m.metric;
  }

  // isFlow: a source, channel or sink of an agent (not a host-wide group,
  // not the agent process or its runtime).
  function isFlow(c) { return !!c.agent && c.kind !== 'process' && c.kind !== 'runtime'; }

  function missing(el, reason) {
    el.classList.add('vs-chart-missing');
    el.textContent = reason;
  }

  var charts = [];

  function init(el) {
    var c = echarts.init(el, null, { renderer: 'canvas' });
    charts.push(c);
    return c;
  }

  var base = {
    animation: false,
    textStyle: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif' }
  };

  function opt(o) {
    for (var k in base) { if (!(k in o)) { o[k] = base[k]; } }
    return o;
  }

  // ---- anomaly score ---------------------------------------------------
  function scoreChart(el, r) {
    var tr = r.traces || {};
    var times = tr.times || [], s = tr.row_score || [];
    if (!times.length) { missing(el, 'No time points in the window.'); return; }
    var data = [], top = 2, low = 0.5;
    for (var i = 0; i < times.length; i++) {
      var v = s[i];
      if (v !== null && isFinite(v)) { top = Math.max(top, v); low = Math.min(low, Math.max(v, 0.01)); }
      data.push([ms(times[i]), v]);
    }
    // Far over the limit, a log axis keeps both the limit and the peaks.
    var log = top > 20;
    if (log) {
      data.forEach(function (d) { if (d[1] !== null) { d[1] = Math.max(d[1], 0.01); } });
    }
    var areas = (r.episodes || []).map(function (e) {
      return [{ xAxis: ms(e.from), name: 'episode' }, { xAxis: ms(e.to) + 1 }];
    });
    init(el).setOption(opt({
      grid: { left: 50, right: 20, top: 14, bottom: 28 },
      tooltip: { trigger: 'axis', valueFormatter: fmt },
      xAxis: { type: 'time' },
      yAxis: { type: log ? 'log' : 'value', min: log ? Math.pow(10, Math.floor(Math.log10(low))) : 0,
        max: log ? undefined : Math.ceil(top), name: '× limit', nameGap: 6,
        nameTextStyle: { align: 'left' }, axisLabel: { formatter: fmt } },
      series: [{
        name: 'anomaly score', type: 'line', data: data, showSymbol: false, sampling: 'lttb',
        lineStyle: { width: 1.2, color: '#2b3a55' }, itemStyle: { color: '#2b3a55' },
        markLine: { silent: true, symbol: 'none', lineStyle: { color: COLORS.cause, type: 'dashed' },
          label: { formatter: 'limit', position: 'insideEndTop', color: COLORS.cause }, data: [{ yAxis: 1 }] },
        markArea: { silent: true, itemStyle: { color: 'rgba(198,40,40,0.13)' }, data: areas }
      }]
    }));
  }

  // ---- contributions ---------------------------------------------------
  function contribChart(el, r) {
    var all = r.ranking || [];
    if (!all.length) { missing(el, 'Nothing was ranked.'); return; }
    var rk = all.slice(0, MAX_BARS);
    var cats = [], fused = [], uni = [];
    var lo = Infinity, hi = 0;
    rk.forEach(function (m) {
      cats.push(m.rank + '. ' + metricLabel(m));
      var f = m.score || 0, z = Math.abs(m.z || 0);
      lo = Math.min(lo, Math.max(f, 1)); hi = Math.max(hi, f, z);
      fused.push({ value: f, itemStyle: { color: COLORS[m.role] || COLORS.unrelated }, m: m });
      uni.push({ value: z, m: m });
    });
    var log = hi / lo > 30;
    if (log) { // a log axis starts at 1: smaller values (no signal) show as nothing
      fused.forEach(function (d) { d.value = Math.max(d.value, 1); });
      uni.forEach(function (d) { d.value = Math.max(d.value, 1); });
    }
    el.style.height = Math.max(el.clientHeight, rk.length * 22 + 70) + 'px';
    init(el).setOption(opt({
      grid: { left: 250, right: 26, top: 30, bottom: rk.length < all.length ? 44 : 24 },
      legend: { top: 0, data: ['score (PCA + univariate)', 'robust |z| alone'] },
      title: rk.length < all.length ? { text: 'the top ' + rk.length + ' of ' + all.length + ' ranked metrics', left: 'right', bottom: 0,
        textStyle: { fontSize: 11, color: '#5d6678', fontWeight: 'normal' } } : undefined,
      tooltip: {
        trigger: 'axis', axisPointer: { type: 'shadow' },
        formatter: function (ps) {
          var m = ps[0].data.m;
          return '<b>' + esc(m.rank + '. ' + m.metric) + '</b><br>' + esc(m.host + ' ' + (m.agent ? m.agent + '/' : '') + m.component) +
            ' · ' + esc(m.role) + '<br>score ' + fmt(m.score) + ' · robust z ' + fmt(m.z) +
            '<br>' + esc(fmt(m.baseline)) + ' → ' + esc(fmt(m.peak)) + (m.onset ? ' from ' + clock(m.onset) : '') +
            '<br><span style="color:#667">' + esc(m.evidence) + '</span>';
        }
      },
      xAxis: { type: log ? 'log' : 'value', min: log ? 1 : 0,
        axisLabel: { formatter: fmt }, splitLine: { lineStyle: { color: '#eef1f5' } } },
      yAxis: { type: 'category', data: cats, inverse: true,
        axisLabel: { fontSize: 11, width: 240, overflow: 'truncate' } },
      series: [
        { name: 'score (PCA + univariate)', type: 'bar', data: fused, barGap: '10%', barCategoryGap: '28%',
          itemStyle: { color: COLORS.cause } },
        { name: 'robust |z| alone', type: 'bar', data: uni, itemStyle: { color: '#9db8e0' } }
      ]
    }));
  }

  // ---- flow graph ------------------------------------------------------
  function flowChart(el, r) {
    var comps = r.components || [];
    if (!comps.length) { missing(el, 'No components.'); return; }
    var edges = (r.topology && r.topology.flow) || [];
    var byName = {}, all = [];
    comps.forEach(function (c) { var n = compName(c); byName[n] = c; all.push(n); });
    var adj = {};
    edges.forEach(function (e) {
      (adj[e.from] = adj[e.from] || []).push(e.to);
      (adj[e.to] = adj[e.to] || []).push(e.from);
    });
    // Narrow a large graph to the agents and hosts with anomalous
    // components and their flow neighbours.
    var keep = {}, note = '';
    if (all.length > MAX_GRAPH) {
      var agentsKept = {}, hostsKept = {};
      comps.forEach(function (c) {
        if (c.role === 'unrelated') { return; }
        var n = compName(c);
        agentsKept[c.host + '/' + c.agent] = true; hostsKept[c.host] = true;
        (adj[n] || []).forEach(function (o) {
          var d = byName[o]; if (d) { agentsKept[d.host + '/' + d.agent] = true; }
        });
      });
      comps.forEach(function (c) {
        if (c.role !== 'unrelated' || (isFlow(c) && agentsKept[c.host + '/' + c.agent]) ||
          (!isFlow(c) && hostsKept[c.host] && c.agent && agentsKept[c.host + '/' + c.agent])) {
          keep[compName(c)] = true;
        }
      });
      var k = Object.keys(keep).length;
      if (k > 2 * MAX_GRAPH) { // still too many: the anomalous ones alone
        keep = {};
        comps.forEach(function (c) { if (c.role !== 'unrelated') { keep[compName(c)] = true; } });
        k = Object.keys(keep).length;
      }
      note = k + ' of ' + all.length + ' components shown: the anomalous ones and the agents along their flows';
    } else {
      all.forEach(function (n) { keep[n] = true; });
    }
    // Depth along the flow: the longest path from a component nothing
    // feeds (bounded, so a cycle cannot loop).
    var out = {}, indeg = {};
    edges.forEach(function (e) {
      if (!keep[e.from] || !keep[e.to]) { return; }
      (out[e.from] = out[e.from] || []).push(e.to);
      indeg[e.to] = (indeg[e.to] || 0) + 1;
    });
    var depth = {};
    var names = Object.keys(keep);
    names.forEach(function (n) { if (!indeg[n]) { depth[n] = 0; } });
    for (var pass = 0; pass < 12; pass++) {
      var changed = false;
      names.forEach(function (n) {
        if (depth[n] === undefined) { return; }
        (out[n] || []).forEach(function (m) {
          if (depth[m] === undefined || depth[m] < depth[n] + 1) { depth[m] = depth[n] + 1; changed = true; }
        });
      });
      if (!changed) { break; }
    }
    // Bands: one per agent, grouped by the depth the agent starts at (its
    // tier), each tier's bands stacked and centred; host-wide groups and the
    // agent process sit in a row under their host's first band.
    var bands = {}, bandList = [];
    names.forEach(function (n) {
      var c = byName[n];
      if (!isFlow(c)) { return; }
      var key = c.host + '/' + c.agent;
      if (!bands[key]) { bands[key] = { key: key, host: c.host, agent: c.agent, nodes: [], start: Infinity }; bandList.push(bands[key]); }
      bands[key].nodes.push(n);
      bands[key].start = Math.min(bands[key].start, depth[n] || 0);
    });
    // Host-wide groups (cpu, memory, disks) and the agent process, by host.
    var hostNodes = {}, hostList = [];
    names.forEach(function (n) {
      var c = byName[n];
      if (isFlow(c)) { return; }
      if (!hostNodes[c.host]) { hostNodes[c.host] = []; hostList.push(c.host); }
      hostNodes[c.host].push(n);
    });
    var tiers = {};
    bandList.forEach(function (b) { (tiers[b.start] = tiers[b.start] || []).push(b); });
    var tierKeys = Object.keys(tiers).map(Number).sort(function (a, b) { return a - b; });
    tierKeys.forEach(function (t) {
      tiers[t].sort(function (a, b) { return a.key < b.key ? -1 : a.key > b.key ? 1 : 0; });
    });
    var X = 150, nodes = [], links = [];
    var roleBorder = { cause: COLORS.cause, symptom: COLORS.symptom };
    // The colour scale spans the anomalous components' scores (a component
    // within its normal range can score high on a noisy metric; it is drawn
    // faded, clipped to the top colour).
    var maxScore = 1, anyAnomalous = false;
    names.forEach(function (n) { if (byName[n].role !== 'unrelated') { anyAnomalous = true; } });
    names.forEach(function (n) {
      if (!anyAnomalous || byName[n].role !== 'unrelated') { maxScore = Math.max(maxScore, byName[n].score || 0); }
    });
    function node(n, x, y, small) {
      var c = byName[n];
      var border = roleBorder[c.role];
      var big = c.role === 'cause', calm = c.role === 'unrelated';
      nodes.push({
        name: n, x: x, y: y, value: Math.log10(1 + (c.score || 0)),
        symbolSize: small ? 12 : big ? 34 : 24,
        symbol: small ? 'roundRect' : 'circle',
        c: c,
        itemStyle: { borderColor: border || '#ffffff', borderWidth: big ? 5 : border ? 3 : 1, opacity: calm ? 0.45 : 1 },
        label: {
          show: true, position: small ? 'right' : 'bottom', distance: 4, fontSize: small ? 10 : 12,
          fontWeight: big ? 'bold' : 'normal', color: big ? COLORS.cause : calm ? '#7a8394' : '#1d2330',
          formatter: big && !small ? c.component + ' · CAUSE' : c.component
        }
      });
    }
    function caption(key, text, x, y, pos) {
      nodes.push({
        name: 'label:' + key, x: x, y: y, symbolSize: 0, value: 0, c: null,
        label: { show: true, position: pos, fontSize: 11, color: '#5d6678', formatter: text },
        tooltip: { show: false }
      });
    }
    // Each host's groups go in rows under the first band of that host (a
    // band of their own for a host without agents).
    var minStart = tierKeys.length ? tierKeys[0] : 0;
    var bandOfHost = {};
    tierKeys.forEach(function (t) {
      tiers[t].forEach(function (b) { if (!bandOfHost[b.host]) { bandOfHost[b.host] = b; } });
    });
    hostList.sort().forEach(function (h) {
      var b = bandOfHost[h];
      if (!b) {
        b = bandOfHost[h] = { key: h + '/', host: h, agent: '', nodes: [], start: minStart };
        if (!tiers[minStart]) { tiers[minStart] = []; tierKeys.push(minStart); tierKeys.sort(function (x, y) { return x - y; }); }
        tiers[minStart].push(b);
      }
      b.hostNodes = hostNodes[h].sort();
    });
    var PER_ROW = 4, GX = 66, GY = 28, STACK = 40;
    function stackOf(b) {
      var at = {}, most = 0;
      b.nodes.forEach(function (n) { var d = depth[n] || 0; at[d] = (at[d] || 0) + 1; most = Math.max(most, at[d]); });
      return most;
    }
    function heightOf(b) {
      var st = stackOf(b), rows = b.hostNodes ? Math.ceil(b.hostNodes.length / PER_ROW) : 0;
      return 30 + (st ? 46 + (st - 1) * STACK : 0) + rows * GY + 14;
    }
    tierKeys.forEach(function (t) {
      var list = tiers[t];
      var total = list.reduce(function (sum, b) { return sum + heightOf(b); }, 0);
      var y = -total / 2;
      list.forEach(function (b) {
        var top = y + 30, st = stackOf(b);
        caption(b.key, b.agent ? b.agent + ' @ ' + b.host : 'host ' + b.host, b.start * X - 12, top - 22, 'right');
        // the band's flow components by depth, several at one depth stacked
        var at = {};
        b.nodes.sort().forEach(function (n) {
          var d = depth[n] || 0;
          var k = at[d] = (at[d] || 0) + 1;
          node(n, d * X, top + (k - 1) * STACK);
        });
        var gy = top + (st ? 46 + (st - 1) * STACK : 0);
        (b.hostNodes || []).forEach(function (n, k) {
          node(n, b.start * X - 6 + (k % PER_ROW) * GX, gy + Math.floor(k / PER_ROW) * GY, true);
        });
        y += heightOf(b);
      });
    });
    // A host-wide group that left its normal range is joined (dashed) to
    // the anomalous components on its host: the vertical relation.
    names.forEach(function (n) {
      var c = byName[n];
      if (isFlow(c) || c.role === 'unrelated') { return; }
      names.forEach(function (m) {
        var d = byName[m];
        if (isFlow(d) && d.host === c.host && d.role !== 'unrelated') {
          links.push({ source: n, target: m, symbol: ['none', 'none'],
            lineStyle: { color: '#c9763a', type: 'dashed', width: 1.2, curveness: 0.15 } });
        }
      });
    });
    edges.forEach(function (e) {
      if (!keep[e.from] || !keep[e.to]) { return; }
      var a = byName[e.from], b = byName[e.to];
      var cross = a.host !== b.host || a.agent !== b.agent;
      var hot = a.role !== 'unrelated' && b.role !== 'unrelated';
      links.push({ source: e.from, target: e.to,
        lineStyle: { color: hot ? '#c9763a' : '#a6b0bf', width: hot ? 2.2 : 1.3, curveness: cross ? 0.08 : 0 } });
    });
    // Size the element to the layout, so that the graph is drawn at one
    // scale in x and y (preserveAspect) and neither squashed nor tiny.
    var xs = nodes.map(function (d) { return d.x; }), ys = nodes.map(function (d) { return d.y; });
    var spanX = Math.max.apply(null, xs) - Math.min.apply(null, xs) + 1;
    var spanY = Math.max.apply(null, ys) - Math.min.apply(null, ys) + 1;
    var innerW = Math.max(el.clientWidth - 150, 200);
    var scale = Math.min(innerW / spanX, 1.25);
    el.style.height = Math.round(Math.min(Math.max(spanY * scale + 90 + (note ? 20 : 0), 260), 1800)) + 'px';
    var g = init(el);
    g.setOption(opt({
      title: note ? { text: note, left: 'center', bottom: 0, textStyle: { fontSize: 11, color: '#5d6678', fontWeight: 'normal' } } : undefined,
      tooltip: {
        formatter: function (p) {
          if (p.dataType === 'edge') { return esc(p.data.source + ' → ' + p.data.target); }
          var c = p.data.c;
          if (!c) { return ''; }
          return '<b>' + esc(compName(c)) + '</b> (' + esc(c.kind) + ')<br>' + esc(c.role) + ' · score ' + fmt(c.score) +
            (c.onset ? ' · onset ' + clock(c.onset) : '') + (c.top ? '<br>top metric: ' + esc(c.top) : '') +
            (c.why ? '<br><span style="display:inline-block;max-width:420px;white-space:normal;color:#445">' + esc(c.why) + '</span>' : '');
        }
      },
      visualMap: {
        type: 'continuous', min: 0, max: Math.max(1.5, Math.log10(1 + maxScore)), seriesIndex: 0,
        calculable: false, orient: 'horizontal', left: 'right', top: 0, itemWidth: 10, itemHeight: 120,
        text: ['score ' + fmt(maxScore), '0'], textStyle: { fontSize: 11, color: '#5d6678' },
        inRange: { color: ['#c9d1dc', '#f3d36b', '#f08a3c', '#c62828'] }
      },
      series: [{
        type: 'graph', layout: 'none', roam: true, data: nodes, links: links,
        edgeSymbol: ['none', 'arrow'], edgeSymbolSize: [0, 8],
        left: 110, right: 40, top: 44, bottom: note ? 48 : 30, preserveAspect: 'contain',
        emphasis: { focus: 'adjacency', lineStyle: { width: 3 } },
        labelLayout: { hideOverlap: false }
      }]
    }));
  }

  // ---- the top metrics over baseline and window --------------------------
  function seriesCharts(el, r) {
    var tr = r.traces || {};
    var mts = tr.metrics || [], rk = r.ranking || [];
    if (!mts.length) { missing(el, 'Nothing was ranked.'); return; }
    var times = (tr.times || []).map(ms), before = (tr.before_times || []).map(ms);
    var wFrom = ms(r.window.from), wTo = ms(r.window.to);
    var episodes = (r.episodes || []).map(function (e) {
      return [{ xAxis: ms(e.from) }, { xAxis: ms(e.to) + 1 }];
    });
    var group = 'vscope-series';
    mts.slice(0, TOP_SERIES).forEach(function (mt) {
      var m = rk[mt.rank - 1];
      if (!m) { return; }
      var div = document.createElement('div');
      div.className = 'vs-series-chart';
      div.setAttribute('data-rank', String(mt.rank));
      el.appendChild(div);
      var bdata = [], wdata = [];
      (mt.before || []).forEach(function (v, i) { if (i < before.length) { bdata.push([before[i], v]); } });
      (mt.values || []).forEach(function (v, i) { if (i < times.length) { wdata.push([times[i], v]); } });
      var color = COLORS[m.role] || COLORS.unrelated;
      var marks = [{ yAxis: mt.baseline, name: 'baseline median', lineStyle: { color: '#6b7280', type: 'dashed' },
        label: { formatter: 'median ' + fmt(mt.baseline), position: 'insideStartTop', color: '#6b7280', fontSize: 10 } }];
      if (m.onset) {
        marks.push({ xAxis: ms(m.onset), name: 'onset', lineStyle: { color: COLORS.cause, type: 'solid', width: 1.5 },
          label: { formatter: 'onset ' + clock(m.onset), position: 'insideEndTop', color: COLORS.cause, fontSize: 10 } });
      }
      var c = init(div);
      c.group = group;
      c.setOption(opt({
        title: {
          text: m.rank + '. ' + m.metric, left: 8, top: 4,
          textStyle: { fontSize: 13, fontWeight: 600, color: '#1d2330' },
          subtext: (m.agent ? m.host + '/' + m.agent + '/' : m.host + '/') + m.component + ' · ' + m.role + ' · score ' + fmt(m.score),
          subtextStyle: { fontSize: 11, color: m.role === 'unrelated' ? '#5d6678' : color }, itemGap: 2
        },
        grid: { left: 52, right: 14, top: 50, bottom: 26 },
        tooltip: { trigger: 'axis', valueFormatter: fmt },
        xAxis: { type: 'time', min: before.length ? before[0] : wFrom, max: wTo,
          axisLabel: { fontSize: 10, hideOverlap: true } },
        yAxis: { type: 'value', scale: true, axisLabel: { formatter: fmt, fontSize: 10 },
          splitLine: { lineStyle: { color: '#eef1f5' } } },
        series: [
          { name: 'baseline', type: 'line', data: bdata, showSymbol: false, sampling: 'lttb',
            lineStyle: { width: 1, color: '#9aa3b2' }, itemStyle: { color: '#9aa3b2' },
            markArea: { silent: true, itemStyle: { color: 'rgba(31,111,235,0.06)' },
              label: { show: true, position: 'insideTopRight', color: WINDOW_BLUE, fontSize: 10 },
              data: [[{ xAxis: wFrom, name: 'window' }, { xAxis: wTo }]] } },
          { name: 'window', type: 'line', data: wdata, showSymbol: false, sampling: 'lttb',
            lineStyle: { width: 1.4, color: WINDOW_BLUE }, itemStyle: { color: WINDOW_BLUE },
            markArea: { silent: true, itemStyle: { color: 'rgba(198,40,40,0.12)' }, data: episodes },
            markLine: { silent: true, symbol: 'none', data: marks } }
        ]
      }));
    });
    echarts.connect(group);
  }

  function render(r, opts) {
    opts = opts || {};
    var els = {
      flow: document.getElementById('chart-flow'),
      contrib: document.getElementById('chart-contrib'),
      score: document.getElementById('chart-score'),
      series: document.getElementById('chart-series')
    };
    var reason = opts.noCharts || (typeof echarts === 'undefined' ?
      'charts need Apache ECharts, which is not in this page: run `make assets` and write the report again' : '');
    Object.keys(els).forEach(function (k) {
      var el = els[k];
      if (!el) { return; }
      if (reason) { missing(el, 'No chart: ' + reason); return; }
      try {
        ({ flow: flowChart, contrib: contribChart, score: scoreChart, series: seriesCharts })[k](el, r);
      } catch (e) {
        missing(el, 'This chart failed: ' + e);
        if (window.console) { console.error('vscope report: ' + k + ': ' + (e && e.stack || e)); }
      }
    });
    window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });
    api.rendered = reason ? 0 : charts.length;
    document.body.setAttribute('data-charts', String(api.rendered));
    return api.rendered;
  }

  function dispose() {
    charts.forEach(function (c) { c.dispose(); });
    charts.length = 0;
  }

  var api = { render: render, dispose: dispose, fmt: fmt, clock: clock, rendered: -1 };
  window.vscopeReport = api;
})();
