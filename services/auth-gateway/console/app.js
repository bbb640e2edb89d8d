// mt-serve operators' console: plain JavaScript, no libraries, nothing
// loaded from elsewhere. Talks to the admin API of the gateway that serves it.
'use strict';

const LIMITS = ['max_concurrent_requests', 'daily_token_limit', 'requests_per_minute', 'tokens_per_minute'];
const LIMIT_LABELS = {
    max_concurrent_requests: 'Max concurrent requests',
    daily_token_limit: 'Daily tokens',
    requests_per_minute: 'Requests / minute',
    tokens_per_minute: 'Tokens / minute',
};
const TIERS = ['free', 'pro', 'enterprise'];
const PAGE = 20;

const state = { token: sessionStorage.getItem('mt-admin-token') || '', tenants: [], page: 0, filter: '',
                liveTimer: null };

const $ = (sel) => document.querySelector(sel);

function h(tag, attrs = {}, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else if (k === 'text') el.textContent = v;
        else el.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat()) {
        if (kid === null || kid === undefined || kid === false) continue;
        el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
}

function fmt(n) {
    if (n === null || n === undefined) return '—';
    return Number(n).toLocaleString('en-US');
}

function limitText(v) {
    return v === null || v === undefined ? 'tier' : v === 0 ? 'unlimited' : fmt(v);
}

// ---------------------------------------------------------------- messages

function showBanner(msg) {
    const b = $('#banner');
    b.textContent = msg;
    b.hidden = !msg;
}

class ApiError extends Error {
    constructor(status, message, code) {
        super(message);
        this.status = status;
        this.code = code;
    }
}

// The admin API; errors come in OpenAI's shape. A 401 signs out with a clear
// message, never a blank page.
async function api(method, path, body) {
    let r;
    try {
        r = await fetch(path, {
            method,
            headers: Object.assign({ Authorization: 'Bearer ' + state.token },
                                   body !== undefined ? { 'Content-Type': 'application/json' } : {}),
            body: body !== undefined ? JSON.stringify(body) : undefined,
        });
    } catch (e) {
        throw new ApiError(0, 'The gateway did not answer (' + e.message + ').', 'network');
    }
    let j = null;
    const text = await r.text();
    try { j = text ? JSON.parse(text) : null; } catch (e) { j = null; }
    if (!r.ok) {
        const err = j && j.error ? j.error : {};
        const msg = err.message || ('HTTP ' + r.status);
        if (r.status === 401) {
            signOut('The admin token was refused (401 ' + (err.code || 'unauthorized') +
                    '). Use an admin or viewer token: `make run` prints one, MT_ADMIN_TOKEN enters the first.');
        }
        throw new ApiError(r.status, msg, err.code);
    }
    return j;
}

function failed(e) {
    if (e && e.status === 401) return;          // signOut said it
    showBanner(e && e.message ? e.message : String(e));
}

// ---------------------------------------------------------------- sign-in

function signOut(message) {
    state.token = '';
    sessionStorage.removeItem('mt-admin-token');
    showBanner('');
    const err = $('#signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    show('signin');
}

async function signIn(token) {
    state.token = token;
    $('#signin-error').hidden = true;
    try {
        await api('GET', '/admin/v1/tenants');
    } catch (e) {
        if (e.status !== 401) {
            state.token = '';
            const err = $('#signin-error');
            err.textContent = 'Could not sign in: ' + e.message;
            err.hidden = false;
        }
        return;
    }
    sessionStorage.setItem('mt-admin-token', token);
    if (!location.hash || location.hash === '#signin') location.hash = '#tenants';
    else route();
}

// ---------------------------------------------------------------- views

function show(name) {
    for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + name;
    $('#nav').hidden = name === 'signin';
    for (const a of document.querySelectorAll('#nav a'))
        a.classList.toggle('active', a.id === 'nav-' + (name === 'keys' ? 'tenants' : name));
    if (name !== 'live' && state.liveTimer) {
        clearInterval(state.liveTimer);
        state.liveTimer = null;
    }
    if (name === 'signin') $('#signin-token').focus();
}

function route() {
    if (!state.token) return signOut('');
    showBanner('');
    const [name, arg] = location.hash.replace(/^#/, '').split('/');
    const run = { tenants: tenantsView, keys: () => keysView(arg), usage: usageView, live: liveView };
    (run[name] || tenantsView)().catch(failed);
}

// ---- Tenants

async function loadTenants() {
    const j = await api('GET', '/admin/v1/tenants');
    state.tenants = (j && j.data) || [];
    state.tenants.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

function tenantForm(t, done) {
    const create = !t;
    const name = h('input', { id: 'tf-name', value: t ? t.name : '', required: true, maxlength: 100 });
    const tier = h('select', { id: 'tf-tier' }, TIERS.map((x) => h('option', { value: x, selected: t && t.tier === x }, x)));
    if (t && !TIERS.includes(t.tier)) tier.append(h('option', { value: t.tier, selected: true }, t.tier));
    const inputs = {};
    const rows = [h('label', { for: 'tf-name' }, 'Name'), name, h('label', { for: 'tf-tier' }, 'Tier'), tier];
    for (const l of LIMITS) {
        inputs[l] = h('input', { id: 'tf-' + l, type: 'number', min: 0, step: 1,
                                 value: t && t[l] !== null && t[l] !== undefined ? t[l] : '',
                                 placeholder: "tier's value" });
        rows.push(h('label', { for: 'tf-' + l }, LIMIT_LABELS[l] + ' (0 = unlimited)'), inputs[l]);
    }
    const err = h('p', { class: 'error', id: 'tf-error', hidden: true });
    const form = h('form', { class: 'grid', id: 'tenant-form' }, rows,
        h('span'), h('div', { class: 'row' },
            h('button', { type: 'submit', class: 'primary', id: 'tf-submit' }, create ? 'Create tenant' : 'Save'),
            h('button', { type: 'button', onclick: () => done(null) }, 'Cancel')), h('span'), err);
    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const body = {};
        if (create || name.value !== t.name) body.name = name.value;
        if (create || tier.value !== t.tier) body.tier = tier.value;
        for (const l of LIMITS) {
            const v = inputs[l].value.trim();
            const val = v === '' ? null : Number(v);
            if (create) { if (val !== null) body[l] = val; }
            else if (val !== (t[l] === undefined ? null : t[l])) body[l] = val;
        }
        try {
            const r = create ? await api('POST', '/admin/v1/tenants', body)
                             : await api('PATCH', '/admin/v1/tenants/' + t.id, body);
            done(r);
        } catch (e) {
            if (e.status === 401) return;
            err.textContent = e.message;
            err.hidden = false;
        }
    });
    return form;
}

function keyNotice(key) {
    const input = h('input', { id: 'new-key', class: 'mono', readonly: true, value: key, size: 60 });
    const copied = h('span', { class: 'muted', id: 'copied' });
    return h('div', { class: 'notice', id: 'key-notice' },
        h('strong', {}, 'New API key — shown once, only its hash is stored. Copy it now:'),
        h('div', { class: 'row' }, input,
          h('button', { type: 'button', id: 'copy-key', onclick: async () => {
              input.select();
              try { await navigator.clipboard.writeText(key); copied.textContent = 'copied'; }
              catch (e) { document.execCommand && document.execCommand('copy'); copied.textContent = 'selected: press Ctrl+C'; }
          } }, 'Copy'), copied));
}

async function tenantsView(notice) {
    show('tenants');
    await loadTenants();
    const v = $('#view-tenants');
    const search = h('input', { id: 'tenant-search', type: 'search', placeholder: 'search name, id or tier', value: state.filter });
    const table = h('div', { id: 'tenant-table' });
    const formBox = h('div', { id: 'form-box' });
    const render = () => {
        const f = state.filter.toLowerCase();
        const list = state.tenants.filter((t) => !f || t.name.toLowerCase().includes(f) || t.id.includes(f) || t.tier.includes(f));
        const pages = Math.max(1, Math.ceil(list.length / PAGE));
        if (state.page >= pages) state.page = pages - 1;
        const rows = list.slice(state.page * PAGE, state.page * PAGE + PAGE).map((t) => h('tr', { 'data-id': t.id },
            h('td', {}, h('a', { href: '#keys/' + t.id, class: 'tenant-name' }, t.name)),
            h('td', {}, t.tier),
            LIMITS.map((l) => h('td', { class: 'num', title: 'effective: ' + limitText(t.effective ? t.effective[l] : null) },
                                limitText(t[l]))),
            h('td', { class: 'mono muted' }, t.id),
            h('td', {}, h('div', { class: 'row' },
                h('button', { type: 'button', class: 'edit', onclick: () => {
                    formBox.replaceChildren(h('h2', {}, 'Edit ' + t.name), tenantForm(t, (r) => {
                        formBox.replaceChildren();
                        if (r) tenantsView().catch(failed);
                    }));
                } }, 'Edit'),
                h('a', { href: '#keys/' + t.id }, 'Keys'),
                h('button', { type: 'button', class: 'danger delete', onclick: async () => {
                    if (!confirm('Delete tenant ' + t.name + '? Its keys are revoked.')) return;
                    try { await api('DELETE', '/admin/v1/tenants/' + t.id); await tenantsView(); }
                    catch (e) { failed(e); }
                } }, 'Delete')))));
        table.replaceChildren(
            h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Tier'),
                LIMITS.map((l) => h('th', { class: 'num' }, LIMIT_LABELS[l])), h('th', {}, 'Id'), h('th', {}, ''))),
              h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No tenants.')))),
            h('div', { class: 'row' },
              h('button', { type: 'button', id: 'prev', disabled: state.page === 0, onclick: () => { state.page--; render(); } }, 'Previous'),
              h('span', { id: 'page-info' }, `page ${state.page + 1} of ${pages} · ${list.length} tenant${list.length === 1 ? '' : 's'}`),
              h('button', { type: 'button', id: 'next', disabled: state.page + 1 >= pages, onclick: () => { state.page++; render(); } }, 'Next')));
    };
    search.addEventListener('input', () => { state.filter = search.value; state.page = 0; render(); });
    const newBtn = h('button', { type: 'button', class: 'primary', id: 'new-tenant', onclick: () => {
        formBox.replaceChildren(h('h2', {}, 'New tenant'), tenantForm(null, (r) => {
            formBox.replaceChildren();
            if (!r) return;
            tenantsView(h('div', {}, h('p', {}, 'Created tenant ', h('strong', {}, r.name), ' (', h('code', { id: 'created-id' }, r.id), ').'),
                                  keyNotice(r.api_key))).catch(failed);
        }));
    } }, 'New tenant');
    v.replaceChildren(h('h1', {}, 'Tenants'), notice || '', h('div', { class: 'row' }, search, newBtn), formBox, table);
    render();
}

// ---- Keys of a tenant

async function keysView(id, notice) {
    show('keys');
    const v = $('#view-keys');
    const t = await api('GET', '/admin/v1/tenants/' + id);
    const j = await api('GET', '/admin/v1/tenants/' + id + '/keys');
    const keys = (j && j.data) || [];
    const extra = ['name', 'expires_at', 'last_used_at'].filter((f) => keys.some((k) => f in k));
    const revokedAt = (k) => k.revoked_at && Date.parse(k.revoked_at) <= Date.now() ? k.revoked_at : null;
    const rows = keys.map((k) => h('tr', { 'data-key': k.id, class: revokedAt(k) ? 'revoked' : 'live' },
        h('td', { class: 'mono' }, k.prefix + '…'),
        extra.map((f) => h('td', {}, k[f] || '—')),
        h('td', {}, k.created_at),
        h('td', { class: revokedAt(k) ? 'bad' : 'ok' }, revokedAt(k) ? 'revoked ' + k.revoked_at
                                                       : k.revoked_at ? 'live, revoked at ' + k.revoked_at : 'live'),
        h('td', {}, revokedAt(k) ? '' : h('button', { type: 'button', class: 'danger revoke', onclick: async () => {
            if (!confirm('Revoke key ' + k.prefix + '…? Every gateway refuses it within a second.')) return;
            try { await api('DELETE', '/admin/v1/keys/' + k.id); await keysView(id); }
            catch (e) { failed(e); }
        } }, 'Revoke'))));
    v.replaceChildren(
        h('p', {}, h('a', { href: '#tenants' }, '← Tenants')),
        h('h1', {}, 'Keys of ', h('span', { id: 'keys-tenant' }, t.name)),
        h('p', { class: 'muted' }, `tier ${t.tier} · ${t.id}`),
        notice || '',
        h('div', { class: 'row' },
          h('input', { id: 'key-name', placeholder: 'key name (optional)', maxlength: 100 }),
          h('label', {}, 'expires ', h('input', { id: 'key-expires', type: 'date' })),
          h('button', { type: 'button', class: 'primary', id: 'issue-key', onclick: async () => {
            const body = {};
            const kn = $('#key-name').value.trim(), ke = $('#key-expires').value;
            if (kn) body.name = kn;
            if (ke) body.expires_at = ke + 'T00:00:00Z';
            try {
                const k = await api('POST', '/admin/v1/tenants/' + id + '/keys', body);
                await keysView(id, keyNotice(k.api_key));
            } catch (e) { failed(e); }
        } }, 'Issue key')),
        h('table', { id: 'key-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'Prefix'),
            extra.map((f) => h('th', {}, f.replace(/_/g, ' '))), h('th', {}, 'Created'), h('th', {}, 'State'), h('th', {}, ''))),
          h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No keys.')))));
}

// ---- Usage

function isoDate(d) { return d.toISOString().slice(0, 10); }

// A bar chart as inline SVG: points [{label, value}].
function barChart(id, title, points, color) {
    const W = 900, H = 180, L = 60, B = 28, T = 18;
    const max = Math.max(1, ...points.map((p) => p.value));
    const n = Math.max(points.length, 1);
    const bw = (W - L - 10) / n;
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('width', '100%');
    svg.setAttribute('class', 'chart');
    svg.setAttribute('id', id);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', title);
    const add = (tag, attrs, text) => {
        const el = document.createElementNS(NS, tag);
        for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
        if (text !== undefined) el.textContent = text;
        svg.append(el);
        return el;
    };
    add('text', { x: 4, y: 12 }, title);
    for (let i = 0; i <= 4; i++) {
        const y = T + (H - T - B) * (1 - i / 4);
        add('line', { x1: L, x2: W - 10, y1: y, y2: y, stroke: '#e3e6ec' });
        add('text', { x: L - 4, y: y + 3, 'text-anchor': 'end' }, fmt(Math.round(max * i / 4)));
    }
    points.forEach((p, i) => {
        const bh = (H - T - B) * p.value / max;
        const bar = add('rect', { x: L + i * bw + 1, y: H - B - bh, width: Math.max(1, bw - 2), height: bh,
                                  fill: color, class: 'bar-' + id });
        const tip = document.createElementNS(NS, 'title');
        tip.textContent = `${p.label}: ${fmt(p.value)}`;
        bar.append(tip);
    });
    const every = Math.ceil(n / 8);
    points.forEach((p, i) => {
        if (i % every === 0)
            add('text', { x: L + i * bw + bw / 2, y: H - 10, 'text-anchor': 'middle' }, p.label);
    });
    if (!points.length) add('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no usage in this range');
    return svg;
}

async function usageView() {
    show('usage');
    await loadTenants();
    const v = $('#view-usage');
    const now = new Date();
    const tenant = h('select', { id: 'usage-tenant' }, h('option', { value: '' }, 'All tenants (total)'),
                     state.tenants.map((t) => h('option', { value: t.id }, t.name)));
    const from = h('input', { id: 'usage-from', type: 'date', value: isoDate(new Date(now - 86400000)) });
    const to = h('input', { id: 'usage-to', type: 'date', value: isoDate(now) });
    const gran = h('select', { id: 'usage-granularity' }, h('option', { value: 'hour' }, 'per hour'), h('option', { value: 'day' }, 'per day'));
    const out = h('div', { id: 'usage-out' });
    const load = async () => {
        const q = new URLSearchParams({ from: from.value, to: to.value, granularity: gran.value });
        if (tenant.value) q.set('tenant_id', tenant.value);
        const rq = new URLSearchParams({ from: from.value, to: to.value });
        const [s, live, perRow] = await Promise.all([api('GET', '/admin/v1/usage/series?' + q), api('GET', '/admin/v1/live'),
                                                     tenant.value ? null : api('GET', '/admin/v1/usage?' + rq)]);
        // All tenants: each tenant's share of the range, most tokens first
        const per = new Map();
        for (const r of (perRow && perRow.data) || []) {
            const p = per.get(r.tenant_id) || { tokens: 0, requests: 0 };
            p.tokens += r.tokens_used || 0;
            p.requests += r.request_count || 0;
            per.set(r.tenant_id, p);
        }
        const top = [...per.entries()].sort((a, b) => b[1].tokens - a[1].tokens).slice(0, 20);
        const label = (ts) => gran.value === 'day' ? ts.slice(5, 10) : ts.slice(5, 13).replace('T', ' ') + 'h';
        // Every hour or day of the range gets a bar, empty ones too
        const step = gran.value === 'day' ? 86400000 : 3600000;
        const start = Date.parse(from.value + 'T00:00:00Z'), end = Date.parse(to.value + 'T00:00:00Z') + 86400000;
        const byTs = new Map(s.data.map((d) => [d.timestamp, d]));
        let rows = s.data;
        if (start < end && (end - start) / step <= 2000) {
            rows = [];
            for (let t = start; t < end; t += step) {
                const ts = new Date(t).toISOString().replace('.000Z', 'Z');
                rows.push(byTs.get(ts) || { timestamp: ts, tokens_used: 0, request_count: 0 });
            }
        }
        const tot = s.total || {};
        const ref = live.refusals || { total: {}, tenants: [] };
        const reasons = Object.keys(ref.total || {});
        const name = (id) => (state.tenants.find((t) => t.id === id) || {}).name || id;
        const refRows = (tenant.value ? ref.tenants.filter((r) => r.tenant_id === tenant.value) : ref.tenants);
        out.replaceChildren(
            h('div', { class: 'cards' },
              h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Tokens'), h('div', { class: 'big', id: 'usage-total-tokens' }, fmt(tot.tokens_used || 0)),
                h('div', { class: 'muted' }, `prompt ${fmt(tot.prompt_tokens || 0)} · completion ${fmt(tot.completion_tokens || 0)}`)),
              h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Requests'), h('div', { class: 'big', id: 'usage-total-requests' }, fmt(tot.request_count || 0)))),
            h('h2', {}, 'Tokens'),
            barChart('chart-tokens', 'tokens ' + gran.value + 'ly (UTC)', rows.map((d) => ({ label: label(d.timestamp), value: d.tokens_used })), '#2d6cdf'),
            h('h2', {}, 'Requests'),
            barChart('chart-requests', 'requests ' + gran.value + 'ly (UTC)', rows.map((d) => ({ label: label(d.timestamp), value: d.request_count })), '#1a7f37'),
            tenant.value ? '' : h('h2', {}, 'By tenant (top 20 by tokens)'),
            tenant.value ? '' : h('table', { id: 'usage-by-tenant' },
              h('thead', {}, h('tr', {}, h('th', {}, 'Tenant'), h('th', { class: 'num' }, 'Tokens'), h('th', { class: 'num' }, 'Requests'), h('th', {}, 'Share of tokens'))),
              h('tbody', {}, top.length ? top.map(([id, p]) => h('tr', { 'data-id': id }, h('td', {}, name(id)), h('td', { class: 'num' }, fmt(p.tokens)),
                  h('td', { class: 'num' }, fmt(p.requests)), h('td', {}, meter(p.tokens, tot.tokens_used || 0))))
                : h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No usage in this range.')))),
            h('h2', {}, 'Refusals (429) by reason'),
            h('p', { class: 'muted' }, 'Counted by this gateway since it started (refused requests are not in the ledger).'),
            h('table', { id: 'refusals' }, h('thead', {}, h('tr', {}, h('th', {}, 'Tenant'), reasons.map((r) => h('th', { class: 'num' }, r.replace(/_/g, ' '))))),
              h('tbody', {},
                tenant.value ? '' : h('tr', { class: 'total' }, h('td', {}, h('strong', {}, 'all tenants')), reasons.map((r) => h('td', { class: 'num' }, fmt(ref.total[r])))),
                refRows.map((row) => h('tr', {}, h('td', {}, name(row.tenant_id)), reasons.map((r) => h('td', { class: 'num' }, fmt(row.reasons[r]))))),
                tenant.value && !refRows.length ? h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No refusals.')) : '')));
    };
    const form = h('form', { class: 'row', id: 'usage-form' }, tenant, h('label', {}, 'from ', from), h('label', {}, 'to ', to), gran,
                   h('button', { type: 'submit', id: 'usage-show' }, 'Show'));
    form.addEventListener('submit', (ev) => { ev.preventDefault(); load().catch(failed); });
    v.replaceChildren(h('h1', {}, 'Usage'), form, out);
    await load();
}

// ---- Live

function meter(value, limit) {
    if (!limit) return h('span', {}, fmt(value), h('span', { class: 'muted' }, ' / unlimited'));
    const frac = Math.min(1, value / limit);
    return h('span', {}, h('span', { class: 'barbg' }, h('span', { class: 'bar' + (frac > 0.9 ? ' bad' : frac > 0.7 ? ' warn' : ''),
                                                                   style: `width:${Math.round(frac * 120)}px` })),
             ' ', fmt(value), h('span', { class: 'muted' }, ' / ' + fmt(limit)));
}

async function liveOnce() {
    const j = await api('GET', '/admin/v1/live');
    const v = $('#view-live');
    const gw = j.gateway || {};
    const pools = (j.pools || []).map((p) => h('div', { class: 'card pool', 'data-pool': p.pool },
        h('h2', {}, 'Pool ', h('code', {}, p.pool)),
        h('p', {}, `${p.live_workers} worker${p.live_workers === 1 ? '' : 's'} · slots busy `, h('strong', { class: 'slots-busy' }, p.busy),
          ' / free ', h('strong', { class: 'slots-free' }, p.slots - p.busy), ' · queued ', h('strong', { class: 'pool-queued' }, p.queued)),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Worker'), h('th', {}, 'Slots busy'), h('th', { class: 'num' }, 'Free'), h('th', {}, 'Engine'), h('th', { class: 'num' }, 'Seen'))),
          h('tbody', {}, p.workers.map((w) => h('tr', { class: 'worker' }, h('td', { class: 'mono' }, w.worker_id),
              h('td', {}, meter(w.busy, w.slots)), h('td', { class: 'num' }, w.free),
              h('td', { class: 'engine ' + (w.engine_healthy ? 'ok' : 'bad'), title: `${w.engine_failures} failures in a row` },
                w.engine_healthy ? 'healthy' : 'failing'),
              h('td', { class: 'num ' + (w.seen_ms_ago > 2500 ? 'bad' : 'ok') }, (w.seen_ms_ago / 1000).toFixed(1) + ' s ago'))))),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Model'), h('th', { class: 'num' }, 'Queued'))),
          h('tbody', {}, p.models.map((m) => h('tr', { class: 'model' }, h('td', {}, m.model), h('td', { class: 'num' }, m.queued)))))));
    const tenants = (j.tenants || []).map((t) => h('tr', { class: 'busy-tenant', 'data-id': t.tenant_id },
        h('td', {}, t.name || t.tenant_id), h('td', {}, t.tier || '—'),
        h('td', {}, meter(t.running + t.waiting, t.limits ? t.limits.max_concurrent_requests : 0)),
        h('td', { class: 'num' }, t.running), h('td', { class: 'num' }, t.waiting),
        h('td', {}, meter(t.tokens_last_minute, t.limits ? t.limits.tokens_per_minute : 0)),
        h('td', {}, meter(t.requests_last_minute, t.limits ? t.limits.requests_per_minute : 0))));
    const errors = (j.errors || []).map((e) => h('tr', { class: 'recent-error' }, h('td', {}, e.time), h('td', { class: 'num' }, e.status),
        h('td', {}, e.code), h('td', { class: 'mono' }, e.tenant_id || '—'), h('td', {}, e.message), h('td', { class: 'mono muted' }, e.request_id)));
    v.replaceChildren(
        h('h1', {}, 'Live'),
        h('p', { class: 'muted' }, `updated ${new Date(j.time_ms).toISOString()} · refreshes every 2 s`),
        h('div', { class: 'cards' },
          h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Scheduler'),
            h('div', { class: 'big ' + (j.scheduler.answering ? 'ok' : 'bad'), id: 'sched-state' }, j.scheduler.answering ? 'answering' : 'not answering')),
          h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Open requests (this gateway)'), h('div', { class: 'big', id: 'gw-open' }, fmt(gw.requests_open))),
          h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Open streams'), h('div', { class: 'big' }, fmt(gw.streams_open))),
          h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Usage events pending'), h('div', { class: 'big' }, fmt(gw.usage_events_pending)))),
        h('h2', {}, 'Pools and workers'),
        h('div', { class: 'cards', id: 'pools' }, pools.length ? pools : h('p', { class: 'muted' }, 'No pools: no worker has announced itself.')),
        h('h2', {}, 'Busiest tenants now'),
        h('table', { id: 'busy-tenants' }, h('thead', {}, h('tr', {}, h('th', {}, 'Tenant'), h('th', {}, 'Tier'), h('th', {}, 'In flight / max'),
            h('th', { class: 'num' }, 'Running'), h('th', { class: 'num' }, 'Waiting'), h('th', {}, 'Tokens last minute / limit'), h('th', {}, 'Requests last minute / limit'))),
          h('tbody', {}, tenants.length ? tenants : h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No tenant active in the last minute.')))),
        h('h2', {}, 'Recent errors'),
        h('table', { id: 'recent-errors' }, h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', { class: 'num' }, 'Status'), h('th', {}, 'Code'),
            h('th', {}, 'Tenant'), h('th', {}, 'Message'), h('th', {}, 'Request'))),
          h('tbody', {}, errors.length ? errors : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'None.')))));
}

async function liveView() {
    show('live');
    await liveOnce();
    if (state.liveTimer) clearInterval(state.liveTimer);
    state.liveTimer = setInterval(() => { liveOnce().catch((e) => { failed(e); }); }, 2000);
}

// ---------------------------------------------------------------- start

$('#signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    signIn($('#signin-token').value.trim()).catch(failed);
});
$('#signout').addEventListener('click', () => { signOut(''); location.hash = ''; });
window.addEventListener('hashchange', route);
window.addEventListener('error', (ev) => showBanner('The console failed: ' + ev.message));
window.addEventListener('unhandledrejection', (ev) => failed(ev.reason));
if (state.token) route(); else signOut('');
