//  Fairness scenarios against a running stack (tests/bench/fairness.sh starts
//  one per scheduler policy and runs this): two tenants pro and free, both
//  backlogged; a light tenant (one request at a time) beside one flood; the
//  light tenant beside 40 backlogged tenants (20 pro, 20 free, 8 requests
//  open each), sending back to back, then pausing 5 s between requests.
//  Tenants get limits high enough that only the scheduler decides. Reports
//  one JSON line per scenario on stdout; never fails on a number.
//
//    node tests/bench/fairness.mjs URL ADMIN_TOKEN POLICY
//
//  Environment: MT_FAIR_SECONDS (measured seconds per scenario, 20),
//  MT_FAIR_WARMUP (seconds before measuring, 5), MT_FAIR_BACKLOGGED (pro +
//  free tenants in the many-tenant scenario, 40), MT_FAIR_ONLY (a regular
//  expression: run only the scenarios whose name matches), MT_FAIR_TRACE=1
//  (one JSON line a light request on stderr: its id, when it was sent and
//  answered, wall clock ms, to follow it through the services' logs).
import http from 'node:http';

const [URL_BASE, ADMIN, POLICY] = process.argv.slice(2);
const SECONDS = Number(process.env.MT_FAIR_SECONDS || 20);
const WARMUP = Number(process.env.MT_FAIR_WARMUP || 5);
const NBACK = Number(process.env.MT_FAIR_BACKLOGGED || 40);
const ONLY = new RegExp(process.env.MT_FAIR_ONLY || '.');
const TRACE = process.env.MT_FAIR_TRACE === '1';
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const u = new URL(URL_BASE);

function post(path, key, body, timeoutMs = 120000) {
    return new Promise((resolve) => {
        const data = Buffer.from(JSON.stringify(body));
        const req = http.request({ host: u.hostname, port: u.port, path, method: 'POST', agent,
                                   headers: { 'Authorization': `Bearer ${key}`,
                                              'Content-Type': 'application/json',
                                              'Content-Length': data.length } }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                let json = null;
                try { json = JSON.parse(Buffer.concat(chunks).toString()); } catch { /* not JSON */ }
                resolve({ status: res.statusCode, json });
            });
        });
        req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
        req.on('error', () => resolve({ status: 0, json: null }));
        req.end(data);
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = `${POLICY}-${process.pid}-${Date.now() % 1e6}`;
let made = 0;

//  A tenant of this tier with limits high enough that only the scheduler
//  decides who goes next.
async function tenant(tier) {
    const r = await post('/admin/v1/tenants', ADMIN, {
        name: `fair-${run}-${made++}`, tier, max_concurrent_requests: 1000,
        daily_token_limit: 1e12, requests_per_minute: 1e9, tokens_per_minute: 1e12 });
    if (r.status !== 201 || !r.json || !r.json.api_key)
        throw new Error(`tenant create: ${r.status} ${JSON.stringify(r.json)}`);
    return { key: r.json.api_key, tier };
}

function body(i, max) {
    const b = { model: 'sim-small', messages: [{ role: 'user', content: `fairness ${run} ${i}` }] };
    if (max) b.max_tokens = max;
    return b;
}

//  Wait until the gateway knows every key (its cache follows the database).
async function ready(tenants) {
    for (const t of tenants)
        for (let i = 0; i < 100; i++) {
            const r = await post('/v1/chat/completions', t.key, body(i, 1));
            if (r.status === 200) break;
            await sleep(100);
        }
}

function pct(a, p) {
    if (!a.length) return null;
    const s = [...a].sort((x, y) => x - y);
    return s[Math.min(s.length - 1, Math.round(p / 100 * (s.length - 1)))];
}

//  Closed-loop clients: each of inflight loops sends one request after the
//  other until stopAt. Counts completion tokens and latencies of requests
//  that end inside [startAt, stopAt].
function client(t, inflight, max, win, stats, pauseMs = 0, trace = false) {
    const loops = [];
    for (let l = 0; l < inflight; l++)
        loops.push((async () => {
            let i = 0;
            while (Date.now() < win.stopAt) {
                const t0 = Date.now();
                const r = await post('/v1/chat/completions', t.key, body(`${l}-${i++}`, max));
                const t1 = Date.now();
                if (trace)
                    process.stderr.write(JSON.stringify({ light: r.json && r.json.id, status: r.status,
                                                          sent_ms: t0, done_ms: t1, ms: t1 - t0 }) + '\n');
                //  Tokens of requests that end in the window; latencies of
                //  those sent in it too (one sent during the warm-up waited
                //  under other conditions); the pause holds throughout, so
                //  a light tenant is below its share before the window too
                const counted = t1 >= win.startAt && t1 <= win.stopAt;
                if (r.status === 200 && r.json && r.json.usage) {
                    if (counted) {
                        stats.tokens += r.json.usage.completion_tokens;
                        if (t0 >= win.startAt) stats.lat.push(t1 - t0);
                    }
                    if (pauseMs) await sleep(pauseMs);
                } else {
                    if (counted) stats.errors++;
                    await sleep(50);
                }
            }
        })());
    return Promise.all(loops);
}

function newStats() { return { tokens: 0, lat: [], errors: 0 }; }

async function idleLatency(light, max) {
    const lat = [];
    for (let i = 0; i < 20; i++) {
        const t0 = Date.now();
        const r = await post('/v1/chat/completions', light.key, body(`idle-${i}`, max));
        if (r.status === 200) lat.push(Date.now() - t0);
    }
    return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

//  One scenario: groups of { tier, count, inflight, max } backlogged, and a
//  light tenant (one request at a time, light.pause ms between two) when
//  light is set; measured for seconds.
async function scenario(name, groups, light, seconds = SECONDS) {
    if (!ONLY.test(name))
        return;
    const tenants = [];
    for (const g of groups)
        for (let i = 0; i < g.count; i++)
            tenants.push({ ...(await tenant(g.tier)), g, stats: newStats() });
    const lt = light ? { ...(await tenant(light.tier)), stats: newStats() } : null;
    await ready(lt ? [...tenants, lt] : tenants);
    const idle = lt ? await idleLatency(lt, light.max) : null;
    const now = Date.now();
    const win = { startAt: now + WARMUP * 1000, stopAt: now + (WARMUP + seconds) * 1000 };
    const all = tenants.map((t) => client(t, t.g.inflight, t.g.max, win, t.stats));
    if (lt) all.push(client(lt, 1, light.max, win, lt.stats, light.pause || 0, TRACE));
    await Promise.all(all);
    const out = { scenario: name, policy: POLICY, seconds, tiers: {} };
    let total = 0, wsum = 0;
    const weight = { free: 1, pro: 4 };
    for (const t of tenants) {
        const tier = out.tiers[t.tier] ||= { tenants: 0, tokens: 0, errors: 0 };
        tier.tenants++;
        tier.tokens += t.stats.tokens;
        tier.errors += t.stats.errors;
        total += t.stats.tokens;
        wsum += weight[t.tier];
    }
    for (const [tier, v] of Object.entries(out.tiers)) {
        v.per_tenant_tok_s = +(v.tokens / v.tenants / seconds).toFixed(1);
        v.share = +(v.tokens / Math.max(1, total)).toFixed(3);
        v.weight_share = +(weight[tier] * v.tenants / wsum).toFixed(3);
    }
    if (lt) {
        total += lt.stats.tokens;
        out.light = { idle_p50_ms: idle.p50, idle_p99_ms: idle.p99,
                      p50_ms: pct(lt.stats.lat, 50), p99_ms: pct(lt.stats.lat, 99),
                      requests: lt.stats.lat.length, tok_s: +(lt.stats.tokens / seconds).toFixed(1),
                      latencies_ms: lt.stats.lat };
        out.light.p50_x = +(out.light.p50_ms / idle.p50).toFixed(2);
        out.light.p99_x = +(out.light.p99_ms / idle.p99).toFixed(2);
    }
    out.total_tok_s = +(total / seconds).toFixed(0);
    console.log(JSON.stringify(out));
}

const half = Math.max(1, Math.floor(NBACK / 2));
await scenario('two-tenants-pro-free', [{ tier: 'pro', count: 1, inflight: 16 },
                                        { tier: 'free', count: 1, inflight: 16 }], null);
await scenario('light-beside-one-flood', [{ tier: 'free', count: 1, inflight: 64 }],
               { tier: 'free', max: 32 });
const many = [{ tier: 'pro', count: half, inflight: 8 },
              { tier: 'free', count: NBACK - half, inflight: 8 }];
await scenario(`light-beside-${NBACK}-backlogged`, many, { tier: 'free', max: 32 });
//  The light tenant pausing 5 s between requests asks for about 8 tokens/s
//  (prompt included), about half a free tenant's share here
await scenario(`light-below-share-beside-${NBACK}`, many, { tier: 'free', max: 32, pause: 5000 },
               3 * SECONDS);
agent.destroy();
