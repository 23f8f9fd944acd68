// shadowproxy console. Plain JavaScript, no dependencies. Every value that comes from /status or
// from a model's answer is put into the page with textContent or as an attribute value, never
// parsed as markup: nothing in this file assigns HTML (a test checks).
'use strict';

(function () {
  const POLL_MS = 2000;
  const LIST_LIMIT = 12;
  const SVG = 'http://www.w3.org/2000/svg';

  const cards = new Map(); // route + '\0' + candidate -> card
  const sampled = new Map(); // route + '\0' + candidate -> the history's points so far, oldest first
  let since = ''; // the newest sampled point's time: /api/history is asked for what came after
  const open = new Set(); // keys of the disagreements whose answers are shown
  let clipIds = 0;
  // #open=ID in the address opens that disagreement once it is listed (a link to one disagreement).
  let wanted = new URLSearchParams(location.hash.slice(1)).get('open');

  // el builds an element. attrs: class, text, on<event>, or attributes; kids: nodes or strings
  // (strings become text nodes).
  function el(tag, attrs, ...kids) {
    return build(document.createElement(tag), attrs, kids);
  }

  function svg(tag, attrs, ...kids) {
    return build(document.createElementNS(SVG, tag), attrs, kids);
  }

  function build(e, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'style') e.style.cssText = v; // CSSOM: allowed by the page's CSP, unlike a style attribute
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  // Formatting.

  function pct(x) {
    if (x === null || x === undefined || Number.isNaN(x)) return '–';
    const p = x * 100;
    const digits = p === 0 ? 0 : p < 0.1 ? 3 : p < 10 ? 2 : 1;
    return p.toFixed(digits) + '%';
  }

  function range(ci) {
    return ci ? pct(ci[0]) + ' – ' + pct(ci[1]) : '–';
  }

  function num(n) {
    return (n || 0).toLocaleString('en-US');
  }

  function signed(x, unit) {
    if (x === null || x === undefined) return '–';
    return (x > 0 ? '+' : x < 0 ? '−' : '') + Math.abs(x).toFixed(Math.abs(x) < 10 ? 2 : 1) + unit;
  }

  function clock(t) {
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) return String(t);
    return d.toLocaleTimeString('en-GB', { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  function hm(t) {
    return new Date(t).toLocaleTimeString('en-GB', { hour12: false, hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  // Num is a number from a model's answer that a JavaScript number would change (a large integer,
  // many digits): it keeps the answer's own text.
  class Num {
    constructor(src) { this.src = src; }
  }

  // exact is JSON.parse's reviver that keeps such numbers as Num, where the browser gives the source
  // text (JSON.parse source text access); elsewhere numbers are plain numbers.
  function exact(key, v, ctx) {
    if (typeof v === 'number' && ctx && typeof ctx.source === 'string' && String(v) !== ctx.source) return new Num(ctx.source);
    return v;
  }

  // compact writes v as JSON on one line.
  function compact(v) {
    if (v === undefined || v === null) return 'null';
    if (v instanceof Num) return v.src;
    if (Array.isArray(v)) return '[' + v.map(compact).join(',') + ']';
    if (typeof v === 'object') return '{' + Object.keys(v).map((k) => JSON.stringify(k) + ':' + compact(v[k])).join(',') + '}';
    return JSON.stringify(v);
  }

  async function getJSON(url, keepNumbers) {
    const r = await fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!r.ok) {
      let why = 'HTTP ' + r.status;
      try { why = (await r.json()).error || why; } catch (e) { /* not JSON: keep the status */ }
      throw new Error(why);
    }
    return keepNumbers ? JSON.parse(await r.text(), exact) : r.json();
  }

  // The poll loop.

  async function poll() {
    try {
      const [status, history] = await Promise.all([getJSON('status'),
        getJSON('api/history' + (since ? '?since=' + encodeURIComponent(since) : ''))]);
      const cands = [];
      for (const r of status.routes || []) for (const c of r.candidates || []) cands.push([r, c]);
      const lists = await Promise.all(cands.map(([r, c]) =>
        getJSON('api/disagreements?route=' + encodeURIComponent(r.name) + '&candidate=' +
          encodeURIComponent(c.name) + '&limit=' + (wanted === null ? LIST_LIMIT : 0), true).catch((e) => ({ error: e.message }))));
      render(status, history, cands, lists);
      wanted = null; // opened, or no longer kept
      live(true, '');
    } catch (e) {
      live(false, String(e && e.message ? e.message : e));
    }
    setTimeout(poll, document.hidden ? 5 * POLL_MS : POLL_MS); // a tab in the background polls less
  }

  function live(ok, why) {
    const l = document.getElementById('live');
    l.className = 'live ' + (ok ? 'ok' : 'down');
    l.textContent = ok ? 'live · updated ' + hm(Date.now()) : 'disconnected: ' + why;
  }

  // merge adds the history's new points to those kept (live marks the point taken at the request,
  // which is not kept) and returns each series' points to plot.
  function merge(history) {
    const out = new Map();
    const span = (history.span_seconds || 3600) * 1000;
    let newest = since;
    for (const s of history.series || []) {
      const key = s.route + '\0' + s.candidate;
      const pts = s.points || [];
      let kept = sampled.get(key) || [];
      for (const p of pts.filter((x) => !x.live)) {
        let last = kept[kept.length - 1];
        if (last && p.agree + p.disagree < last.agree + last.disagree) { // counts restarted
          kept = [];
          last = undefined;
        }
        if (!last || Date.parse(p.time) > Date.parse(last.time)) kept.push(p);
        if (!newest || Date.parse(p.time) > Date.parse(newest)) newest = p.time;
      }
      const live = pts.find((x) => x.live);
      if (live) kept = kept.filter((p) => Date.parse(live.time) - Date.parse(p.time) <= span);
      sampled.set(key, kept);
      out.set(key, live ? kept.concat([live]) : kept);
    }
    for (const k of sampled.keys()) if (!out.has(k)) sampled.delete(k);
    since = newest;
    return out;
  }

  function render(status, history, cands, lists) {
    const main = document.getElementById('routes');
    const series = merge(history);
    if (cands.length === 0) {
      main.replaceChildren(el('p', { class: 'empty', text: 'No route has a candidate: nothing is mirrored.' }));
      main.dataset.layout = '';
      cards.clear();
      chaosBanner([]);
      return;
    }
    const seen = new Set();
    const chaos = [];
    const sections = [];
    let route = null;
    cands.forEach(([r, c], i) => {
      const key = r.name + '\0' + c.name;
      seen.add(key);
      let card = cards.get(key);
      if (!card) {
        card = newCard();
        cards.set(key, card);
      }
      if (route !== r.name) {
        route = r.name;
        sections.push(el('h2', { class: 'route' }, 'route ', el('span', { class: 'name', text: r.name })));
      }
      updateCard(card, r, c, series.get(key) || [], lists[i], history.step_seconds);
      sections.push(card.root);
      if (c.chaos) chaos.push([r.name, c.name, c.chaos]);
    });
    for (const k of cards.keys()) if (!seen.has(k)) cards.delete(k);
    // The cards are put in place only when the set of candidates changed: moving them would take
    // the keyboard focus away from the row a reader is on.
    const layout = JSON.stringify([...seen]);
    if (layout !== main.dataset.layout) {
      main.replaceChildren(...sections);
      main.dataset.layout = layout;
    }
    chaosBanner(chaos);
  }

  function chaosBanner(list) {
    const b = document.getElementById('chaos');
    if (list.length === 0) {
      b.hidden = true;
      b.replaceChildren();
      return;
    }
    b.hidden = false;
    b.replaceChildren(el('strong', { text: 'Chaos injection is on. ' }),
      'Faults are injected into these candidates\u2019 answers on purpose, so their disagreements and errors are partly made up: ',
      el('span', null, list.map(([r, c, ch], i) => [i ? '; ' : '', el('b', { text: r + ' / ' + c }), ' (' + chaosWhat(ch) + ')'])), '.');
  }

  function chaosWhat(ch) {
    const w = [];
    if (ch.latency_ms || ch.jitter_ms) w.push('+' + ch.latency_ms + ' ms latency' + (ch.jitter_ms ? ' + up to ' + ch.jitter_ms + ' ms' : ''));
    if (ch.error_rate) w.push(pct(ch.error_rate) + ' errors');
    if (ch.flip_rate) w.push(pct(ch.flip_rate) + ' flipped predictions');
    if (ch.perturb_rate) w.push(pct(ch.perturb_rate) + ' perturbed by ±' + pct(ch.perturb));
    return w.join(', ');
  }

  // A card is one candidate: headline, tiles, plot, top fields and latest disagreements.

  function newCard() {
    const card = {
      head: el('div', { class: 'card-head' }),
      tiles: el('div', { class: 'tiles' }),
      plot: el('div', { class: 'panel plot' }),
      fields: el('div', { class: 'panel fields' }),
      listBody: el('div'),
      paused: el('span', { class: 'paused' }),
      listSig: null,
    };
    card.list = el('div', { class: 'panel list' }, el('h4', null, 'Latest disagreements', card.paused), card.listBody);
    card.root = el('section', { class: 'card' }, card.head, card.tiles,
      el('div', { class: 'row' }, card.plot, card.fields), card.list);
    return card;
  }

  function updateCard(card, r, c, points, list, step) {
    card.head.replaceChildren(...[
      el('h3', null, el('span', { class: 'cand', text: c.name }), el('span', { class: 'vs', text: ' vs the primary of ' + r.name })),
      verdictBadge(c.verdict), c.chaos ? el('span', { class: 'badge chaos-tag', text: 'chaos on' }) : null].filter(Boolean));
    card.tiles.replaceChildren(...tiles(c));
    card.plot.replaceChildren(el('h4', { text: 'Disagreement rate over time' }), plot(points, c.verdict, step));
    card.fields.replaceChildren(el('h4', { text: 'Fields that disagree most' }), topFields(c));
    const recs = list && !list.error ? list.disagreements || [] : null;
    const sig = recs ? recs.slice(0, LIST_LIMIT).map((d) => d.id + '|' + d.time).join(',') : 'none:' + (list && list.error);
    // While a disagreement is open the list stands still, so that it does not move under the reader.
    const reading = card.listBody.querySelector('tr.rec.open') !== null;
    card.paused.textContent = reading && sig !== card.listSig ? ' · newer ones arrived: close the open one to see them' : '';
    if (sig !== card.listSig && !reading) {
      card.listSig = sig;
      card.listBody.replaceChildren(latest(list, recs));
    }
  }

  const verdictText = { promote: 'promote', stop: 'stop', 'keep watching': 'keep watching' };

  function verdictBadge(v) {
    if (!v) return null;
    const cls = v.decision === 'promote' ? 'good' : v.decision === 'stop' ? 'bad' : 'watch';
    return el('span', { class: 'badge verdict ' + cls, title: 'goal: disagreement below ' + pct(v.threshold) },
      'verdict: ' + (verdictText[v.decision] || v.decision));
  }

  function tile(label, big, bigClass, ...lines) {
    return el('div', { class: 'tile' }, el('div', { class: 'label', text: label }),
      el('div', { class: 'big ' + (bigClass || ''), text: big }),
      lines.filter((l) => l !== null).map((l) => el('div', { class: 'sub' }, l)));
  }

  // kv is a label and its value; the space after it lets a line of them wrap between pairs.
  function kv(k, v, cls) {
    return [el('span', { class: 'kv ' + (cls || '') }, el('span', { class: 'k', text: k }), ' ', el('span', { class: 'v', text: v })), ' '];
  }

  function tiles(c) {
    const cmp = c.comparisons || {};
    const n = (cmp.agree || 0) + (cmp.disagree || 0);
    const out = [];
    out.push(tile('Disagreement rate', n ? pct(c.disagreement_rate) : '–', 'rate',
      el('span', { title: 'Wilson 95% interval: right for one look at a fixed number of comparisons' }, kv('95% CI', range(c.ci95))),
      el('span', { title: 'always-valid 95% confidence sequence: right however often you look' }, kv('always-valid', range(c.cs95))),
      n ? 'of ' + num(n) + ' compared answers' : 'no answers compared yet'));
    const other = Object.entries(cmp).filter(([k, v]) => k !== 'agree' && k !== 'disagree' && v > 0);
    out.push(tile('Comparisons', num(Object.values(cmp).reduce((a, b) => a + b, 0)), null,
      [kv('agree', num(cmp.agree), 'good'), kv('disagree', num(cmp.disagree), 'bad')],
      other.length ? other.map(([k, v]) => kv(k.replace(/_/g, ' '), num(v), 'warn')) : null));
    const sh = c.shadows || {};
    out.push(tile('Shadow requests', num(sh.ok), null,
      [kv('ok', num(sh.ok)), kv('error', num(sh.error), sh.error ? 'bad' : ''), kv('timeout', num(sh.timeout), sh.timeout ? 'bad' : '')],
      [kv('dropped', num(sh.dropped), sh.dropped ? 'warn' : ''), kv('sampled out', num(sh.sampled_out))]));
    const lat = c.latency_delta_ms;
    out.push(tile('Latency difference', lat ? signed(lat.p50, ' ms') : '–', null,
      'candidate − primary, per request (median)',
      lat ? [kv('p95', signed(lat.p95, ' ms')), kv('p99', signed(lat.p99, ' ms'))] : 'no paired answers yet'));
    if (c.verdict) {
      const v = c.verdict;
      out.push(tile('Verdict', verdictText[v.decision] || v.decision, v.decision === 'promote' ? 'good' : v.decision === 'stop' ? 'bad' : 'watch',
        'goal: disagreement below ' + pct(v.threshold),
        v.samples_needed !== undefined && v.samples_needed !== null ? 'about ' + num(v.samples_needed) + ' more comparisons to decide' :
          v.decision === 'keep watching' ? 'undecided' : 'decided by the always-valid interval'));
    }
    if (c.truth) {
      const t = c.truth;
      out.push(tile('Ground truth', t.accuracy_delta === undefined || t.accuracy_delta === null ? '–' : signed(t.accuracy_delta * 100, ' pp'),
        t.accuracy_delta > 0 ? 'good' : t.accuracy_delta < 0 ? 'bad' : '',
        [kv('primary', pct(t.primary_accuracy)), kv('candidate', pct(t.candidate_accuracy))],
        t.accuracy_delta_ci95 ? kv('95% CI', signed(t.accuracy_delta_ci95[0] * 100, '') + ' – ' + signed(t.accuracy_delta_ci95[1] * 100, ' pp')) : null,
        [num(t.labeled) + ' labeled', t.verdict ? ' · ' + t.verdict : '']));
    }
    return out;
  }

  // The plot: the running disagreement rate (line) with its 95% confidence interval (dark band) and
  // its always-valid confidence sequence (light band), and the verdict's goal (dashed).

  function niceCeil(x) {
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    for (const m of [1, 2, 2.5, 5, 10]) if (x <= m * p) return m * p;
    return 10 * p;
  }

  function plot(points, verdict, step) {
    const pts = points.filter((p) => p.agree + p.disagree > 0);
    if (pts.length < 2) {
      return el('p', { class: 'empty', text: 'The plot starts with the first comparisons (a point every ' + (step || 5) + ' s, kept for an hour).' });
    }
    const W = 640, H = 220, L = 52, R = 12, T = 12, B = 26;
    const t0 = Date.parse(pts[0].time), t1 = Date.parse(pts[pts.length - 1].time);
    let top = 0;
    for (const p of pts) top = Math.max(top, p.ci95[1], p.disagreement_rate * 1.5);
    if (verdict) top = Math.max(top, verdict.threshold * 1.25);
    top = niceCeil(Math.max(top, 0.001));
    const x = (t) => L + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (W - L - R));
    const y = (v) => T + (1 - Math.min(v, top) / top) * (H - T - B);
    const xy = (p, v) => x(Date.parse(p.time)).toFixed(1) + ',' + y(v).toFixed(1);
    const band = (lo, hi) => 'M' + pts.map((p) => xy(p, p[hi][1])).join(' L') + ' L' +
      pts.slice().reverse().map((p) => xy(p, p[lo][0])).join(' L') + ' Z';
    const id = 'clip' + ++clipIds;
    const grid = [];
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      const v = top * f;
      grid.push(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      grid.push(svg('text', { class: 'axis', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, pct(v)));
    }
    const ticks = [];
    for (const f of [0, 0.5, 1]) {
      const t = t0 + f * (t1 - t0);
      ticks.push(svg('text', { class: 'axis', x: x(t), y: H - 8, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' }, hm(t)));
    }
    // Each interval's own rate (the disagreements between two points over the comparisons between
    // them): noisier than the running rate, but it moves as soon as the candidate changes.
    const steps = [];
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1], b = pts[i];
      const dn = b.agree + b.disagree - a.agree - a.disagree;
      if (dn > 0) steps.push(svg('circle', { class: 'step', cx: x(Date.parse(b.time)), cy: y((b.disagree - a.disagree) / dn), r: 2 }));
    }
    const last = pts[pts.length - 1];
    const chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img',
      'aria-label': 'disagreement rate over time, now ' + pct(last.disagreement_rate) },
      svg('defs', null, svg('clipPath', { id }, svg('rect', { x: L, y: T, width: W - L - R, height: H - T - B }))),
      grid, ticks,
      svg('g', { 'clip-path': 'url(#' + id + ')' },
        svg('path', { class: 'cs', d: band('cs95', 'cs95') }),
        svg('path', { class: 'ci', d: band('ci95', 'ci95') }),
        verdict ? svg('line', { class: 'goal', x1: L, x2: W - R, y1: y(verdict.threshold), y2: y(verdict.threshold) }) : null,
        steps,
        svg('polyline', { class: 'rate', points: pts.map((p) => xy(p, p.disagreement_rate)).join(' ') }),
        svg('circle', { class: 'now', cx: x(t1), cy: y(last.disagreement_rate), r: 3.5 })));
    const legend = el('div', { class: 'legend' },
      el('span', { class: 'sw rate' }), 'rate since start',
      el('span', { class: 'sw step' }), 'rate in each ' + (step || 5) + ' s',
      el('span', { class: 'sw ci' }), '95% CI',
      el('span', { class: 'sw cs' }), 'always-valid 95%',
      verdict ? [el('span', { class: 'sw goal' }), 'goal ' + pct(verdict.threshold)] : null);
    return el('div', null, chart, legend);
  }

  function topFields(c) {
    const f = c.top_fields || [];
    if (f.length === 0) {
      return el('p', { class: 'empty', text: (c.comparisons && c.comparisons.disagree) ?
        'No field has disagreed often enough yet (3 times).' : 'No disagreement yet.' });
    }
    let rest = 1;
    const rows = f.map((x) => {
      rest -= x.share;
      return fieldRow(el('code', { text: x.field }), x.count, x.share);
    });
    rest = Math.round(rest * 1e6) / 1e6;
    if (rest > 0.0005) rows.push(fieldRow(el('span', { class: 'muted', text: 'other fields' }), null, rest));
    return el('table', { class: 'fieldtab' },
      el('thead', null, el('tr', null, el('th', { text: 'field' }), el('th', { class: 'n', text: 'count' }), el('th', { text: 'share of field differences' }))),
      el('tbody', null, rows));
  }

  function fieldRow(name, count, share) {
    return el('tr', null, el('td', { class: 'field' }, name), el('td', { class: 'n', text: count === null ? '' : num(count) }),
      el('td', { class: 'share' }, el('span', { class: 'bar' }, el('span', { style: 'width:' + Math.max(1, Math.round(share * 100)) + '%' })),
        el('span', { class: 'pc', text: pct(share) })));
  }

  // The latest disagreements: one row each, the differing paths side by side; a click shows both
  // answers in full, the differing values marked.

  function latest(list, recs) {
    if (!list || list.error) return el('p', { class: 'empty', text: 'The latest disagreements are not available' + (list ? ': ' + list.error : '') + '.' });
    if (recs.length === 0) return el('p', { class: 'empty', text: 'No disagreement yet.' });
    const at = wanted === null ? -1 : recs.findIndex((d) => d.id === wanted);
    recs = recs.slice(0, Math.max(LIST_LIMIT, at + 1));
    const body = el('tbody');
    for (const d of recs) {
      const key = list.route + '\0' + list.candidate + '\0' + d.id + '\0' + d.time;
      const detail = el('tr', { class: 'detail' }, el('td', { colspan: 5 }));
      const row = el('tr', { class: 'rec', tabindex: 0, title: 'click: both answers in full' },
        el('td', { class: 'when' }, clock(d.time)),
        el('td', { class: 'id' }, el('code', { text: d.id || '(no id)', title: d.id || '' }),
          d.kind !== 'disagreement' ? el('span', { class: 'badge bad', text: d.kind.replace(/_/g, ' ') }) : null,
          d.chaos ? el('span', { class: 'badge chaos-tag', text: 'chaos: ' + d.chaos }) : null),
        diffs(d));
      const toggle = () => {
        if (open.has(key)) {
          open.delete(key);
          detail.firstChild.replaceChildren();
          row.classList.remove('open');
        } else {
          open.add(key);
          detail.firstChild.replaceChildren(answers(d));
          row.classList.add('open');
        }
      };
      const click = () => {
        toggle();
        history.replaceState(null, '', open.has(key) ? '#open=' + encodeURIComponent(d.id) : location.pathname + location.search);
      };
      row.addEventListener('click', click);
      row.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); click(); } });
      if (wanted !== null && d.id === wanted) open.add(key);
      if (open.has(key)) {
        detail.firstChild.append(answers(d));
        row.classList.add('open');
      }
      body.append(row, detail);
    }
    return el('div', null,
      el('table', { class: 'rectab' },
        el('colgroup', null, el('col', { class: 'when' }), el('col', { class: 'id' }), el('col', { class: 'path' }), el('col'), el('col')),
        el('thead', null, el('tr', null, el('th', { text: 'time' }), el('th', { text: 'request id' }), el('th', { text: 'differing field' }),
          el('th', { class: 'p', text: 'primary' }), el('th', { class: 'c', text: 'candidate' }))),
        body),
      el('p', { class: 'note', text: 'The newest ' + recs.length + ' (the console keeps ' + list.size + ' per candidate, bodies cut at ' +
        Math.round(list.max_body / 1024) + ' KiB, redacted as in the records). Click a row for both answers.' }));
  }

  // diffs returns the row's three last cells: each differing path, its primary value and its
  // candidate value, one line each so that they line up.
  function diffs(d) {
    const ds = d.diff || [];
    if (ds.length === 0) {
      const why = (d.candidate_response && d.candidate_response.error) || 'the answers differ as a whole';
      return el('td', { colspan: 3, class: 'why', text: why });
    }
    const shown = ds.slice(0, 4);
    const line = (cls, v) => el('div', { class: 'line ' + cls, text: v, title: v });
    const more = ds.length > 4 ? el('div', { class: 'line more', text: '… and ' + (ds.length - 4) + ' more' }) : null;
    return [
      el('td', { class: 'paths' }, shown.map((x) => line('path', x.path || '(whole answer)')), more),
      el('td', { class: 'vals' }, shown.map((x) => line('pv', compact(x.primary)))),
      el('td', { class: 'vals' }, shown.map((x) => line('cv', compact(x.candidate))))];
  }

  function answers(d) {
    const marks = new Set((d.diff || []).map((x) => x.path));
    const side = (title, r, cls) => el('div', { class: 'answer ' + cls },
      el('div', { class: 'answer-head' }, el('b', { text: title }),
        ' status ' + (r.status || '–') + ' · ' + (r.latency_ms !== undefined ? r.latency_ms.toFixed(1) + ' ms' : '') +
        (r.truncated ? ' · cut short' : '')),
      r.error ? el('div', { class: 'why', text: r.error }) : null,
      pretty(r.body, marks));
    const req = d.request || {};
    return el('div', { class: 'answers' },
      el('div', { class: 'request' }, el('b', { text: 'request ' }),
        el('code', { text: (req.method || '') + ' ' + (req.path || '') + (req.query ? '?' + req.query : '') }),
        req.body !== undefined && req.body !== null ? el('code', { class: 'reqbody', text: ' ' + compact(req.body) }) : null),
      el('div', { class: 'pair' }, side('primary', d.primary_response || {}, 'p'), side('candidate', d.candidate_response || {}, 'c')));
  }

  // pretty writes v as indented JSON into a <pre>, wrapping each value whose path (compare's syntax:
  // a.b[0]["odd.key"]) is in marks in a <mark>.
  function pretty(v, marks) {
    const pre = el('pre', { class: 'json' });
    if (v === undefined || v === null) {
      pre.append('null');
      return pre;
    }
    walk(pre, v, '', 0, marks);
    return pre;
  }

  function walk(out, v, path, depth, marks) {
    let to = out;
    if (marks.has(path) && path !== '') {
      to = el('mark');
      out.append(to);
    }
    const pad = (n) => '  '.repeat(n);
    if (Array.isArray(v)) {
      if (v.length === 0) return to.append('[]');
      to.append('[\n');
      v.forEach((x, i) => {
        to.append(pad(depth + 1));
        walk(to, x, path + '[' + i + ']', depth + 1, marks);
        to.append(i < v.length - 1 ? ',\n' : '\n');
      });
      to.append(pad(depth) + ']');
    } else if (v !== null && typeof v === 'object' && !(v instanceof Num)) {
      const keys = Object.keys(v);
      if (keys.length === 0) return to.append('{}');
      to.append('{\n');
      keys.forEach((k, i) => {
        to.append(pad(depth + 1), el('span', { class: 'key', text: JSON.stringify(k) }), ': ');
        walk(to, v[k], join(path, k), depth + 1, marks);
        to.append(i < keys.length - 1 ? ',\n' : '\n');
      });
      to.append(pad(depth) + '}');
    } else if (v instanceof Num) {
      to.append(el('span', { class: 'j-number', text: v.src }));
    } else {
      to.append(el('span', { class: 'j-' + (v === null ? 'null' : typeof v), text: JSON.stringify(v) }));
    }
  }

  // join appends key k to path as compare writes paths (compare/path.go appendPath).
  function join(path, k) {
    if (k === '' || /[.[\]"]/.test(k) || k === '*' || (path === '' && k[0] === '$')) return path + '[' + JSON.stringify(k) + ']';
    return path === '' ? k : path + '.' + k;
  }

  poll();
})();
