/**
 * The dashboard's HTML: one page with its style and script inline (the binary serves everything;
 * nothing is fetched from elsewhere), laid out in cards that stack on a phone. The script polls
 * /dashboard/data every second and renders with textContent only: no text from the data is ever
 * parsed as HTML. Charts are inline SVG.
 */

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1b1f24;--muted:#667085;--line:#d0d5dd;--ok:#12805c;--warn:#b54708;--bad:#c01048;--accent:#2e59d9}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1b2027;--fg:#e6e8eb;--muted:#98a2b3;--line:#344054;--accent:#7a9cff}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.75rem 1rem;border-bottom:1px solid var(--line);background:var(--card)}
header h1{font-size:1.1rem;margin:0}header .grow{flex:1}.muted{color:var(--muted)}
main{display:grid;gap:1rem;padding:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,22rem),1fr))}
section{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem 1rem;min-width:0}
section.wide{grid-column:1/-1}h2{font-size:.95rem;margin:0 0 .5rem}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-weight:600;color:var(--muted)}td.n,th.n{text-align:right}.scroll{overflow-x:auto}
.pill{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:.8rem;border:1px solid currentColor}
.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}
.charts{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,16rem),1fr))}.chart{margin:0}
.chart figcaption,.chart .axis{display:flex;justify-content:space-between;color:var(--muted);font-size:.8rem}.chart svg{width:100%;height:70px;display:block}
.chart rect.first{fill:var(--accent)}.chart rect.second{fill:var(--warn);opacity:.55}.chart line{stroke:var(--line)}
dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem .75rem;margin:0}dt{color:var(--muted)}dd{margin:0}
button{font:inherit;padding:.3rem .8rem;border-radius:.35rem;border:1px solid var(--line);background:var(--bg);color:var(--fg);cursor:pointer}
button.danger{border-color:var(--bad);color:var(--bad)}form.login{max-width:22rem;margin:10vh auto;display:grid;gap:.6rem}
input{font:inherit;padding:.45rem;border:1px solid var(--line);border-radius:.35rem;background:var(--card);color:var(--fg)}
#error{color:var(--bad)}
`;

const SCRIPT = `
'use strict';
const CSRF = document.querySelector('meta[name=csrf]').content;
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const k of kids) e.append(k === null || k === undefined ? '' : k instanceof Node ? k : String(k));
  return e;
}
const num = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en'));
function dur(s) {
  if (s === null || s === undefined) return '–';
  if (s < 60) return Math.round(s) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
}
const mb = (b) => (b === null || b === undefined ? '–' : (b / 1048576).toFixed(1) + ' MiB');
function pill(text, kind) { return el('span', { class: 'pill ' + kind }, text); }
const stateKind = (s) => (s === 'running' || s === 'ready' || s === 'closed' ? 'ok' : s === 'half-open' || s === 'starting' || s === 'backoff' ? 'warn' : 'bad');
function rows(tbody, list, make) { tbody.replaceChildren(...list.map(make)); }
function unavailable(part, where) {
  if (part && part.ok) return false;
  where.replaceChildren(el('p', { class: 'bad' }, part ? part.error : 'not available'));
  return true;
}

// One bar per bucket (at least 2 px wide, so a lone busy bucket shows); \`second\`, when given, is
// drawn behind the first in the warning colour (p99 behind p50).
function chart(id, series, second) {
  const svg = $(id);
  const W = 360, H = 70;
  const all = series.concat(second || []).filter((v) => v !== null);
  const max = Math.max(1, ...all);
  const ns = 'http://www.w3.org/2000/svg';
  const mk = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; };
  const step = W / Math.max(1, series.length);
  const bars = (vals, cls) => vals.flatMap((v, i) => {
    if (v === null || v <= 0) return [];
    const h = Math.max(1, (v / max) * (H - 4));
    return [mk('rect', { x: (i * step).toFixed(2), y: (H - 1 - h).toFixed(2), width: Math.max(2, step).toFixed(2), height: h.toFixed(2), class: cls })];
  });
  svg.replaceChildren(mk('line', { x1: 0, y1: H - 1, x2: W, y2: H - 1 }), ...(second ? bars(second, 'second') : []), ...bars(series, 'first'));
  $(id + '-max').textContent = 'max ' + num(Math.round(max * 100) / 100);
}

function render(d) {
  $('updated').textContent = 'updated ' + new Date(d.time).toLocaleTimeString();
  $('version').textContent = 'v' + d.version;
  // Supervisor and children.
  const sup = $('supervisor');
  if (!d.supervised) {
    sup.replaceChildren(el('p', { class: 'muted' }, 'robbie serve without a supervisor'));
    $('children').replaceChildren();
  } else if (!unavailable(d.status, sup)) {
    const s = d.status.value.supervisor;
    sup.replaceChildren(el('dl', {},
      el('dt', {}, 'state'), el('dd', { id: 'sup-state' }, pill(s.state, stateKind(s.state))),
      el('dt', {}, 'pid'), el('dd', { id: 'sup-pid' }, s.pid),
      el('dt', {}, 'uptime'), el('dd', {}, dur(s.uptime_s)),
      el('dt', {}, 'memory'), el('dd', {}, mb(s.rss_bytes))));
    rows($('children'), d.status.value.children, (c) => el('tr', { 'data-child': c.id, 'data-role': c.role },
      el('td', {}, c.id), el('td', {}, c.role), el('td', { class: 'state' }, pill(c.state, stateKind(c.state))),
      el('td', { class: 'n pid' }, c.pid ?? '–'), el('td', { class: 'n' }, dur(c.uptime_s)),
      el('td', { class: 'n restarts' }, c.restarts.total), el('td', { class: 'n' }, mb(c.rss_bytes)),
      el('td', {}, c.last_exit ? c.last_exit.reason + (c.last_exit.signal ? ' (' + c.last_exit.signal + ')' : c.last_exit.code !== null ? ' (' + c.last_exit.code + ')' : '') : '–')));
  }
  // Traffic.
  if (!unavailable(d.traffic, $('traffic-error'))) {
    $('traffic-error').replaceChildren();
    const t = d.traffic.value, secs = t.bucketMs / 1000;
    // Every bucket of the hour; the data lists only those that saw requests.
    const hour = (f) => {
      const vals = new Array(t.buckets).fill(null);
      for (const p of t.points) vals[Math.round((p.at - t.from) / t.bucketMs)] = f(p);
      return vals;
    };
    chart('c-rate', hour((p) => p.requests / secs));
    chart('c-errors', hour((p) => (100 * p.errors) / p.requests));
    chart('c-latency', hour((p) => p.p50), hour((p) => p.p99));
    $('h-requests').textContent = num(t.hour.requests);
    $('h-errors').textContent = num(t.hour.errors);
    $('h-p50').textContent = t.hour.p50 === null ? '–' : '≤ ' + num(t.hour.p50) + ' ms';
    $('h-p99').textContent = t.hour.p99 === null ? '–' : '≤ ' + num(t.hour.p99) + ' ms';
    const usage = (tbody, map, attr) => rows(tbody, Object.entries(map).sort((a, b) => b[1].requests - a[1].requests),
      ([name, u]) => el('tr', { [attr]: name }, el('td', {}, name), el('td', { class: 'n requests' }, num(u.requests)), el('td', { class: 'n tokens' }, num(u.tokens))));
    usage($('keys'), t.keys, 'data-key');
    usage($('sources'), t.sources, 'data-source');
  }
  // Providers, storage, killswitch.
  rows($('providers'), d.providers, (p) => el('tr', { 'data-provider': p.name }, el('td', {}, p.name), el('td', { class: 'circuit' }, pill(p.circuit, stateKind(p.circuit)))));
  if (!unavailable(d.storage, $('storage'))) {
    const s = d.storage.value;
    $('storage').replaceChildren(el('dl', {},
      el('dt', {}, 'store'), el('dd', {}, s.kind + (s.version === null ? '' : ' (schema ' + s.version + ')')),
      el('dt', {}, 'database'), el('dd', {}, pill(s.database_up ? 'up' : 'down', s.database_up ? 'ok' : 'bad')),
      el('dt', {}, 'outbox'), el('dd', { id: 'outbox' }, num(s.outbox_pending) + (s.outbox_oldest_s ? ' (oldest ' + dur(s.outbox_oldest_s) + ')' : '')),
      el('dt', {}, 'quarantine'), el('dd', { id: 'quarantine' }, num(s.outbox_quarantined) + (s.quarantine_reason ? ': ' + s.quarantine_reason : ''))));
  }
  const ks = $('killswitch');
  if (!unavailable(d.killswitch, ks)) {
    const k = d.killswitch.value;
    ks.replaceChildren(el('p', { id: 'ks-state' }, pill(k.is_active ? 'active: requests are refused' : 'off', k.is_active ? 'bad' : 'ok'), k.is_active && k.reason ? ' ' + k.reason : ''));
    $('ks-toggle').textContent = k.is_active ? 'Deactivate the killswitch' : 'Activate the killswitch';
    $('ks-toggle').dataset.active = String(k.is_active);
  }
  $('reload').hidden = !d.supervised;
  // Latest requests.
  if (!unavailable(d.recent, $('recent-error'))) {
    $('recent-error').replaceChildren();
    rows($('recent'), d.recent.value, (r) => el('tr', {},
      el('td', {}, new Date(r.timestamp).toLocaleTimeString()),
      el('td', { class: 'n' }, pill(r.http_status ?? '–', r.http_status !== null && r.http_status < 400 ? 'ok' : r.http_status !== null && r.http_status < 500 ? 'warn' : 'bad')),
      el('td', {}, r.key_name ?? '(no key)'), el('td', {}, r.source), el('td', {}, r.ai_model ?? '–'),
      el('td', { class: 'n' }, num(r.tokens_used)), el('td', { class: 'n' }, num(r.processing_time_ms) + ' ms')));
  }
}

let failures = 0;
async function poll() {
  try {
    const res = await fetch('/dashboard/data', { credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401) { location.reload(); return; }
    if (!res.ok) throw new Error('HTTP ' + res.status);
    render(await res.json());
    failures = 0;
    $('error').textContent = '';
  } catch (e) {
    failures++;
    $('error').textContent = 'cannot reach robbie (' + e.message + '); retrying';
  } finally {
    setTimeout(poll, failures ? Math.min(10000, 1000 * 2 ** failures) : 1000);
  }
}

async function act(path, body) {
  const res = await fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-csrf-token': CSRF }, body: JSON.stringify(body || {}) });
  const out = await res.json().catch(() => ({}));
  $('error').textContent = res.ok ? '' : (out.reason || out.error || 'HTTP ' + res.status);
}
$('ks-toggle').addEventListener('click', () => {
  const active = $('ks-toggle').dataset.active !== 'true';
  const reason = active ? prompt('Why? (every request is refused until it is deactivated)') : null;
  if (active && !reason) return;
  act('/dashboard/killswitch', { active, reason });
});
$('reload').addEventListener('click', () => { if (confirm('Replace every child with a new one, without a gap?')) act('/dashboard/reload'); });
poll();
`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function shell(nonce: string, title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>${head}<style nonce="${nonce}">${STYLE}</style></head>
<body>${body}</body></html>`;
}

/** The login form (or, with `form` false, only the message): the admin key makes a session. */
export function loginPage(nonce: string, message: string | undefined, form: boolean): string {
  const note = message ? `<p id="error">${escapeHtml(message)}</p>` : '';
  const fields = form
    ? `<label for="key">Admin key</label><input id="key" name="key" type="password" autocomplete="current-password" required autofocus><button type="submit">Sign in</button>`
    : '';
  return shell(
    nonce,
    'robbie — sign in',
    '',
    `<form class="login" method="post" action="/dashboard/login"><h1>robbie</h1>${note}${fields}</form>`,
  );
}

const table = (id: string, heads: string[]) =>
  `<div class="scroll"><table><thead><tr>${heads
    .map((h) => (h.startsWith('#') ? `<th class="n">${h.slice(1)}</th>` : `<th>${h}</th>`))
    .join('')}</tr></thead><tbody id="${id}"></tbody></table></div>`;

const chartFigure = (id: string, caption: string) =>
  `<figure class="chart"><figcaption><span>${caption}</span><span id="${id}-max"></span></figcaption><svg id="${id}" viewBox="0 0 360 70" preserveAspectRatio="none" role="img" aria-label="${caption}"></svg><div class="axis"><span>1 h ago</span><span>now</span></div></figure>`;

export function dashboardPage(nonce: string, csrf: string, version: string): string {
  const body = `
<header><h1>robbie</h1><span class="muted" id="version">v${escapeHtml(version)}</span><span class="grow"></span>
<span class="muted" id="updated">loading…</span>
<form method="post" action="/dashboard/logout"><button type="submit">Sign out</button></form></header>
<p id="error" role="alert"></p>
<main>
<section><h2>Supervisor</h2><div id="supervisor"></div></section>
<section><h2>Killswitch</h2><div id="killswitch"></div><p><button id="ks-toggle" class="danger" type="button">Killswitch</button>
<button id="reload" type="button" hidden>Reload (no gap)</button></p></section>
<section class="wide"><h2>Processes</h2>${table('children', ['child', 'role', 'state', '#pid', '#uptime', '#restarts', '#memory', 'last exit'])}</section>
<section class="wide"><h2>The last hour</h2><div id="traffic-error"></div>
<dl><dt>requests</dt><dd id="h-requests">–</dd><dt>errors (5xx)</dt><dd id="h-errors">–</dd><dt>latency p50</dt><dd id="h-p50">–</dd><dt>latency p99</dt><dd id="h-p99">–</dd></dl>
<div class="charts">${chartFigure('c-rate', 'requests/s')}${chartFigure('c-errors', 'errors %')}${chartFigure('c-latency', 'latency p50 / p99 (ms)')}</div></section>
<section><h2>Usage per key (last hour)</h2>${table('keys', ['key', '#requests', '#tokens'])}</section>
<section><h2>Usage per source (last hour)</h2>${table('sources', ['source', '#requests', '#tokens'])}</section>
<section><h2>Providers</h2>${table('providers', ['provider', 'circuit'])}</section>
<section><h2>Storage</h2><div id="storage"></div></section>
<section class="wide"><h2>Latest requests</h2><div id="recent-error"></div>${table('recent', ['time', '#status', 'key', 'source', 'model', '#tokens', '#duration'])}</section>
</main>
<script nonce="${nonce}">${SCRIPT}</script>`;
  return shell(nonce, 'robbie', `<meta name="csrf" content="${escapeHtml(csrf)}">`, body);
}
