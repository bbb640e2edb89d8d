//  No request lost to a crash (issue 9): each test ends in an exact ledger
//  comparison, tokens in the ledger == tokens the clients were told they used.
import { assert, eq, http, measure, ms, poll, sleep, openStream, freePort, Service, BUILD } from './harness.mjs';
import { chat, chatBody, expectChat, expectError, short } from './common.mjs';
import { startFakeEngine } from './fake_engine.mjs';
import net from 'node:net';
import path from 'node:path';

//  A hung engine: takes connections on the port and never answers.
async function startHungEngine(port) {
    const sockets = new Set();
    const server = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
    });
    return { close: () => new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
    }) };
}

//  Metering keeps this many events in memory, then spools (set small so the
//  spool is used by a short outage).
export const PG_OUTAGE_MEMORY_MAX = 4;

async function metric(stack, svc, name) {
    const r = await http(`http://127.0.0.1:${stack.svc(svc).metricsPort}`, 'GET', '/metrics');
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(r.text || '');
    return m ? Number(m[1]) : NaN;
}

//  Requests from `clients` loops until stop(); every answer counted.
function load(stack, key, clients) {
    const seen = { ok: 0, failed: 0, tokens: 0, fails: [], ids: new Map() };
    let stopping = false;
    const loops = [];
    for (let c = 0; c < clients; c++) {
        loops.push((async () => {
            for (let i = 0; i < 2000 && !stopping; i++) {
                let r;
                try {
                    r = await chat(stack, key, `outage ${c} ${i}`, { max_tokens: 6 });
                } catch (e) {
                    r = { status: 0, text: String(e && e.message) };     //  connection refused or cut
                }
                if (r.status === 200) {
                    seen.ok++;
                    seen.tokens += r.json.usage.total_tokens;
                    seen.ids.set(r.json.id, r.json.usage.total_tokens);
                } else {
                    seen.failed++;
                    if (seen.fails.length < 3) seen.fails.push(short(r));
                    await sleep(50);
                }
            }
        })());
    }
    return { seen, stop: async () => { stopping = true; await Promise.all(loops); } };
}

async function ledger(pg, tenant) {
    const q = await pg.query(`SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0)
                              FROM request_logs WHERE tenant_id = '${tenant}'`);
    const u = await pg.query(`SELECT coalesce(sum(tokens_used), 0), coalesce(sum(request_count), 0)
                              FROM usage_records WHERE tenant_id = '${tenant}'`);
    return { logs: Number(q[0][0]), logTokens: Number(q[0][1]),
             usageTokens: Number(u[0][0]), usageCount: Number(u[0][1]) };
}

export const pgOutageTests = [
    {
        name: 'PostgreSQL down under load: known keys served, admin 503, metering spools, ledger exact',
        timeout: 90000,
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'pro', requests_per_minute: 100000, tokens_per_minute: 10000000 },
                                         'pg-outage');
            const warm = expectChat(await chat(stack, t.key, 'warm the cache', { max_tokens: 4 }), 'before');
            const l = load(stack, t.key, 4);
            let restarted = false;
            try {
                await sleep(ms(500));
                const spooled0 = await metric(stack, 'metering', 'mt_mtr_events_spooled_total');
                await pg.stop();
                //  The outage: requests keep being answered, admin is 503.
                const okBefore = l.seen.ok;
                const admin = await poll(async () => {
                    const r = await stack.admin('GET', '/admin/v1/tenants');
                    return r.status === 503 ? r : null;
                }, ms(10000), 200);
                assert(admin, 'admin API never answered 503 with the database down');
                const e = expectError(admin, 503, undefined, undefined, 'admin while the database is down');
                assert(/database/i.test(e.message), `503 message does not say why: ${e.message}`);
                //  Metering ran out of memory for events and spooled some.
                const spooled = await poll(async () =>
                    (await metric(stack, 'metering', 'mt_mtr_events_spooled_total')) > spooled0
                    && (await metric(stack, 'metering', 'mt_mtr_spool_bytes')) > 0, ms(15000), 200);
                assert(spooled, `metering spooled nothing (served ${l.seen.ok - okBefore} during the outage)`);
                const served = await poll(async () => l.seen.ok > okBefore + 4, ms(10000), 100);
                assert(served, `only ${l.seen.ok - okBefore} requests served during the outage (${l.seen.fails.join(' | ')})`);
                //  The gateway holds every key: an unknown one is refused as usual.
                const unknown = await chat(stack, 'sk-mt-' + '0'.repeat(48), 'who am I', { max_tokens: 2 });
                expectError(unknown, 401, 'invalid_api_key', undefined, 'an unknown key, database down');
                await sleep(ms(1000));
                await pg.startAgain();
                restarted = true;
                await sleep(ms(1000));
            } finally {
                await l.stop();
                if (!restarted) await pg.startAgain();
            }
            eq(l.seen.failed, 0, `failed requests (${l.seen.fails.join(' | ')})`);
            //  Every event written once the database is back: the gateway has
            //  nothing unacknowledged, the spool is empty, the ledger exact.
            const drained = await poll(async () =>
                (await metric(stack, 'gateway', 'mt_gw_usage_events_pending')) === 0
                && (await metric(stack, 'metering', 'mt_mtr_spool_bytes')) === 0
                && (await metric(stack, 'metering', 'mt_mtr_events_pending')) === 0, ms(20000), 200);
            assert(drained, 'usage events still pending at the gateway or metering 20 s after the database came back');
            const g = await ledger(pg, t.id);
            const want = { logs: l.seen.ok + 1, tokens: l.seen.tokens + warm.usage.total_tokens };
            eq(g.logs, want.logs, 'request_logs rows vs requests answered');
            eq(g.logTokens, want.tokens, 'request_logs tokens vs tokens clients were told');
            eq(g.usageTokens, want.tokens, 'usage_records tokens vs tokens clients were told');
            eq(g.usageCount, want.logs, 'usage_records requests vs requests answered');
            eq((await stack.admin('GET', '/admin/v1/tenants')).status, 200, 'admin API back');
        },
    },
];

//  Wait until the gateway has nothing unacknowledged, then the tenant's ledger.
async function settledLedger(stack, pg, tenant) {
    const drained = await poll(async () =>
        (await metric(stack, 'gateway', 'mt_gw_usage_events_pending')) === 0, ms(10000), 100);
    assert(drained, 'usage events still unacknowledged at the gateway after 10 s');
    return ledger(pg, tenant);
}

async function workerHealth(stack) {
    return http(`http://127.0.0.1:${stack.svc('worker-standard').metricsPort}`, 'GET', '/readyz');
}

export const engineDownTests = [
    {
        name: 'engine dies while its worker lives: zero credit, /readyz and /metrics say so, jobs again when it answers, ledger exact',
        timeout: 60000,
        fn: async ({ stack, pg }) => {
            const model = stack.stdModel;
            const t = await stack.tenant({ tier: 'pro', requests_per_minute: 100000, tokens_per_minute: 10000000 },
                                         'engine-down');
            const seen = { ok: 0, tokens: 0 };
            const ask = async (what) => {
                const r = await chat(stack, t.key, what, { model, max_tokens: 6 });
                if (r.status === 200) {
                    seen.ok++;
                    seen.tokens += r.json.usage.total_tokens;
                }
                return r;
            };
            expectChat(await ask('before the engine dies'), 'before');
            eq((await workerHealth(stack)).status, 200, 'worker /readyz with the engine up');
            eq(await metric(stack, 'worker-standard', 'mt_wa_engine_up'), 1, 'mt_wa_engine_up');
            const port = stack.engine.port;
            await stack.engine.close();
            const down = await poll(async () => (await workerHealth(stack)).status === 503, ms(5000), 100);
            assert(down, 'worker /readyz still 200 5 s after the engine died');
            const h = await workerHealth(stack);
            assert(/engine/.test(h.text), `/readyz does not say why: ${h.text}`);
            //  Liveness stays: the worker itself is fine (no restart for an engine outage)
            eq((await http(`http://127.0.0.1:${stack.svc('worker-standard').metricsPort}`, 'GET', '/healthz')).status,
               200, 'worker /healthz (liveness) with the engine dead');
            const zero = await poll(async () => (await metric(stack, 'worker-standard', 'mt_wa_engine_up')) === 0,
                                    ms(5000), 100);
            assert(zero, 'wa_engine_up still 1 5 s after the engine died');
            //  A request while the engine is dead waits at the scheduler (the
            //  worker gives no credit) and is served once the engine is back.
            const during = ask('while the engine is dead');
            await sleep(ms(800));
            stack.engine = await startFakeEngine({ ...stack.opts.engine, port });
            const up = await poll(async () => (await workerHealth(stack)).status === 200, ms(5000), 100);
            assert(up, 'worker /readyz not 200 again 5 s after the engine came back');
            const one = await poll(async () => (await metric(stack, 'worker-standard', 'mt_wa_engine_up')) === 1,
                                   ms(5000), 100);
            assert(one, 'wa_engine_up not 1 again 5 s after the engine came back');
            expectChat(await during, 'the request made while the engine was dead');
            expectChat(await ask('after the engine came back'), 'after');
            const g = await settledLedger(stack, pg, t.id);
            eq(g.logTokens, seen.tokens, 'request_logs tokens vs tokens clients were told');
            eq(g.usageTokens, seen.tokens, 'usage_records tokens vs tokens clients were told');
        },
    },
];

engineDownTests.push({
    name: 'engine hangs (takes connections, never answers): zero credit, then served when a real engine is back, ledger exact',
    timeout: 60000,
    fn: async ({ stack, pg }) => {
        const model = stack.stdModel;
        const t = await stack.tenant({ tier: 'pro', requests_per_minute: 100000, tokens_per_minute: 10000000 },
                                     'engine-hung');
        const seen = { tokens: 0 };
        const ask = async (what) => {
            const r = await chat(stack, t.key, what, { model, max_tokens: 6 });
            if (r.status === 200) seen.tokens += r.json.usage.total_tokens;
            return r;
        };
        expectChat(await ask('before the engine hangs'), 'before');
        const port = stack.engine.port;
        await stack.engine.close();
        const hung = await startHungEngine(port);
        let during = null;
        try {
            const down = await poll(async () => (await workerHealth(stack)).status === 503, ms(5000), 100);
            assert(down, 'worker /readyz still 200 5 s after the engine hung');
            const zero = await poll(async () => (await metric(stack, 'worker-standard', 'mt_wa_engine_up')) === 0,
                                    ms(5000), 100);
            assert(zero, 'wa_engine_up still 1 5 s after the engine hung');
            during = ask('while the engine hangs');
            await sleep(ms(800));
        } finally {
            await hung.close();
            stack.engine = await startFakeEngine({ ...stack.opts.engine, port });
        }
        const up = await poll(async () => (await workerHealth(stack)).status === 200, ms(5000), 100);
        assert(up, 'worker /readyz not 200 again 5 s after a real engine came back');
        expectChat(await during, 'the request made while the engine hung');
        const g = await settledLedger(stack, pg, t.id);
        eq(g.logTokens, seen.tokens, 'request_logs tokens vs tokens clients were told');
        eq(g.usageTokens, seen.tokens, 'usage_records tokens vs tokens clients were told');
    },
});

//  A burst at a small daily limit across a quota-enforcer kill -9 and restart.
export const QE_LIMIT = 400;
export const qeRestartTests = [
    {
        name: 'quota-enforcer killed mid-burst at a small daily limit: never overspent, ledger exact',
        timeout: 60000,
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'pro', daily_token_limit: QE_LIMIT, requests_per_minute: 100000,
                                           tokens_per_minute: 10000000, max_concurrent_requests: 100 }, 'qe-burst');
            const seen = { ok: 0, tokens: 0, other: [] };
            const one = async (i) => {
                const r = await chat(stack, t.key, `burst ${i}`, { max_tokens: 16 });
                if (r.status === 200) {
                    seen.ok++;
                    seen.tokens += r.json.usage.total_tokens;
                } else if (r.status !== 429 && seen.other.length < 3) seen.other.push(short(r));
                return r.status;
            };
            //  Wave 1 in flight (slow tokens) when the quota-enforcer dies.
            const wave1 = [];
            for (let i = 0; i < 12; i++) wave1.push(one(i));
            await sleep(ms(150));
            const qe = stack.svc('quota-enforcer');
            await qe.kill9();
            await qe.restart();
            //  Wave 2 against the new process while wave 1 still runs.
            const wave2 = [];
            for (let i = 12; i < 40; i++) wave2.push(one(i));
            await Promise.all([...wave1, ...wave2]);
            const g = await settledLedger(stack, pg, t.id);
            eq(g.logTokens, seen.tokens, 'request_logs tokens vs tokens clients were told');
            assert(g.logTokens <= QE_LIMIT, `the ledger holds ${g.logTokens} tokens over a daily limit of ${QE_LIMIT}`);
            assert(seen.ok > 0, 'no request served');
        },
    },
];

//  Billing is what the client received (issue 9).
engineDownTests.push({
    name: 'billing is what the client received: non-streamed errors bill nothing, streams what they got, ledger exact',
    timeout: 30000,
    fn: async ({ stack, pg }) => {
        const model = stack.stdModel;
        const t = await stack.tenant({ tier: 'pro' }, 'bill-received');
        let seen = 0;
        const ok = expectChat(await chat(stack, t.key, 'fine', { model, max_tokens: 5 }), 'ok');
        seen += ok.usage.total_tokens;
        //  Not streamed, engine error before any token, and mid-answer: nothing received.
        const e500 = await chat(stack, t.key, 'FAIL500 please', { model, max_tokens: 8 });
        expectError(e500, e500.status, undefined, undefined, 'engine 500, not streamed');
        const drop = await chat(stack, t.key, 'DROP please', { model, max_tokens: 20 });
        expectError(drop, drop.status, undefined, undefined, 'engine drops, not streamed');
        //  Streamed and dropped: billed what it received (3 tokens + the prompt).
        const s = await chat(stack, t.key, 'DROP streamed', { model, max_tokens: 20, stream: true,
                                                               stream_options: { include_usage: true } });
        eq(s.status, 200, 'dropped stream status');
        const g = await poll(async () => {
            const q = await pg.query(`SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0),
                                             coalesce(sum(completion_tokens) FILTER (WHERE status = 'error' AND http_status = 200), 0),
                                             coalesce(sum(prompt_tokens + completion_tokens) FILTER (WHERE http_status <> 200), -1)
                                      FROM request_logs WHERE tenant_id = '${t.id}'`);
            return Number(q[0][0]) >= 4 ? q[0].map(Number) : null;
        }, ms(10000), 100);
        assert(g, 'fewer than 4 request_logs rows');
        eq(g[3], 0, 'tokens billed for the two non-streamed errors');
        eq(g[2], 3, 'completion tokens billed for the dropped stream (3 relayed)');
        const streamRow = await pg.query(`SELECT prompt_tokens FROM request_logs WHERE tenant_id = '${t.id}'
                                          AND status = 'error' AND http_status = 200`);
        seen += 3 + Number(streamRow[0][0]);
        eq(g[1], seen, 'ledger tokens vs tokens the clients received');
        const u = await ledger(pg, t.id);
        eq(u.usageTokens, seen, 'usage_records tokens vs tokens the clients received');
    },
});

//  A gateway killed with SIGKILL while metering has acknowledged nothing.
export const gatewayKillTests = [
    {
        name: 'gateway SIGKILL with usage unacknowledged: the spool is replayed at start, ledger exact',
        timeout: 60000,
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'pro', requests_per_minute: 100000, tokens_per_minute: 10000000 },
                                         'gw-kill');
            const mtr = stack.svc('metering');
            const gw = stack.svc('gateway');
            mtr.signal('SIGSTOP');              //  nothing gets acknowledged
            let l;
            try {
                l = load(stack, t.key, 4);
                const piled = await poll(async () => (await metric(stack, 'gateway', 'mt_gw_usage_events_pending')) >= 10,
                                         ms(10000), 100);
                assert(piled, 'usage events did not pile up at the gateway');
                await gw.kill9();
                await l.stop();
            } finally {
                mtr.signal('SIGCONT');
            }
            await gw.restart();
            const g = await settledLedger(stack, pg, t.id);
            assert(l.seen.ok >= 10, `only ${l.seen.ok} requests answered before the kill`);
            //  Every answer delivered is in the ledger with the tokens the client
            //  was told. A request the kill cut while its answer was being
            //  written may be billed too (its event is on disk before the answer
            //  goes out): at most one per client, never more than it was owed.
            const rows = await pg.query(`SELECT request_id, prompt_tokens + completion_tokens
                                         FROM request_logs WHERE tenant_id = '${t.id}'`);
            const ledgerIds = new Map(rows.map((r) => [r[0], Number(r[1])]));
            for (const [id, tokens] of l.seen.ids)
                eq(ledgerIds.get(id), tokens, `ledger tokens of answered request ${id}`);
            const extra = rows.filter((r) => !l.seen.ids.has(r[0]));
            assert(extra.length <= Math.min(4, l.seen.failed),
                   `${extra.length} ledger rows for requests not answered (${l.seen.failed} cut by the kill)`);
            const extraTokens = extra.reduce((n, r) => n + Number(r[1]), 0);
            eq(g.logTokens, l.seen.tokens + extraTokens, 'request_logs tokens vs answered + cut-while-written');
            eq(g.usageTokens, g.logTokens, 'usage_records tokens vs request_logs');
        },
    },
];

//  A gateway killed with SIGKILL while streams run (issue 9): the scheduler
//  and the quota-enforcer notice it stopped heartbeating (their gateway
//  timeout, set short for the group) and release what it held.
export const GW_GONE_TIMEOUT_MS = 3000;

//  A second gateway (plain HTTP) on the same database and services; stopped
//  with the stack.
async function plainGateway(stack, name) {
    const a = stack.svc('gateway');
    const port = await freePort();
    const tok = await freePort();
    const env = { ...a.env, MT_GW_HTTP_PORT: String(port),
                  MT_GW_TOKEN_BIND: `tcp://127.0.0.1:${tok}`, MT_GW_TOKEN_ENDPOINT: `tcp://127.0.0.1:${tok}`,
                  MT_GW_USAGE_SPOOL: path.join(stack.dir, `${name}-usage.spool`) };
    const s = new Service(name, path.join(BUILD, 'bin', 'mt-auth-gateway'), env, stack.dir);
    s.metricsPort = port;
    stack.services.push(s);
    s.start();
    await s.waitHealthy(ms(15000));
    const base = `http://127.0.0.1:${port}`;
    return { svc: s, base, post: (p, key, body) => http(base, 'POST', p, { key, body }),
             get: (p, key) => http(base, 'GET', p, { key }) };
}

//  Open a stream and wait for its first token; returns { s, id }.
async function firstToken(stack, key, what) {
    const s = await openStream(stack.base, '/v1/chat/completions', key,
                               chatBody(what, { stream: true, max_tokens: 1000 }), ms(60000));
    eq(s.status, 200, `${what}: stream status`);
    const it = s.events();
    let ev = await it.next();
    while (!ev.done && ev.value.startsWith(':')) ev = await it.next();
    assert(!ev.done, `${what}: the stream ended before its first event`);
    const id = JSON.parse(ev.value).id;
    assert(typeof id === 'string', `${what}: no id in ${ev.value}`);
    return { s, id };
}

export const gatewayGoneTests = [
    {
        name: 'gateway SIGKILL mid-stream: its jobs cancelled at the worker, lease and quota reservation free for another gateway, ledger exact',
        timeout: 120000,
        fn: async ({ stack, pg }) => {
            const b = await plainGateway(stack, 'gateway-b');
            const big = { requests_per_minute: 100000, tokens_per_minute: 10000000 };
            //  One tenant at its concurrency limit, one at its daily limit, each by one stream
            const tc = await stack.tenant({ tier: 'pro', max_concurrent_requests: 1, ...big }, 'gone-lease');
            const tq = await stack.tenant({ tier: 'pro', daily_token_limit: 300, max_concurrent_requests: 10, ...big },
                                          'gone-quota');
            for (const t of [tc, tq]) {
                const known = await poll(async () => (await b.get('/v1/models', t.key)).status === 200, ms(5000), 100);
                assert(known, 'gateway B does not know the new tenants');
            }
            const wa = stack.svc('worker-standard');
            const cancelled0 = (await wa.metric('mt_wa_jobs_cancelled_total')) ?? 0;
            const released0 = (await stack.svc('quota-enforcer').metric('mt_qe_reservations_released_total')) ?? 0;
            const c = await firstToken(stack, tc.key, 'a long answer nobody will read');
            const q = await firstToken(stack, tq.key, 'another long answer nobody will read');
            let killedAt = 0;
            try {
                eq(await wa.metric('mt_wa_slots_busy'), 2, 'worker slots busy with the two streams');
                //  Held: gateway B refuses both tenants
                expectError(await chat(b, tc.key, 'through B', { max_tokens: 4 }), 429,
                            'concurrency_limit_exceeded', undefined, 'B, tenant at its concurrency limit');
                expectError(await chat(b, tq.key, 'through B', { max_tokens: 4 }), 429,
                            'quota_exceeded', undefined, 'B, tenant with its day reserved');
                await stack.svc('gateway').kill9();
                killedAt = Date.now();
            } finally {
                c.s.abort();
                q.s.abort();
            }
            //  The worker stops generating for nobody: both jobs cancelled, no slot busy
            const stopped = await poll(async () => (await wa.metric('mt_wa_slots_busy')) === 0
                && (await wa.metric('mt_wa_jobs_cancelled_total')) >= cancelled0 + 2, ms(15000), 100);
            measure(`gateway killed: its jobs cancelled at the worker after (timeout ${GW_GONE_TIMEOUT_MS} ms)`,
                    Date.now() - killedAt);
            assert(stopped, `the worker still runs the dead gateway's jobs (busy ${await wa.metric('mt_wa_slots_busy')}, `
                   + `cancelled ${(await wa.metric('mt_wa_jobs_cancelled_total')) - cancelled0})`);
            const log = wa.readLog();
            for (const id of [c.id, q.id]) {
                const m = new RegExp(`job-cancelled req=${id} .*tokens=(\\d+)`).exec(log);
                assert(m, `no job-cancelled line for ${id} in the worker's log`);
                //  The simulator's answers are 100-200 tokens: stopped well before the end
                assert(Number(m[1]) < 100, `${id}: ${m[1]} tokens generated before the cancel`);
            }
            const sch = stack.svc('scheduler');
            eq(await sch.metric('mt_sch_jobs_running'), 0, 'scheduler: jobs running');
            eq(await sch.metric('mt_sch_gateway_gone_jobs_total'), 2, 'scheduler: jobs of the gone gateway');
            const qe = stack.svc('quota-enforcer');
            const freed = await poll(async () => (await qe.metric('mt_qe_reservations')) === 0, ms(10000), 100);
            measure(`gateway killed: its reservations released after (timeout ${GW_GONE_TIMEOUT_MS} ms)`,
                    Date.now() - killedAt);
            assert(freed, `quota-enforcer still holds ${await qe.metric('mt_qe_reservations')} reservations`);
            eq((await qe.metric('mt_qe_reservations_released_total')) - released0, 2, 'reservations released');
            //  Through gateway B: the lease is free, the day's quota usable
            const seen = { [tc.id]: 0, [tq.id]: 0 };
            const rc = expectChat(await chat(b, tc.key, 'through B again', { max_tokens: 4 }), 'B, lease free');
            seen[tc.id] += rc.usage.total_tokens;
            const rq = expectChat(await chat(b, tq.key, 'through B again', { max_tokens: 4 }), 'B, quota free');
            seen[tq.id] += rq.usage.total_tokens;
            //  Gateway A back: its spool replay adds nothing of the cut streams.
            //  The ledger holds exactly what B's clients were told.
            await stack.svc('gateway').restart();
            const drained = await poll(async () =>
                (await b.svc.metric('mt_gw_usage_events_pending')) === 0
                && (await stack.svc('gateway').metric('mt_gw_usage_events_pending')) === 0, ms(10000), 100);
            assert(drained, 'usage events still unacknowledged 10 s on');
            for (const t of [tc, tq]) {
                const g = await ledger(pg, t.id);
                eq(g.logTokens, seen[t.id], `${t.name}: request_logs tokens vs tokens clients were told`);
                eq(g.usageTokens, seen[t.id], `${t.name}: usage_records tokens vs tokens clients were told`);
            }
        },
    },
];
