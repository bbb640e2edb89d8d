//  Failure scenarios: services killed with SIGKILL (as a crash) and started
//  again with the same environment and ports, a scheduler that stays down
//  for a while, and the gateway's request timeout. Each test leaves its stack
//  whole again (every service running) for the next one.
//
//  The 'fail' stack runs the scheduler with MT_SCHED_WORKER_TIMEOUT_MS =
//  WORKER_TIMEOUT_MS; the 'timeout' stack runs the gateway with
//  MT_GW_REQUEST_TIMEOUT_MS = REQUEST_TIMEOUT_MS (see run.mjs).
import { assert, eq, ms, sleep, poll, http, openStream, TestFailure, measure } from './harness.mjs';
import { chat, chatBody, short, expectError, expectChat } from './common.mjs';

//  Workers send WorkerReady every 1000 ms (fixed) and the scheduler declares
//  a worker dead when it has been silent for more than its timeout: a timeout
//  of 1000 ms would lose healthy workers, so twice the interval.
export const WORKER_TIMEOUT_MS = 2000;
export const REQUEST_TIMEOUT_MS = 1500;
const CATALOG_STALE_MS = 5000;      //  gateway: scheduler silent this long -> 503

//  Read a stream to its end: every payload with the time it arrived.
async function readAll(it, max = 500) {
    const out = [];
    for (let i = 0; i < max; i++) {
        const ev = await it.next();
        if (ev.done) return out;
        out.push({ data: ev.value, at: Date.now() });
    }
    throw new TestFailure(`stream did not end after ${max} events`);
}

//  Split stream payloads: content chunks, error events, and the rest.
function classify(events) {
    const res = { content: 0, errors: [], done: 0, afterDone: 0, afterError: 0, last: null, id: null };
    for (const ev of events) {
        const d = ev.data;
        if (d.startsWith(':')) continue;                //  keep-alive comment
        if (res.done) res.afterDone++;
        if (d === '[DONE]') { res.done++; res.last = d; continue; }
        let j;
        try { j = JSON.parse(d); } catch { throw new TestFailure(`stream event not JSON: ${d.slice(0, 120)}`); }
        res.last = d;
        if (j.error) { res.errors.push({ ...j.error, at: ev.at }); continue; }
        if (!res.id && typeof j.id === 'string') res.id = j.id;
        if (res.errors.length) res.afterError++;
        const c = j.choices?.[0];
        if (typeof c?.delta?.content === 'string' && c.delta.content.length) res.content++;
        else if (typeof c?.text === 'string' && c.text.length) res.content++;
    }
    return res;
}

//  A stream ends with exactly one error event, then [DONE], nothing after.
function expectErrorEnd(events, what) {
    const c = classify(events);
    eq(c.errors.length, 1, `${what}: error events (${events.slice(-3).map((e) => e.data).join(' | ')})`);
    eq(c.afterError, 0, `${what}: chunks after the error event`);
    eq(c.done, 1, `${what}: [DONE] events`);
    eq(c.afterDone, 0, `${what}: events after [DONE]`);
    eq(events[events.length - 1].data, '[DONE]', `${what}: last event`);
    const e = c.errors[0];
    assert(typeof e.message === 'string' && e.message.length > 0, `${what}: error.message ${JSON.stringify(e)}`);
    assert(typeof e.code === 'string' && e.code.length > 0, `${what}: error.code ${JSON.stringify(e)}`);
    assert('type' in e && 'param' in e, `${what}: error.type/param missing ${JSON.stringify(e)}`);
    return c;
}

//  Open a stream and wait for n content events; returns { s, it, events }.
async function streamUntil(stack, key, n, body) {
    const s = await openStream(stack.base, '/v1/chat/completions', key, body, ms(15000));
    if (s.status !== 200) {
        s.abort();
        throw new TestFailure(`stream: status ${s.status}`);
    }
    const it = s.events();
    const events = [];
    while (classify(events).content < n) {
        const ev = await it.next();
        if (ev.done) throw new TestFailure(`stream ended after ${events.length} events, before ${n} chunks`);
        events.push({ data: ev.value, at: Date.now() });
    }
    return { s, it, events };
}

async function untilZero(svc, name, bound) {
    let v = null;
    const ok = await poll(async () => {
        v = await svc.metric(name);
        return v === 0;
    }, bound, 100);
    assert(ok, `${svc.name} ${name} is ${v}, not 0, ${bound} ms on`);
}

//  The tenant's request_logs rows once there are at least n.
async function logRows(pg, tenantId, n, bound, cols = 'request_id, status, http_status, prompt_tokens, completion_tokens') {
    let rows = [];
    await poll(async () => {
        rows = await pg.query(`SELECT ${cols} FROM request_logs WHERE tenant_id = '${tenantId}' ORDER BY id`);
        return rows.length >= n;
    }, bound, 100);
    return rows;
}

//  usage_records of the tenant add up to tokens and requests (and stay so).
async function expectRollup(pg, tenantId, tokens, count) {
    let rolled = '';
    const q = async () => {
        const r = await pg.query(`SELECT coalesce(sum(tokens_used), 0), coalesce(sum(request_count), 0)
            FROM usage_records WHERE tenant_id = '${tenantId}'`);
        rolled = r[0].join(',');
        return Number(r[0][0]) === tokens && Number(r[0][1]) === count;
    };
    const ok = await poll(q, ms(5000), 100);
    assert(ok, `usage_records tokens_used,request_count = ${rolled}, want ${tokens},${count}`);
    await sleep(300);
    assert(await q(), `usage_records tokens_used,request_count = ${rolled} a little later, want ${tokens},${count}`);
}

//  One request; its answer time in ms too. Never rejects: a failed fetch is
//  status 0 (so a promise left pending by a failing test cannot crash node).
async function timed(promise) {
    const t0 = Date.now();
    const r = await settled(promise);
    return { r, elapsed: Date.now() - t0 };
}

function settled(promise) {
    return promise.catch((e) => ({ status: 0, text: `fetch failed: ${e && e.message}`, json: null,
                                   headers: new Headers() }));
}

export const failTests = [
    {
        name: 'worker killed mid-stream: error event then [DONE], slot freed, tokens billed',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'free', max_concurrent_requests: 1 }, 'wkill');
            const worker = stack.svc('worker-standard');
            const qe = stack.svc('quota-enforcer');
            const { s, it, events } = await streamUntil(stack, t.key, 3,
                chatBody('a long answer please', { max_tokens: 40, stream: true }));
            let rest;
            let killedAt;
            try {
                await worker.kill9();
                killedAt = Date.now();
                rest = await readAll(it);
            } finally {
                s.done();
                if (!worker.running) await worker.restart();
            }
            const all = events.concat(rest);
            const c = expectErrorEnd(all, 'stream of the killed worker');
            measure('worker killed mid-stream: stream ended after the kill', all[all.length - 1].at - killedAt);
            assert(c.content >= 3 && c.content < 40, `content chunks received: ${c.content}`);
            //  The lease is gone: the tenant (1 concurrent request) is served again.
            let last;
            const ok = await poll(async () => {
                last = await chat(stack, t.key, 'after the worker died', { max_tokens: 2 });
                if (last.status === 429)
                    throw Object.assign(new TestFailure(`concurrency slot still taken: ${short(last)}`), { fatal: true });
                return last.status === 200;
            }, ms(5000), 100);
            assert(ok, `tenant not served after the worker came back: ${short(last)}`);
            expectChat(last, 'after the worker died');
            //  Billed: the tokens that reached the client, at least.
            const rows = await logRows(pg, t.id, 2, ms(5000));
            const bad = rows.filter((r) => r[1] !== 'ok');
            eq(bad.length, 1, `request_logs rows not ok (${JSON.stringify(rows)})`);
            eq(bad[0][0], c.id, 'request_logs.request_id of the stream whose worker died');
            eq(bad[0][1], 'error', 'request_logs.status of the stream whose worker died');
            const ct = Number(bad[0][4]);
            assert(ct >= c.content && ct <= 40,
                   `completion_tokens billed ${ct}, client received ${c.content} chunks`);
            assert(Number(bad[0][3]) > 0, `prompt_tokens billed ${bad[0][3]}`);
            await untilZero(qe, 'mt_qe_reservations', ms(3000));
        },
    },
    {
        name: 'metering killed and restarted: one ledger row per request, none lost, none twice',
        timeout: 40000,
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'pro' }, 'mkill');
            const mtr = stack.svc('metering');
            const gw = stack.svc('gateway');
            const resentBefore = (await gw.metric('mt_gw_usage_events_resent_total')) || 0;
            //  Requests every 80 ms. Metering freezes (SIGSTOP) while they run
            //  and complete: their usage events reach its socket, never its
            //  database. Then it dies (SIGKILL) with them and starts again.
            const launch = (i) => settled(chat(stack, t.key, `metering crash ${i}`, { max_tokens: 6 }));
            const reqs = [];
            const t0 = Date.now();
            let frozen = false;
            let res;
            try {
                for (let i = 0; i < 12; i++) {
                    if (!frozen && Date.now() - t0 >= 300) {
                        mtr.signal('SIGSTOP');
                        frozen = true;
                    }
                    reqs.push(launch(i));
                    await sleep(80);
                }
                res = await Promise.all(reqs);
            } finally {
                if (frozen && mtr.running) await mtr.kill9();
                if (!mtr.running) await mtr.restart();
            }
            //  And a few more with metering back.
            for (let i = 12; i < 15; i++) res.push(await launch(i));
            const ids = new Set();
            let total = 0;
            res.forEach((r, i) => {
                const c = expectChat(r, `request ${i}`);
                ids.add(c.json.id);
                total += c.usage.total_tokens;
            });
            eq(ids.size, 15, 'distinct completion ids');
            //  The gateway resends until everything is acknowledged.
            await untilZero(gw, 'mt_gw_usage_events_pending', ms(12000));
            const resent = (await gw.metric('mt_gw_usage_events_resent_total')) - resentBefore;
            assert(resent >= 1, `mt_gw_usage_events_resent_total rose by ${resent}: no event was lost with metering?`);
            process.stdout.write(`#   metering crash: ${resent} usage events resent\n`);
            const rows = await logRows(pg, t.id, 15, ms(5000), 'request_id, prompt_tokens + completion_tokens');
            eq(rows.length, 15, 'request_logs rows for 15 requests');
            const logged = new Set(rows.map((r) => r[0]));
            const missing = [...ids].filter((id) => !logged.has(id));
            assert(missing.length === 0, `completion ids missing from request_logs: ${missing.slice(0, 3).join(',')}`);
            eq(rows.reduce((s, r) => s + Number(r[1]), 0), total, 'request_logs tokens vs responses');
            await expectRollup(pg, t.id, total, 15);
        },
    },
    {
        name: 'metering: a slow database makes the gateway resend; each event stored once',
        timeout: 40000,
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'pro' }, 'mslow');
            const mtr = stack.svc('metering');
            const gw = stack.svc('gateway');
            const resentBefore = (await gw.metric('mt_gw_usage_events_resent_total')) || 0;
            const dupBefore = (await mtr.metric('mt_mtr_events_duplicate_total')) || 0;
            //  Another session holds request_logs until the gateway has sent
            //  the events again (it resends after 3 s without an ack):
            //  metering's batch waits, then both copies reach the database.
            const tag = `mt-it-lock-${t.id.slice(0, 8)}`;
            const lock = pg.query(`/* ${tag} */ BEGIN; LOCK TABLE request_logs IN EXCLUSIVE MODE;
                                   SELECT pg_sleep(${ms(20000) / 1000}); COMMIT;`)
                .catch((e) => e);           //  cancelled on purpose: never an unhandled rejection
            const unlock = () => pg.query(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity
                WHERE query LIKE '%${tag}%' AND pid <> pg_backend_pid()`);
            try {
                const locked = await poll(async () => Number((await pg.query(`SELECT count(*) FROM pg_locks l
                    JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'request_logs'
                    AND l.mode = 'ExclusiveLock' AND l.granted`))[0][0]) > 0, ms(2000), 50);
                assert(locked, 'the lock on request_logs was not taken');
                const res = await Promise.all([0, 1, 2, 3].map((i) =>
                    settled(chat(stack, t.key, `slow ledger ${i}`, { max_tokens: 3 }))));
                let total = 0;
                res.forEach((r, i) => { total += expectChat(r, `request ${i}`).usage.total_tokens; });
                let resent = 0;
                await poll(async () => {
                    resent = (await gw.metric('mt_gw_usage_events_resent_total')) - resentBefore;
                    return resent >= 4;
                }, ms(8000), 100);
                assert(resent >= 4, `mt_gw_usage_events_resent_total rose by ${resent} while metering's database ` +
                                    'was blocked, want >= 4');
                await unlock();
                await lock;
                await untilZero(gw, 'mt_gw_usage_events_pending', ms(8000));
                const rows = await logRows(pg, t.id, 4, ms(5000), 'request_id');
                eq(rows.length, 4, 'request_logs rows for 4 requests');
                await expectRollup(pg, t.id, total, 4);
                const dup = (await mtr.metric('mt_mtr_events_duplicate_total')) - dupBefore;
                process.stdout.write(`#   slow database: resent=${resent} metering duplicates=${dup}\n`);
            } finally {
                await unlock().catch(() => {});
                await lock;
            }
        },
    },
    {
        name: 'quota-enforcer killed and restarted: today\'s usage rebuilt, limit never passed',
        timeout: 40000,
        fn: async ({ stack, pg }) => {
            const qe = stack.svc('quota-enforcer');
            const prompt = 'quota across a restart';
            const M = 4;
            //  The prompt's token count, from another tenant's answer.
            const probe = expectChat(await chat(stack, stack.free.key, prompt, { max_tokens: 1 }), 'probe');
            const P = probe.usage.prompt_tokens;
            //  Room for 6 whole requests and one cut to 2 completion tokens.
            const L = 6 * (P + M) + P + 2;
            const t = await stack.tenant({ tier: 'free', daily_token_limit: L }, 'qkill');
            const answers = [];
            for (let i = 0; i < 3; i++) {
                const c = expectChat(await chat(stack, t.key, prompt, { max_tokens: M }), `request ${i}`);
                eq(c.usage.total_tokens, P + M, `request ${i} total_tokens`);
                answers.push(c.usage.total_tokens);
            }
            //  Metering stored them (the rebuild reads request_logs).
            const rows = await logRows(pg, t.id, 3, ms(5000), 'prompt_tokens + completion_tokens');
            eq(rows.length, 3, 'request_logs rows before the restart');
            try {
                await qe.kill9();
            } finally {
                await qe.restart();
            }
            let refused = null;
            let lastOk = null;
            for (let i = 3; i < 20 && !refused; i++) {
                const r = await chat(stack, t.key, prompt, { max_tokens: M });
                if (r.status === 200) {
                    lastOk = expectChat(r, `request ${i}`);
                    answers.push(lastOk.usage.total_tokens);
                } else {
                    refused = r;
                }
            }
            const spent = answers.reduce((s, x) => s + x, 0);
            assert(refused, `no refusal after ${answers.length} requests (spent ${spent} of ${L})`);
            expectError(refused, 429, 'quota_exceeded', 'insufficient_quota',
                        `request ${answers.length} (spent ${spent} of ${L})`);
            assert(spent <= L, `spent ${spent} tokens, over the daily limit ${L}`);
            //  At the right point: 6 whole requests, a 7th cut to what was left.
            eq(answers.length, 7, `requests served before the 429 (spent ${spent} of ${L}, prompt ${P})`);
            eq(lastOk.usage.completion_tokens, 2, 'completion_tokens of the last request (cut to the quota)');
            eq(spent, L, 'tokens spent when refused');
            const sum = await poll(async () => {
                const q = await pg.query(`SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0)
                    FROM request_logs WHERE tenant_id = '${t.id}'`);
                return Number(q[0][0]) >= 7 ? q[0] : null;
            }, ms(5000), 100);
            assert(sum, 'request_logs has fewer than 7 rows');
            eq(Number(sum[0]), 7, 'request_logs rows');
            eq(Number(sum[1]), L, 'request_logs tokens');
            await untilZero(qe, 'mt_qe_reservations', ms(3000));
        },
    },
    {
        name: 'scheduler down: quick 503s and /healthz 503, then served again after its restart',
        timeout: 40000,
        fn: async ({ stack }) => {
            const sched = stack.svc('scheduler');
            const gw = stack.svc('gateway');
            const qe = stack.svc('quota-enforcer');
            const t = await stack.tenant({ tier: 'free', max_concurrent_requests: 1 }, 'skill');
            expectChat(await chat(stack, t.key, 'before', { max_tokens: 2 }), 'before the kill');
            let killedAt;
            try {
                await sched.kill9();
                killedAt = Date.now();
                //  At once: the gateway waits for the scheduler's answer, at most
                //  its service timeout.
                const a = await timed(chat(stack, t.key, 'scheduler gone', { max_tokens: 2 }));
                expectError(a.r, 503, 'service_unavailable', undefined, 'request right after the kill');
                measure('scheduler killed: 503 of a request right after the kill', a.elapsed);
                //  The catalog goes stale: /healthz says so.
                let h;
                const stale = await poll(async () => {
                    h = await http(stack.base, 'GET', '/healthz');
                    return h.status === 503;
                }, CATALOG_STALE_MS + ms(10000), 100);
                assert(stale, `gateway /healthz still ${h && h.status} ${Date.now() - killedAt} ms after the kill`);
                measure('scheduler killed: gateway /healthz 503 after the kill', Date.now() - killedAt);
                assert(/scheduler/.test(h.json?.reason || ''), `/healthz reason ${JSON.stringify(h.text)}`);
                //  Now every request fails fast.
                const b = await timed(chat(stack, t.key, 'still gone', { max_tokens: 2 }));
                expectError(b.r, 503, 'service_unavailable', undefined, 'request with a stale catalog');
                measure('scheduler down: 503 with a stale catalog', b.elapsed);
                const sb = await timed(chat(stack, t.key, 'streamed', { max_tokens: 2, stream: true }));
                expectError(sb.r, 503, 'service_unavailable', undefined, 'stream with a stale catalog');
                measure('scheduler down: streamed 503 with a stale catalog', sb.elapsed);
                eq((await stack.get('/v1/models', t.key)).status, 503, '/v1/models with a stale catalog');
            } finally {
                if (!sched.running) await sched.restart();
            }
            //  Workers register again and the gateway gets a catalog.
            const back = Date.now();
            let last;
            const ok = await poll(async () => {
                last = await chat(stack, t.key, 'scheduler back', { max_tokens: 2 });
                return last.status === 200;
            }, ms(10000), 200);
            assert(ok, `not served ${Date.now() - back} ms after the scheduler restarted: ${short(last)}`);
            expectChat(last, 'after the restart');
            measure('scheduler restarted: served again after the restart', Date.now() - back);
            //  No lease leaked from the requests of the outage (1 allowed).
            for (let i = 0; i < 2; i++)
                expectChat(await chat(stack, t.key, `again ${i}`, { max_tokens: 2 }), `request ${i} after the restart`);
            eq((await http(stack.base, 'GET', '/healthz')).status, 200, 'gateway /healthz after the restart');
            await untilZero(qe, 'mt_qe_reservations', ms(3000));
        },
    },
];

//  A worker that crashes and is started again (same MT_WA_ID, as a supervisor
//  or docker's restart policy does) before the scheduler's worker timeout: it
//  connects under a routing id of its own, so the dead process's jobs fail
//  as "worker lost" and their leases free, instead of hanging.
const restartTests = [
    {
        name: 'worker killed and restarted at once: its stream still ends, its lease is freed',
        fn: async ({ stack }) => {
            const t = await stack.tenant({ tier: 'free', max_concurrent_requests: 1 }, 'wfast');
            const worker = stack.svc('worker-standard');
            const { s, it, events } = await streamUntil(stack, t.key, 3,
                chatBody('a long answer please', { max_tokens: 40, stream: true }));
            const bound = WORKER_TIMEOUT_MS + ms(3000);
            let rest = [];
            let err = null;
            let killedAt;
            const timer = setTimeout(() => s.abort(), bound + ms(2000));
            try {
                await worker.kill9();
                killedAt = Date.now();
                await worker.restart();
                rest = await readAll(it);
            } catch (e) {
                err = e;
            } finally {
                clearTimeout(timer);
                s.done();
                if (!worker.running) await worker.restart();
            }
            assert(!err, `stream still open ${Date.now() - killedAt} ms after the worker was killed and ` +
                         `restarted (${events.length + rest.length} events): ${err && err.message}`);
            const all = events.concat(rest);
            expectErrorEnd(all, 'stream of the restarted worker');
            measure('worker killed and restarted: stream ended after the kill', all[all.length - 1].at - killedAt);
            let last;
            const ok = await poll(async () => {
                last = await chat(stack, t.key, 'after the restart', { max_tokens: 2 });
                return last.status === 200;
            }, ms(3000), 100);
            assert(ok, `tenant not served after the worker restarted: ${short(last)}`);
        },
    },
];
failTests.push(...restartTests);

export const timeoutTests = [
    {
        name: 'request timeout: stream ends with an error event (billed what it got), non-stream gets 503 (billed nothing)',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'pro' }, 'rtimeout');
            const worker = stack.svc('worker-standard');
            const qe = stack.svc('quota-enforcer');
            const cancelledBefore = await worker.metric('mt_wa_jobs_cancelled_total');
            const t0 = Date.now();
            const plain = timed(chat(stack, t.key, 'a slow plain answer', { max_tokens: 40 }));
            const s = await openStream(stack.base, '/v1/chat/completions', t.key,
                chatBody('a slow streamed answer', { max_tokens: 40, stream: true }), ms(10000));
            eq(s.status, 200, 'stream status');
            let events;
            try {
                events = await readAll(s.events());
            } finally {
                s.done();
            }
            const streamMs = events[events.length - 1].at - t0;
            const c = expectErrorEnd(events, 'timed-out stream');
            eq(c.errors[0].code, 'service_unavailable', 'error code of the timed-out stream');
            assert(c.content >= 3 && c.content < 40, `content chunks before the timeout: ${c.content}`);
            measure(`request timeout (${REQUEST_TIMEOUT_MS} ms): stream ended after`, streamMs);
            const p = await plain;
            expectError(p.r, 503, 'service_unavailable', undefined, 'timed-out non-stream request');
            measure(`request timeout (${REQUEST_TIMEOUT_MS} ms): non-stream 503 after`, p.elapsed);
            //  Billed what the client received, as cancelled: the stream what
            //  was produced for it, the non-stream 503 nothing.
            const rows = await logRows(pg, t.id, 2, ms(5000),
                                       'request_id, status, http_status, prompt_tokens, completion_tokens');
            eq(rows.length, 2, `request_logs rows (${JSON.stringify(rows)})`);
            for (const r of rows)
                eq(r[1], 'cancelled', `request_logs.status (${JSON.stringify(r)})`);
            const streamed = rows.find((r) => r[0] === c.id);
            assert(streamed, `no request_logs row with the stream's id ${c.id}`);
            const ct = Number(streamed[4]);
            assert(ct >= c.content && ct < 40,
                   `stream billed ${ct} completion tokens, received ${c.content} chunks`);
            const plainRow = rows.find((r) => r[0] !== c.id);
            eq(Number(plainRow[3]) + Number(plainRow[4]), 0, 'tokens billed for the non-stream 503');
            eq(Number(plainRow[2]), 503, 'request_logs.http_status of the non-stream 503');
            await untilZero(qe, 'mt_qe_reservations', ms(3000));
            if (cancelledBefore !== null) {
                const done = await poll(async () => (await worker.metric('mt_wa_jobs_cancelled_total')) >= cancelledBefore + 2,
                                        ms(3000), 100);
                assert(done, 'the worker did not cancel both jobs');
            }
        },
    },
];
