// BoilerWatch auditor console: a small single-page app over /api/ (see
// docs/api.md). Charts are drawn by uPlot (vendor/); this file only prepares
// data and markup. No framework, no build step: it is served as written.
(function () {
  'use strict';

  const I18N = {
    'zh-CN': {
      overview: '总览', boiler: '锅炉', energy: '能源', quality: '数据质量', report: '月报', fleet: '网关群',
      'st.silent': '失联', all_sites: '全部站点', all_states: '全部状态', config_version: '配置版本', applied_ago: '{a}前生效', oldest_unsent: '最早未发 {a}前', last_heard: '最后消息',
      queue: '队列（条 / 字节）', oldest: '最早未发', clock_offset: '时钟偏差', devices: '设备', alerts: '告警', uptime: '运行时长',
      'al.gateway_silent': '失联', 'al.gateway_offline': '离线过久', 'al.queue_backlog': '队列积压', fleet_hint: '状态为在线但超过 {s} 未收到任何消息的网关记为失联。',
      site: '站点', range: '时间范围', period: '周期', month: '月份', apply: '查询', logout: '退出',
      lang: 'English', tz: '时区', csv: '导出 CSV', loading: '加载中…', none: '无数据',
      'p.1h': '最近 1 小时', 'p.24h': '最近 24 小时', 'p.today': '今天', 'p.yesterday': '昨天', 'p.7d': '最近 7 天',
      'p.30d': '最近 30 天', 'p.month': '本月', 'p.lastmonth': '上月', 'p.custom': '自定义',
      'per.15m': '15 分钟', 'per.1d': '日', 'per.1mo': '月',
      gateways: '网关与设备', gateway: '网关', device: '设备', state: '状态', version: '版本', last_sample: '最后采样',
      completeness_today: '今日完整率', class: '类型', boilers: '锅炉', load: '负荷', direct: '正平衡效率',
      indirect: '反平衡效率', limit: '三级限定值', grade: '等级', verdict: '结论', meters_today: '今日计量数据完整率',
      'st.online': '在线', 'st.degraded': '降级', 'st.offline': '离线', 'st.unknown': '未知',
      pass: '达标', fail: '低于限定值', efficiency: '热效率', losses: '热损失（堆叠）', output: '蒸汽产量与给煤量',
      flue: '排烟温度与含氧量', events: '告警', by_type: '各能源种类折标煤', meters: '各计量器具', totals: '合计',
      unit_consumption: '单位产品能耗（kgce/t 蒸汽）', completeness: '每日数据完整率', days: '每日明细', gaps: '数据中断',
      resets: '表计复位', open_report: '打开可打印的月度审计报告', report_hint: '报告按 A4 排版，可直接用浏览器打印或另存为 PDF。',
      window: '聚合窗口', no_site: '尚无站点数据。', choose_boiler: '请选择锅炉。',
      search: '搜索锅炉、网关或站点', page_of: '第 {p} / {n} 页（{b} 台锅炉，{g} 个网关）', prev: '上一页', next: '下一页',
      'note.no_efficiency': '该时段没有效率计算结果（效率引擎尚未写入 boiler_efficiency）。',
      'note.no_raw': '该时段没有原始测量数据。', 'note.no_energy': '该时段没有能耗计算结果。',
      'note.no_quality': '该时段没有数据质量记录。', 'note.gaps_last_48h': '数据中断只检查所选范围的最后 48 小时。',
      'note.rollup': '长时间范围的蒸汽、给煤、排烟温度和含氧量取自效率引擎的周期平均值（含氧量由过量空气系数 α 换算）。',
      'col.kgce_primary': '折标煤（等价值）', 'col.flagged': '低于 90%', 'col.coverage': '覆盖率', ongoing: '持续中',
      'col.time': '时间', 'col.direct': '正平衡', 'col.indirect': '反平衡', 'col.limit': '限定值', 'col.alert': '告警',
      'col.q2': 'q2 排烟', 'col.q3': 'q3 化学不完全', 'col.q4': 'q4 机械不完全', 'col.q5': 'q5 散热', 'col.q6': 'q6 灰渣物理热',
      'col.steam_flow': '蒸汽流量', 'col.coal_feed': '给煤量', 'col.exhaust_temp': '排烟温度', 'col.o2': '含氧量',
      'col.kind': '类别', 'col.message': '内容', 'col.value': '数值', 'col.meter': '计量器具', 'col.energy_type': '能源种类',
      'col.native': '实物量', 'col.unit': '单位', 'col.kgce': '折标煤', 'col.resets': '复位次数', 'col.completeness': '完整率',
      'col.received': '实收', 'col.expected': '应收', 'col.gaps': '中断',
      'col.estimated': '估算占比', 'col.last_known_minutes': '沿用最近焓差', 'col.coefficient_minutes': '按折标系数',
      est_note: '估算占比：折标煤不是由该分钟自身测量值换算的分钟所占比例。蒸汽表计缺压力（或温度）时先沿用 estimate_within 内最近测得的焓差，超出则按 GB/T 2589 折标系数；煤、天然气无有效低位发热量时按折标系数。', 'col.device': '设备', 'col.gateway': '网关',
      'col.start': '开始', 'col.end': '结束', 'col.duration': '时长',
      'et.coal': '煤', 'et.electricity': '电', 'et.steam': '蒸汽', 'et.heat': '热', 'et.natural_gas': '天然气', 'et.water': '水',
      rated_day: '额定负荷效率（{d} 日）', rated_month: '额定负荷效率（{m} 月）', rated_month_partial: '额定负荷效率（{m} 月，截至 {n} 天）', rated_month_partial_1: '额定负荷效率（{m} 月，截至 1 天）',
      rated_detail: '{h} 小时 ≥ {s} 负荷 · 全部小时 {a}', limit_ind: '（运行指示）',
      op_note: '逐时效率与 GB 24500-2020 三级限定值的比较是运行指示：限定值适用于额定负荷测试。额定负荷效率只计平均负荷不低于额定出力 {s} 的小时（Σ 输出热量 / Σ 输入热量），是更接近的比较。',
    },
    en: {
      overview: 'Overview', boiler: 'Boiler', energy: 'Energy', quality: 'Data quality', report: 'Report', fleet: 'Fleet',
      'st.silent': 'silent', all_sites: 'All sites', all_states: 'All states', config_version: 'Config', applied_ago: 'applied {a} ago', oldest_unsent: 'oldest unsent {a} ago', last_heard: 'Last message',
      queue: 'Queue (records / bytes)', oldest: 'Oldest unsent', clock_offset: 'Clock offset', devices: 'Devices', alerts: 'Alerts', uptime: 'Uptime',
      'al.gateway_silent': 'silent', 'al.gateway_offline': 'offline too long', 'al.queue_backlog': 'queue backlog', fleet_hint: 'A gateway whose status says online is silent once nothing was heard from it for {s}.',
      site: 'Site', range: 'Range', period: 'Period', month: 'Month', apply: 'Show', logout: 'Log out',
      lang: '中文', tz: 'Time zone', csv: 'CSV', loading: 'Loading…', none: 'No data',
      'p.1h': 'Last hour', 'p.24h': 'Last 24 h', 'p.today': 'Today', 'p.yesterday': 'Yesterday', 'p.7d': 'Last 7 days',
      'p.30d': 'Last 30 days', 'p.month': 'This month', 'p.lastmonth': 'Last month', 'p.custom': 'Custom',
      'per.15m': '15 minutes', 'per.1d': 'Day', 'per.1mo': 'Month',
      gateways: 'Gateways and devices', gateway: 'Gateway', device: 'Device', state: 'State', version: 'Version', last_sample: 'Last sample',
      completeness_today: 'Complete today', class: 'Class', boilers: 'Boilers', load: 'Load', direct: 'Direct efficiency',
      indirect: 'Indirect efficiency', limit: 'Grade-3 limit', grade: 'Grade', verdict: 'Verdict', meters_today: 'Meter data completeness today',
      'st.online': 'online', 'st.degraded': 'degraded', 'st.offline': 'offline', 'st.unknown': 'unknown',
      pass: 'meets limit', fail: 'below limit', efficiency: 'Efficiency', losses: 'Losses (stacked)', output: 'Steam output and coal feed',
      flue: 'Exhaust temperature and O2', events: 'Alerts', by_type: 'Standard coal by energy type', meters: 'Per meter', totals: 'Totals',
      unit_consumption: 'Unit consumption (kgce/t steam)', completeness: 'Completeness per day', days: 'Per day', gaps: 'Gaps',
      resets: 'Meter resets', open_report: 'Open the printable monthly audit report', report_hint: 'The report is laid out for A4: print it or save it as PDF from the browser.',
      window: 'window', no_site: 'No site has data yet.', choose_boiler: 'Choose a boiler.',
      search: 'Search boilers, gateways or sites', page_of: 'page {p} of {n} ({b} boilers, {g} gateways)', prev: 'Previous', next: 'Next',
      'note.no_efficiency': 'No efficiency results in this range (the engine has not written boiler_efficiency).',
      'note.no_raw': 'No raw measurements in this range.', 'note.no_energy': 'No energy results in this range.',
      'note.no_quality': 'No data-quality records in this range.', 'note.gaps_last_48h': 'Gaps are searched in the last 48 hours of the range only.',
      'note.rollup': 'Over long ranges steam, coal, exhaust temperature and O2 are the efficiency engine\'s period means (O2 from the excess-air ratio α).',
      'col.kgce_primary': 'kgce (primary)', 'col.flagged': 'below 90 %', 'col.coverage': 'coverage', ongoing: 'ongoing',
      'col.time': 'time', 'col.direct': 'direct', 'col.indirect': 'indirect', 'col.limit': 'limit', 'col.alert': 'alert',
      'col.q2': 'q2 flue gas', 'col.q3': 'q3 unburnt gas', 'col.q4': 'q4 unburnt carbon', 'col.q5': 'q5 surface', 'col.q6': 'q6 ash heat',
      'col.steam_flow': 'steam flow', 'col.coal_feed': 'coal feed', 'col.exhaust_temp': 'exhaust temp', 'col.o2': 'O2',
      'col.kind': 'kind', 'col.message': 'message', 'col.value': 'value', 'col.meter': 'meter', 'col.energy_type': 'energy type',
      'col.native': 'amount', 'col.unit': 'unit', 'col.kgce': 'kgce', 'col.resets': 'resets', 'col.completeness': 'completeness',
      'col.received': 'received', 'col.expected': 'expected', 'col.gaps': 'gaps',
      'col.estimated': 'estimated', 'col.last_known_minutes': 'by last known enthalpy', 'col.coefficient_minutes': 'by coefficient',
      est_note: 'Estimated: the share of minutes whose kgce is not from the minute\'s own measurements. A steam meter without pressure (or temperature) first uses the last enthalpy difference metered within estimate_within, beyond it the GB/T 2589 coefficient; coal and gas without an LHV in force use the coefficient.', 'col.device': 'device', 'col.gateway': 'gateway',
      'col.start': 'start', 'col.end': 'end', 'col.duration': 'duration',
      'et.coal': 'coal', 'et.electricity': 'electricity', 'et.steam': 'steam', 'et.heat': 'heat', 'et.natural_gas': 'natural gas', 'et.water': 'water',
      rated_day: 'Rated-load efficiency, {d}', rated_month: 'Rated-load efficiency, {m}', rated_month_partial: 'Rated-load efficiency, {m} ({n} days so far)', rated_month_partial_1: 'Rated-load efficiency, {m} (1 day so far)',
      rated_detail: '{h} h at ≥ {s} load · all hours {a}', limit_ind: ' (operating indication)',
      op_note: 'Hourly efficiency against the GB 24500-2020 grade-3 limit is an operating indication: the limit is for rated-load tests. The rated-load efficiency counts only hours whose mean load is at least {s} of rated output (Σ output / Σ input heat), the closer comparison.',
    },
  };
  const PRESETS = ['1h', 'today', '24h', '7d', '30d', 'month', 'lastmonth', 'custom'];
  const VIEWS = ['overview', 'fleet', 'boiler', 'energy', 'quality', 'report'];
  const COLORS = ['#0b5d8a', '#e07b00', '#2e7d32', '#8e24aa', '#c62828', '#00838f', '#6d4c41', '#546e7a'];

  let lang = localStorage.getItem('bw_lang') || 'zh-CN';
  const state = { view: 'overview', site: '', boiler: '', range: '24h', start: '', stop: '', period: '1d', month: '', fsite: '', fstate: '', q: '', page: '' };
  let sites = [];
  let me = null;
  let seq = 0; // render generation: a slow answer for an old view is dropped

  // Test and automation hooks: the charts drawn, and whether the current
  // view has finished loading.
  window.bwCharts = [];
  window.bwState = { ready: false, view: '', error: '' };

  const $ = (id) => document.getElementById(id);
  const t = (k) => (I18N[lang] && I18N[lang][k]) || I18N.en[k] || k;
  const esc = (s) => String(s == null ? '' : s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const colName = (key) => (I18N[lang]['col.' + key] ? t('col.' + key) : I18N[lang]['et.' + key] ? t('et.' + key) : key);
  const colLabel = (c) => colName(c.key) + (c.unit ? ' (' + c.unit + ')' : '');
  const siteTZ = () => { const s = sites.find((x) => x.id === state.site); return s ? s.tz : 'Asia/Shanghai'; };

  // fleetUpdate is a gateway's last software update report under its
  // version: release, status, download progress, the reason on hover.
  function fleetUpdate(u, tz) {
    if (!u) return '';
    const pct = u.status === 'downloading' && u.total ? ` ${Math.floor(u.done * 100 / u.total)}%` : '';
    const title = `${fmtTime(u.at, tz, true)}${u.reason ? ' — ' + u.reason : ''}`;
    return `<br><span class="muted upd ${esc(u.status)}" title="${esc(title)}">→ ${esc(u.release)} ${esc(u.status.replace('_', ' '))}${esc(pct)}</span>`;
  }

  function fmtTime(ts, tz, withSec) {
    if (ts == null) return '—';
    const o = { timeZone: tz || siteTZ(), year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    if (withSec) o.second = '2-digit';
    return new Intl.DateTimeFormat('sv-SE', o).format(new Date(ts * 1000));
  }
  function fmtNum(v, d) {
    if (typeof v === 'boolean') return v ? '✓' : '';
    if (v == null || typeof v !== 'number' || !isFinite(v)) return '—';
    return v.toFixed(d == null ? 2 : d);
  }

  // --- state in the URL hash, so a view can be bookmarked and shared ---
  function readHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const [view, query] = h.split('?');
    state.view = VIEWS.includes(view) ? view : 'overview';
    const p = new URLSearchParams(query || '');
    for (const k of ['site', 'boiler', 'range', 'start', 'stop', 'period', 'month', 'fsite', 'fstate', 'q', 'page']) {
      if (p.has(k)) state[k] = p.get(k);
    }
    if (state.start && state.stop && !p.has('range')) state.range = 'custom';
  }
  function writeHash() {
    const p = new URLSearchParams();
    for (const k of ['site', 'boiler', 'range', 'start', 'stop', 'period', 'month', 'fsite', 'fstate', 'q', 'page']) {
      if (!state[k]) continue;
      if ((k === 'fsite' || k === 'fstate') && state.view !== 'fleet') continue;
      if ((k === 'q' || k === 'page') && state.view !== 'overview') continue;
      if ((k === 'start' || k === 'stop') && state.range !== 'custom') continue;
      if (k === 'boiler' && state.view !== 'boiler') continue;
      if (k === 'period' && state.view !== 'energy') continue;
      if (k === 'month' && state.view !== 'report') continue;
      p.set(k, state[k]);
    }
    const h = '#/' + state.view + '?' + p.toString();
    if (location.hash !== h) location.hash = h; else render();
  }
  function rangeParams() {
    if (state.range === 'custom') return { start: state.start, stop: state.stop };
    return { range: state.range };
  }

  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
    const resp = await fetch(path + (q.toString() ? '?' + q : ''), { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (resp.status === 401) {
      location.href = '/login?next=' + encodeURIComponent('/' + location.hash);
      throw new Error('not logged in');
    }
    const body = await resp.json().catch(() => ({ error: resp.statusText }));
    if (!resp.ok) throw new Error(body.error || resp.statusText);
    return body;
  }
  function csvURL(view, frame, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    q.set('format', 'csv');
    q.set('frame', frame);
    return '/api/' + view + '?' + q.toString();
  }

  // --- chrome: navigation, pickers, language ---
  function renderChrome() {
    document.documentElement.lang = lang;
    document.title = 'BoilerWatch · ' + t(state.view);
    $('nav').innerHTML = VIEWS.map((v) => `<a href="#/${v}" data-view="${v}" class="${v === state.view ? 'on' : ''}">${esc(t(v))}</a>`).join('');
    for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
    $('lang').textContent = t('lang');
    $('who').textContent = me ? me.user : '';
    $('site').innerHTML = sites.map((s) => `<option value="${esc(s.id)}"${s.id === state.site ? ' selected' : ''}>${esc(s.title)}</option>`).join('');
    $('preset').innerHTML = PRESETS.map((p) => `<option value="${p}"${p === state.range ? ' selected' : ''}>${esc(t('p.' + p))}</option>`).join('');
    $('custom').hidden = state.range !== 'custom';
    // datetime-local wants 2026-01-15T00:00; a date alone means midnight.
    const local = (v) => (/^\d{4}-\d{2}-\d{2}$/.test(v) ? v + 'T00:00' : v);
    $('start').value = local(state.start);
    $('stop').value = local(state.stop);
    const site = sites.find((s) => s.id === state.site);
    const boilers = site ? site.boilers : [];
    $('boiler').innerHTML = boilers.map((b) => `<option value="${esc(b.name)}"${b.name === state.boiler ? ' selected' : ''}>${esc(b.name)}</option>`).join('');
    $('period').innerHTML = ['15m', '1d', '1mo'].map((p) => `<option value="${p}"${p === state.period ? ' selected' : ''}>${esc(t('per.' + p))}</option>`).join('');
    $('month').value = state.month;
    $('boiler-pick').hidden = state.view !== 'boiler';
    $('period-pick').hidden = state.view !== 'energy';
    $('month-pick').hidden = state.view !== 'report';
    const rangeless = state.view === 'report' || state.view === 'overview' || state.view === 'fleet';
    $('preset').parentElement.hidden = rangeless;
    $('apply').hidden = rangeless;
    if (rangeless) $('custom').hidden = true;
    $('tz').textContent = t('tz') + ': ' + siteTZ();
  }

  function bindChrome() {
    $('lang').addEventListener('click', () => {
      lang = lang === 'en' ? 'zh-CN' : 'en';
      localStorage.setItem('bw_lang', lang);
      // The server renders the login form and the report in this language.
      document.cookie = 'bw_lang=' + lang + '; path=/; SameSite=Strict; max-age=31536000';
      render();
    });
    $('site').addEventListener('change', (e) => { state.site = e.target.value; state.boiler = ''; writeHash(); });
    $('preset').addEventListener('change', (e) => {
      state.range = e.target.value;
      if (state.range === 'custom') {
        $('custom').hidden = false;
        return;
      }
      writeHash();
    });
    $('boiler').addEventListener('change', (e) => { state.boiler = e.target.value; writeHash(); });
    $('period').addEventListener('change', (e) => { state.period = e.target.value; writeHash(); });
    $('month').addEventListener('change', (e) => { state.month = e.target.value; writeHash(); });
    $('apply').addEventListener('click', () => {
      if (state.range === 'custom') { state.start = $('start').value; state.stop = $('stop').value; }
      writeHash();
    });
    window.addEventListener('hashchange', () => { readHash(); render(); });
    let timer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        for (const c of window.bwCharts) c.u.setSize({ width: c.el.clientWidth, height: 260 });
      }, 150);
    });
  }

  // --- charts ---
  // chart draws frame columns with uPlot. spec.series: [{key, color,
  // dash, scale, points, bars}], spec.stack: keys drawn stacked (their
  // cumulative sums, the legend showing each one's own value).
  function chart(el, frame, spec) {
    const tz = siteTZ();
    const idx = {};
    frame.columns.forEach((c, i) => { idx[c.key] = i; });
    const series = spec.series.filter((s) => idx[s.key] != null);
    const raw = series.map((s) => frame.data[idx[s.key]]);
    let data = [frame.data[0]].concat(raw);
    if (spec.stack) {
      const acc = new Array(frame.data[0].length).fill(0);
      const cum = raw.map((col) => col.map((v, j) => (v == null ? null : (acc[j] += v))));
      // Drawn from the top of the stack down, so each band stays visible.
      series.reverse();
      raw.reverse();
      data = [frame.data[0]].concat(cum.reverse());
    }
    const units = [...new Set(series.map((s) => unitOf(frame, s.key)))];
    const scales = { x: { time: true } };
    // Ticks in the site's time, 24-hour: dates over long ranges, times
    // within a day.
    const tick = (u, splits) => {
      const span = u.scales.x.max - u.scales.x.min;
      return splits.map((v) => {
        const s = fmtTime(v, tz);
        return span > 3 * 86400 ? s.slice(5, 10) : span > 86400 ? s.slice(5, 16) : s.slice(11, 16);
      });
    };
    const axes = [{ stroke: '#5a6b78', grid: { stroke: '#eef1f3' }, values: tick, space: 60 }];
    units.forEach((u, i) => {
      // Stacks and bars start at zero; other series fit their data.
      const zero = (self, min, max) => [0, max > 0 ? max * 1.05 : 1];
      scales[u || '_'] = spec.range ? { range: spec.range } : spec.stack || spec.bars ? { range: zero } : {};
      axes.push({ scale: u || '_', label: u, side: i === 0 ? 3 : 1, stroke: '#5a6b78', grid: { show: i === 0, stroke: '#eef1f3' }, size: 56 });
    });
    const bars = spec.bars ? uPlot.paths.bars({ size: [0.7, 60], align: 1 }) : null;
    const opts = {
      width: el.clientWidth || 600,
      height: 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
      scales,
      axes,
      legend: { live: true },
      cursor: { points: { size: 6 } },
      series: [{ label: colName('time'), value: (u, v) => (v == null ? '—' : fmtTime(v, tz)) }].concat(series.map((s, i) => {
        const color = s.color || COLORS[i % COLORS.length];
        const o = {
          label: colLabel({ key: s.key, unit: unitOf(frame, s.key) }),
          scale: unitOf(frame, s.key) || '_',
          stroke: color,
          width: s.width || 1.5,
          dash: s.dash,
          spanGaps: false,
          points: { show: !!s.points, size: s.points || 5, fill: color },
          value: (u, v, si, di) => (di == null ? '—' : fmtNum(raw[si - 1][di], s.digits)),
        };
        if (s.points && s.noLine) o.paths = () => null;
        if (spec.stack || spec.bars) o.fill = color + (spec.stack ? 'cc' : 'dd');
        if (bars) o.paths = bars;
        return o;
      })),
    };
    el.innerHTML = '';
    const u = new uPlot(opts, data, el);
    window.bwCharts.push({ id: frame.id, u, el });
    return u;
  }
  function unitOf(frame, key) {
    const c = frame.columns.find((x) => x.key === key);
    return c ? c.unit || '' : '';
  }

  function table(frame, tz) {
    if (!frame.data[0] || frame.data[0].length === 0) return `<p class="muted">${esc(t('none'))}</p>`;
    const head = frame.columns.map((c) => `<th>${esc(colLabel(c))}</th>`).join('');
    const rows = [];
    for (let j = 0; j < frame.data[0].length; j++) {
      rows.push('<tr>' + frame.columns.map((c, i) => {
        const v = frame.data[i][j];
        if (c.kind === 'time') return `<td>${v == null ? esc(t('ongoing')) : esc(fmtTime(v, tz))}</td>`;
        if (c.kind === 'number') return `<td class="n">${esc(fmtNum(v, Number.isInteger(v) && c.unit !== '%' ? 0 : c.unit === 'kgce' ? 1 : 3))}</td>`;
        if (c.key === 'energy_type') return `<td>${esc(t('et.' + v))}</td>`;
        if (c.key === 'message') return `<td class="w">${esc(v)}</td>`;
        return `<td>${esc(v)}</td>`;
      }).join('') + '</tr>');
    }
    return `<div class="scroll"><table class="t" data-frame="${esc(frame.id)}"><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
  }

  function card(id, title, view, params, extra) {
    const href = view ? csvURL(view, id, params) : '';
    return `<section class="card" id="card-${esc(id)}"><h2>${esc(title)}${extra || ''}${href ? `<a class="csv" id="csv-${esc(id)}" href="${esc(href)}" download>${esc(t('csv'))}</a>` : ''}</h2><div class="body" id="body-${esc(id)}"></div></section>`;
  }
  function notes(v) {
    return (v.notes || []).map((n) => `<p class="note">${esc(t('note.' + n))}</p>`).join('');
  }
  const frameOf = (v, id) => v.frames.find((f) => f.id === id);

  // --- views ---
  async function viewOverview(main) {
    const params = {};
    for (const k of ['site', 'q', 'page']) if (state[k]) params[k] = state[k];
    const v = await api('/api/overview', params);
    const html = [];
    // A province has thousands of boilers: the overview is searched and
    // paged on the server, a page of boilers and gateways at a time.
    const pageOf = t('page_of').replace('{p}', v.page).replace('{n}', v.pages).replace('{b}', v.total_boilers).replace('{g}', v.total_gateways);
    html.push(`<section class="card" id="ov-pager"><input id="ov-q" type="search" placeholder="${esc(t('search'))}" value="${esc(v.q || '')}">
      <button id="ov-prev"${v.page > 1 ? '' : ' disabled'}>${esc(t('prev'))}</button> <span id="ov-page">${esc(pageOf)}</span>
      <button id="ov-next"${v.page < v.pages ? '' : ' disabled'}>${esc(t('next'))}</button></section>`);
    for (const s of v.sites) {
      html.push(`<h1>${esc(s.title)} <span class="muted">${esc(s.id)}</span></h1>`);
      const brows = s.boilers.map((b) => {
        const val = (b.method === 'indirect' ? b.indirect : b.direct);
        const verdict = val == null || b.limit == null ? '' : val >= b.limit ? `<span class="badge pass">${esc(t('pass'))}</span>` : `<span class="badge fail">${esc(t('fail'))}</span>`;
        return `<tr><td><a href="#/boiler?site=${encodeURIComponent(s.id)}&boiler=${encodeURIComponent(b.name)}&range=24h">${esc(b.name)}</a></td>
          <td class="n">${esc(fmtNum(b.load, 1))}</td><td class="n">${esc(fmtNum(b.direct, 1))}</td><td class="n">${esc(fmtNum(b.indirect, 1))}</td>
          <td class="n">${esc(fmtNum(b.limit, 0))}</td><td>${b.grade == null ? '—' : esc(b.grade)}</td><td>${verdict}</td>
          <td>${esc(b.eff_at ? fmtTime(b.eff_at, s.tz) : '—')}</td></tr>`;
      }).join('');
      html.push(`<section class="card" id="card-boilers"><h2>${esc(t('boilers'))}</h2><table class="t"><thead><tr><th>${esc(t('boiler'))}</th><th>${esc(t('load'))} (%)</th><th>${esc(t('direct'))} (%)</th><th>${esc(t('indirect'))} (%)</th><th>${esc(t('limit'))} (%)</th><th>${esc(t('grade'))}</th><th>${esc(t('verdict') + t('limit_ind'))}</th><th>${esc(t('col.time'))}</th></tr></thead><tbody>${brows}</tbody></table></section>`);
      const grows = [];
      for (const g of s.gateways) {
        grows.push(`<tr class="gw"><td><b>${esc(g.id)}</b></td><td></td><td><span class="badge ${esc(g.state)}">${esc(t('st.' + g.state))}</span></td><td>${esc(g.version || '')}</td><td>${esc(g.status_at ? fmtTime(g.status_at, s.tz, true) : '—')}</td><td></td></tr>`);
        for (const d of g.devices) {
          grows.push(`<tr><td>&nbsp;&nbsp;${esc(d.id)}</td><td>${esc(d.class || '')}</td><td><span class="badge ${esc(d.state)}" title="${esc(d.last_error || '')}">${esc(t('st.' + d.state))}</span></td><td></td><td>${esc(d.last_sample ? fmtTime(d.last_sample, s.tz, true) : '—')}</td><td class="n">${esc(d.completeness == null ? '—' : fmtNum(d.completeness, 1) + ' %')}</td></tr>`);
        }
      }
      html.push(`<section class="card" id="card-gateways"><h2>${esc(t('gateways'))}</h2><table class="t"><thead><tr><th>${esc(t('gateway'))} / ${esc(t('device'))}</th><th>${esc(t('class'))}</th><th>${esc(t('state'))}</th><th>${esc(t('version'))}</th><th>${esc(t('last_sample'))}</th><th>${esc(t('completeness_today'))}</th></tr></thead><tbody>${grows.join('')}</tbody></table></section>`);
      if (s.meters.length) {
        html.push(`<section class="card"><h2>${esc(t('meters_today'))}</h2><table class="t"><tbody>${s.meters.map((m) => `<tr><td>${esc(m.meter)}</td><td class="n">${esc(fmtNum(m.completeness, 1))} %</td></tr>`).join('')}</tbody></table></section>`);
      }
    }
    if (!v.sites.length) html.push(`<p class="muted">${esc(t('no_site'))}</p>`);
    main.innerHTML = html.join('');
    const go = (page) => { state.page = page > 1 ? String(page) : ''; writeHash(); };
    $('ov-q').addEventListener('change', (e) => { state.q = e.target.value.trim(); go(1); });
    $('ov-prev').addEventListener('click', () => go(v.page - 1));
    $('ov-next').addEventListener('click', () => go(v.page + 1));
  }

  // The fleet: every gateway of the user's sites, filtered by site and
  // state, from the gateways' status (no database query).
  function fmtAge(s) {
    if (s == null) return '—';
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }
  function fmtBytes(b) {
    if (b == null) return '—';
    return b < 1e3 ? b + ' B' : b < 1e6 ? (b / 1e3).toFixed(1) + ' kB' : (b / 1e6).toFixed(1) + ' MB';
  }
  async function viewFleet(main) {
    const params = { site: state.fsite, state: state.fstate };
    const v = await api('/api/fleet', params);
    const tz = siteTZ();
    const opt = (val, label, cur) => `<option value="${esc(val)}"${val === cur ? ' selected' : ''}>${esc(label)}</option>`;
    const siteSel = opt('', t('all_sites'), state.fsite) + sites.map((s) => opt(s.id, s.title, state.fsite)).join('');
    const stateSel = opt('', t('all_states'), state.fstate) + ['online', 'silent', 'offline'].map((x) => opt(x, t('st.' + x), state.fstate)).join('');
    const csv = '/api/fleet?' + new URLSearchParams(Object.assign({ format: 'csv' }, Object.fromEntries(Object.entries(params).filter(([, x]) => x)))).toString();
    const rows = v.gateways.map((g) => {
      const q = g.queue;
      const devs = Object.keys(g.devices || {}).sort().map((n) => `<span class="badge ${esc(g.devices[n].state)}" title="${esc(g.devices[n].last_error || '')}">${esc(n)}</span>`).join(' ');
      const off = g.clock_offset_ms == null ? '—' : (g.clock_offset_ms > 0 ? '+' : '') + (g.clock_offset_ms / 1000).toFixed(1) + ' s';
      const alerts = g.alerts.map((a) => `<span class="badge fail">${esc(t('al.' + a))}</span>`).join(' ');
      return `<tr data-gateway="${esc(g.site + '/' + g.gateway)}" data-state="${esc(g.state)}"><td>${esc(g.site)}</td><td><b>${esc(g.gateway)}</b></td>
        <td><span class="badge ${esc(g.state === 'silent' ? 'degraded' : g.state)}">${esc(t('st.' + g.state))}</span></td>
        <td>${esc(g.version || '—')}${fleetUpdate(g.update, tz)}</td><td class="cfg">${esc(g.config_version || '—')}${g.config_applied ? `<br><span class="muted" title="${esc(fmtTime(g.config_applied, tz, true))}">${esc(t('applied_ago').replace('{a}', fmtAge(v.now - g.config_applied)))}</span>` : ''}</td>
        <td title="${esc(fmtTime(g.last_heard, tz, true))}">${esc(fmtAge(g.silent_s))}</td>
        <td class="n">${q ? esc(q.pending) + ' / ' + esc(fmtBytes(q.bytes)) : '—'}${g.oldest_unsent_s != null ? `<br><span class="muted oldest" title="${esc(fmtTime(g.oldest_unsent, tz, true))}">${esc(t('oldest_unsent').replace('{a}', fmtAge(g.oldest_unsent_s)))}</span>` : ''}</td>
        <td class="n" title="${esc(g.clock || '')}">${esc(off)}</td><td>${esc(g.devices_online)}/${esc(g.devices_total)} ${devs}</td><td>${alerts}</td></tr>`;
    }).join('');
    const hint = t('fleet_hint').replace('{s}', fmtAge(v.silent_after_s));
    main.innerHTML = `<h1>${esc(t('fleet'))}</h1>
      <section class="card" id="card-fleet"><h2>${esc(t('gateway'))}
        <select id="fleet-site">${siteSel}</select> <select id="fleet-state">${stateSel}</select>
        <a class="csv" id="csv-fleet" href="${esc(csv)}" download>${esc(t('csv'))}</a></h2>
      <div class="scroll"><table class="t" data-frame="fleet"><thead><tr><th>${esc(t('site'))}</th><th>${esc(t('gateway'))}</th><th>${esc(t('state'))}</th>
        <th>${esc(t('version'))}</th><th>${esc(t('config_version'))}</th><th>${esc(t('last_heard'))}</th><th>${esc(t('queue'))}</th>
        <th>${esc(t('clock_offset'))}</th><th>${esc(t('devices'))}</th><th>${esc(t('alerts'))}</th></tr></thead>
        <tbody>${rows || `<tr><td colspan="10" class="muted">${esc(t('none'))}</td></tr>`}</tbody></table></div>
      <p class="muted">${esc(hint)}</p></section>`;
    $('fleet-site').addEventListener('change', (e) => { state.fsite = e.target.value; writeHash(); });
    $('fleet-state').addEventListener('change', (e) => { state.fstate = e.target.value; writeHash(); });
  }

  // The share of rated output that makes an hour a rated-load hour.
  function ratedShare(v) {
    const r = v.info.rated;
    return r && r.share != null ? fmtNum(100 * r.share, 0) + ' %' : '70 %';
  }
  // The rated-load efficiency of the last closed day and of its month,
  // beside all hours' (info.rated, see boiler.go ratedSummary).
  function ratedKPIs(v) {
    const r = v.info.rated;
    if (!r) return '';
    const tz = v.site.tz;
    const kpi = (id, f, label) => {
      const detail = t('rated_detail').replace('{h}', fmtNum(f.rated_hours, 0)).replace('{s}', ratedShare(v)).replace('{a}', f.all_hours_pct == null ? '—' : fmtNum(f.all_hours_pct, 1) + ' %');
      return `<div class="kpi" id="${id}"><b>${esc(fmtNum(f.rated_pct, 1))} %</b><span>${esc(label)}</span><span>${esc(detail)}</span></div>`;
    };
    const day = fmtTime(r.day.start, tz).slice(0, 10);
    const month = fmtTime(r.month.start, tz).slice(0, 7);
    const mLabel = r.month.partial ? t(r.month.days === 1 ? 'rated_month_partial_1' : 'rated_month_partial').replace('{m}', month).replace('{n}', r.month.days) : t('rated_month').replace('{m}', month);
    return kpi('kpi-rated-day', r.day, t('rated_day').replace('{d}', day)) + kpi('kpi-rated-month', r.month, mLabel);
  }

  async function viewBoiler(main) {
    if (!state.boiler) { main.innerHTML = `<p class="muted">${esc(t('choose_boiler'))}</p>`; return; }
    const params = Object.assign({ site: state.site, boiler: state.boiler }, rangeParams());
    const v = await api('/api/boiler', params);
    const b = v.info.boiler;
    const eff = frameOf(v, 'efficiency');
    const lastOf = (key) => { const i = eff.columns.findIndex((c) => c.key === key); if (i < 0) return null; const col = eff.data[i]; for (let j = col.length - 1; j >= 0; j--) if (col[j] != null) return col[j]; return null; };
    const win = (f) => ` <span class="muted">(${esc(t('window'))} ${esc(f.window || '')})</span>`;
    main.innerHTML = `<h1>${esc(b.name)} <span class="muted">${esc(v.site.title)}</span></h1>${notes(v)}
      <div class="kpis"><div class="kpi"><b>${esc(fmtNum(lastOf('direct'), 1))} %</b><span>${esc(t('direct'))}</span></div>
      <div class="kpi"><b>${esc(fmtNum(lastOf('indirect'), 1))} %</b><span>${esc(t('indirect'))}</span></div>
      <div class="kpi"><b>${esc(fmtNum(b.limit != null ? b.limit : lastOf('limit'), 0))} %</b><span>${esc(t('limit'))} GB 24500-2020${esc(t('limit_ind'))}</span></div>${ratedKPIs(v)}</div>
      <p class="note" id="op-note">${esc(t('op_note').replace('{s}', ratedShare(v)))}</p>
      <div class="grid">${card('efficiency', t('efficiency'), 'boiler', params, win(eff))}${card('losses', t('losses'), 'boiler', params, win(frameOf(v, 'losses')))}
      ${card('output', t('output'), 'boiler', params, win(frameOf(v, 'output')))}${card('flue', t('flue'), 'boiler', params, win(frameOf(v, 'flue')))}</div>
      ${card('events', t('events'), 'boiler', params)}`;
    chart($('body-efficiency'), eff, { series: [
      { key: 'direct', color: '#0b5d8a', width: 2, digits: 1 }, { key: 'indirect', color: '#e07b00', width: 2, digits: 1 },
      { key: 'limit', color: '#b3261e', dash: [6, 4], digits: 0 }, { key: 'alert', color: '#b3261e', points: 9, noLine: true, digits: 0 }] });
    chart($('body-losses'), frameOf(v, 'losses'), { stack: true, series: ['q2', 'q3', 'q4', 'q5', 'q6'].map((k, i) => ({ key: k, color: COLORS[i] })) });
    chart($('body-output'), frameOf(v, 'output'), { series: [{ key: 'steam_flow', color: '#0b5d8a' }, { key: 'coal_feed', color: '#6d4c41', digits: 3 }] });
    chart($('body-flue'), frameOf(v, 'flue'), { series: [{ key: 'exhaust_temp', color: '#c62828', digits: 1 }, { key: 'o2', color: '#00838f' }] });
    $('body-events').innerHTML = table(frameOf(v, 'events'), v.site.tz);
  }

  async function viewEnergy(main) {
    const params = Object.assign({ site: state.site, period: state.period }, rangeParams());
    const v = await api('/api/energy', params);
    main.innerHTML = `<h1>${esc(t('energy'))} <span class="muted">${esc(v.site.title)} · ${esc(t('per.' + v.info.period))}</span></h1>${notes(v)}
      <div class="grid">${card('by_type', t('by_type'), 'energy', params)}${card('unit_consumption', t('unit_consumption'), 'energy', params)}</div>
      ${card('totals', t('totals'), 'energy', params)}${card('meters', t('meters'), 'energy', params)}
      <p class="muted" id="est-note">${esc(t('est_note'))}</p>`;
    const bt = frameOf(v, 'by_type');
    chart($('body-by_type'), bt, { bars: true, stack: true, series: bt.columns.slice(1).map((c, i) => ({ key: c.key, color: COLORS[i % COLORS.length], digits: 1 })) });
    const uc = frameOf(v, 'unit_consumption');
    chart($('body-unit_consumption'), uc, { series: uc.columns.slice(1).map((c, i) => ({ key: c.key, color: COLORS[i % COLORS.length], points: 4 })) });
    $('body-totals').innerHTML = table(frameOf(v, 'totals'), v.site.tz);
    $('body-meters').innerHTML = table(frameOf(v, 'meters'), v.site.tz);
  }

  async function viewQuality(main) {
    const params = Object.assign({ site: state.site }, rangeParams());
    const v = await api('/api/quality', params);
    main.innerHTML = `<h1>${esc(t('quality'))} <span class="muted">${esc(v.site.title)}</span></h1>${notes(v)}
      ${card('completeness', t('completeness'), 'quality', params)}
      <div class="grid">${card('gaps', t('gaps'), 'quality', params)}${card('resets', t('resets'), 'quality', params)}</div>
      ${card('days', t('days'), 'quality', params)}`;
    const c = frameOf(v, 'completeness');
    chart($('body-completeness'), c, { range: [0, 105], series: c.columns.slice(1).map((col, i) => ({ key: col.key, color: COLORS[i % COLORS.length], points: 5, digits: 1 })) });
    for (const id of ['gaps', 'resets', 'days']) $('body-' + id).innerHTML = table(frameOf(v, id), v.site.tz);
  }

  async function viewReport(main) {
    if (!state.month) {
      const now = new Intl.DateTimeFormat('sv-SE', { timeZone: siteTZ(), year: 'numeric', month: '2-digit' }).format(new Date());
      state.month = now.slice(0, 7);
      $('month').value = state.month;
    }
    const href = '/report?' + new URLSearchParams({ site: state.site, month: state.month, lang }).toString();
    main.innerHTML = `<section class="card"><h2>${esc(t('report'))} · ${esc(state.month)}</h2><p>${esc(t('report_hint'))}</p><p><a id="open-report" href="${esc(href)}" target="_blank" rel="noopener">${esc(t('open_report'))}</a></p></section>`;
  }

  async function render() {
    const gen = ++seq;
    window.bwState = { ready: false, view: state.view, error: '' };
    for (const c of window.bwCharts) c.u.destroy();
    window.bwCharts = [];
    if (!state.site && sites.length) state.site = sites[0].id;
    const site = sites.find((s) => s.id === state.site);
    if (state.view === 'boiler' && site && !site.boilers.some((b) => b.name === state.boiler)) state.boiler = site.boilers.length ? site.boilers[0].name : '';
    renderChrome();
    const main = $('main');
    main.innerHTML = `<p class="muted">${esc(t('loading'))}</p>`;
    try {
      const fn = { overview: viewOverview, fleet: viewFleet, boiler: viewBoiler, energy: viewEnergy, quality: viewQuality, report: viewReport }[state.view];
      await fn(main);
      if (gen === seq) window.bwState = { ready: true, view: state.view, error: '' };
    } catch (e) {
      if (gen !== seq) return;
      main.innerHTML = `<p class="error" id="error">${esc(e.message)}</p>`;
      window.bwState = { ready: true, view: state.view, error: e.message };
    }
  }

  async function start() {
    readHash();
    bindChrome();
    try {
      [me, { sites }] = await Promise.all([api('/api/me'), api('/api/sites')]);
    } catch (e) {
      $('main').innerHTML = `<p class="error">${esc(e.message)}</p>`;
      window.bwState = { ready: true, view: state.view, error: e.message };
      return;
    }
    render();
  }
  start();
})();
