// vscope ui: the live view's page. It reads /api/live every refresh
// (throughput and channel fill per component), shows the latest diagnosis
// (/api/diagnosis, and its full report in a frame from /report), and runs
// one on the chosen window (POST /api/diagnose).
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('vscope-config').textContent);
  var R = window.vscopeReport; // fmt, clock
  var hasCharts = typeof echarts !== 'undefined';
  var COLORS = { cause: '#c62828', symptom: '#ef8a00' };

  function $(id) { return document.getElementById(id); }

  function withToken(path) {
    if (!cfg.token) { return path; }
    return path + (path.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(cfg.token);
  }

  function api(path, opts) {
    opts = opts || {};
    opts.headers = opts.headers || {};
    if (cfg.token) { opts.headers.Authorization = 'Bearer ' + cfg.token; }
    return fetch(path, opts).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (!resp.ok) {
          var e = new Error(body.error || resp.statusText);
          e.status = resp.status;
          throw e;
        }
        return body;
      });
    });
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function missing(id, text) {
    var el = $(id);
    el.classList.add('vs-chart-missing');
    el.textContent = text;
  }

  // duration: milliseconds as Go writes a duration ("3m20s").
  function duration(ms) {
    var s = Math.max(1, Math.round(ms / 1000));
    if (s >= 172800) { return Math.round(s / 86400) + ' days'; }
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + 'h' : '') + (m ? m + 'm' : '') + (r || (!h && !m) ? r + 's' : '');
  }

  function took(ms) { return ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(1) + ' s'; }

  function iso(ms) { return new Date(ms).toISOString().replace('.000Z', 'Z'); }

  // ---- live charts -------------------------------------------------------
  var charts = {};
  function chart(id) {
    if (!charts[id]) {
      charts[id] = echarts.init($(id), null, { renderer: 'canvas' });
      window.addEventListener('resize', function () { charts[id].resize(); });
    }
    return charts[id];
  }

  function lines(times, list, width, dashed, axis) {
    return list.map(function (s) {
      return {
        name: s.name, type: 'line', showSymbol: false, sampling: 'lttb', yAxisIndex: axis || 0,
        lineStyle: { width: width, type: dashed ? 'dashed' : 'solid' },
        data: s.values.map(function (v, i) { return [times[i], v]; })
      };
    });
  }

  function baseOption(unit, max) {
    return {
      animation: false,
      grid: { left: 56, right: 16, top: 40, bottom: 64 },
      legend: { type: 'scroll', bottom: 0, textStyle: { fontSize: 11 } },
      tooltip: { trigger: 'axis', valueFormatter: function (v) { return R.fmt(v) + unit; } },
      xAxis: { type: 'time' },
      yAxis: { type: 'value', max: max, axisLabel: { formatter: R.fmt } }
    };
  }

  var brushReady = false;
  function drawLive(l) {
    var times = l.times || [];
    var tput = baseOption(' /s');
    // The totals are far above any one component: they get the right axis.
    tput.yAxis = [tput.yAxis, { type: 'value', name: 'total', position: 'right', splitLine: { show: false },
      axisLabel: { formatter: R.fmt }, nameTextStyle: { color: '#5d6678' } }];
    tput.grid.right = 56;
    tput.series = lines(times, l.totals || [], 2.2, true, 1).concat(lines(times, l.throughput || [], 1.2, false, 0));
    tput.brush = { xAxisIndex: 0, brushType: 'lineX', brushMode: 'single', transformable: true,
      brushStyle: { color: 'rgba(31,111,235,0.15)', borderColor: '#1f6feb' } };
    tput.toolbox = { show: false };
    var c = chart('chart-throughput');
    c.setOption(tput, { replaceMerge: ['series'] });
    if (!brushReady) {
      brushReady = true;
      c.dispatchAction({ type: 'takeGlobalCursor', key: 'brush', brushOption: { brushType: 'lineX', brushMode: 'single' } });
      c.on('brushEnd', function (e) {
        var a = e.areas && e.areas[0];
        if (!a || !a.coordRange) { return; }
        var t0 = a.coordRange[0], t1 = a.coordRange[1];
        $('f-at').value = iso(t1);
        $('f-window').value = duration(t1 - t0);
        $('diagnose-status').textContent = 'window ' + R.clock(t0) + ' – ' + R.clock(t1) + ' chosen: press Diagnose';
      });
    }
    var fill = baseOption(' %', 100);
    fill.series = lines(times, l.fill || [], 1.4, false);
    chart('chart-fill').setOption(fill, { replaceMerge: ['series'] });
  }

  function drawAgents(l) {
    var rows = (l.agents || []).map(function (a) {
      var f = a.fill === null ? null : a.fill;
      var bar = f === null ? '' : '<span style="display:inline-block;height:8px;width:' + Math.min(100, Math.max(0, f)).toFixed(0) +
        'px;background:' + (f > 80 ? '#c62828' : f > 40 ? '#ef8a00' : '#1f6feb') + ';margin-right:6px;vertical-align:middle"></span>';
      return '<tr><td>' + esc(a.host) + '</td><td>' + esc(a.agent) + '</td><td class="vs-num">' + R.fmt(a.accepted) +
        '</td><td class="vs-num">' + R.fmt(a.drained) + '</td><td>' + bar + (f === null ? '–' : R.fmt(f) + ' %') + '</td></tr>';
    });
    var more = l.agent_count > (l.agents || []).length ? '<p class="vs-muted">' + (l.agents || []).length + ' of ' + l.agent_count + ' agents.</p>' : '';
    $('agents').innerHTML = rows.length ?
      '<table class="vs-table" id="agents-table"><thead><tr><th>Host</th><th>Agent</th><th>Accepted /s</th><th>Drained /s</th><th>Fullest channel</th></tr></thead><tbody>' +
      rows.join('') + '</tbody></table>' + more : '<p class="vs-muted">No agent reported in the span.</p>';
  }

  function refresh() {
    api(withToken('api/live')).then(function (l) {
      var latest = l.latest && l.latest.indexOf('0001-') !== 0 ? Date.parse(l.latest) : null;
      var age = latest ? ' (' + duration(Date.now() - latest) + ' ago)' : '';
      $('live-status').textContent = (latest ? 'newest point ' + iso(latest) + age : 'no points yet') +
        ' · ' + l.series + ' lines · read ' + R.clock(Date.now());
      $('live-status').classList.remove('vs-error');
      if (hasCharts) { drawLive(l); }
      drawAgents(l);
      document.body.setAttribute('data-live', String((l.times || []).length));
    }).catch(function (e) {
      $('live-status').textContent = 'cannot read the store: ' + e.message;
      $('live-status').classList.add('vs-error');
    }).then(function () {
      setTimeout(refresh, cfg.refresh_ms);
    });
  }

  // ---- the latest diagnosis ------------------------------------------------
  var shown = null;
  function compTitle(c) {
    if (c.agent && c.kind !== 'process' && c.kind !== 'runtime') {
      return c.kind + ' ' + c.component + ' of agent ' + c.agent + ' on host ' + c.host;
    }
    return c.agent ? 'the agent process (' + c.component + ') on host ' + c.host : 'host ' + c.host + "'s " + c.component;
  }

  function showDiagnosis(d) {
    if (shown === d.ran_at) { return; }
    shown = d.ran_at;
    var r = d.result, v = $('verdict');
    var cause = (r.components || []).filter(function (c) { return c.role === 'cause'; })[0];
    v.className = 'vs-verdict ' + (r.status === 'anomaly' ? 'vs-cause' : r.status === 'no anomaly' ? 'vs-none' : '');
    v.querySelector('.vs-verdict-label').textContent = (cause ? 'Likely cause' : r.status) +
      ' · window ' + R.clock(r.window.from) + ' – ' + R.clock(r.window.to) + ' · ran ' + R.clock(d.ran_at) +
      ' in ' + took(d.took_ms);
    $('verdict-title').textContent = cause ? compTitle(cause) : r.status === 'no anomaly' ? 'Nothing left its normal range' :
      r.status === 'no data' ? 'Nothing to diagnose' : (r.summary || [])[0] || r.status;
    var m = cause && (r.ranking || []).filter(function (x) {
      return x.host === cause.host && x.agent === cause.agent && x.component === cause.component;
    })[0];
    $('verdict-metric').textContent = m ? m.metric + ': ' + R.fmt(m.baseline) + ' → ' + R.fmt(m.peak) +
      (m.onset ? ' from ' + R.clock(m.onset) : '') + ' (score ' + R.fmt(m.score) + ')' : '';
    $('verdict-metric').style.color = m ? COLORS.cause : '';
    $('verdict-why').textContent = cause ? cause.why : (r.summary || []).join(' ');
    $('report-frame').src = withToken('report?t=' + encodeURIComponent(d.ran_at));
    $('report-link').href = withToken('report');
    $('report-download').href = withToken('report?download=1');
    document.body.setAttribute('data-diagnosis', d.ran_at);
  }

  function pollDiagnosis() {
    api(withToken('api/diagnosis')).then(showDiagnosis).catch(function (e) {
      if (e.status !== 404) { $('diagnose-status').textContent = 'latest diagnosis: ' + e.message; }
    }).then(function () { setTimeout(pollDiagnosis, 3 * cfg.refresh_ms); });
  }

  $('diagnose-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var btn = $('diagnose-button'), status = $('diagnose-status');
    btn.disabled = true;
    status.classList.remove('vs-error');
    status.textContent = 'diagnosing…';
    var body = { at: $('f-at').value.trim(), window: $('f-window').value.trim(),
      baseline: $('f-baseline').value.trim(), filter: $('f-filter').value.trim() };
    api(withToken('api/diagnose'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (d) {
        status.textContent = 'done: ' + d.result.status + ' (' + took(d.took_ms) + ')';
        showDiagnosis(d);
      }).catch(function (e) {
        status.textContent = 'failed: ' + e.message;
        status.classList.add('vs-error');
      }).then(function () { btn.disabled = false; });
  });

  if (!hasCharts) {
    var why = 'No chart: ' + (cfg.no_charts || 'Apache ECharts did not load');
    missing('chart-throughput', why);
    missing('chart-fill', why);
  }
  refresh();
  pollDiagnosis();
})();
