//  No request lost to a crash (issue 9), the retries inside the stack: a
//  worker killed under load with a second worker in its pool, and the
//  scheduler killed with jobs queued. Each test ends in an exact ledger
//  comparison (every answered request's row holds the tokens its client was
//  told) and checks that no reservation, lease or job is left behind.
import { assert, eq, freePort, ms, parseSSE, poll, Service, sleep } from './harness.mjs';
import { chat, short } from './common.mjs';

//  The scheduler of this group declares a silent worker dead after this.
export const REQUEUE_WORKER_TIMEOUT_MS = 1500;

//  A second worker for the standard pool (once per stack; stopped with it).
async function secondWorker(stack) {
    const name = 'worker-standard-2';
    let w2 = stack.svc(name);
    if (w2) return w2;
    const w1 = stack.svc('worker-standard');
    const port = await freePort();
    w2 = new Service(name, w1.bin, { ...w1.env, MT_WA_ID: `wa-${stack.name}-standard-2`,
                                     MT_WA_METRICS_PORT: String(port) }, stack.dir);
    w2.metricsPort = port;
    stack.services.push(w2);
    w2.start();
    await w2.waitHealthy();
    const sched = stack.svc('scheduler');
    const two = await poll(async () => (await sched.metric('mt_sch_workers_live')) >= 2, ms(5000), 100);
    assert(two, 'the scheduler does not see two workers');
    return w2;
}

//  One request, streamed or not, and what its client was told.
//  outcome: ok (tokens = usage.total_tokens), failed (an error before any
//  token: status not 200, or a stream whose first event is an error),
//  started (a stream that showed tokens, then an error event).
async function ask(stack, key, prompt, stream) {
    let r;
    try {
        r = await chat(stack, key, prompt, stream ? { max_tokens: 16, stream: true,
                                                      stream_options: { include_usage: true } }
                                                  : { max_tokens: 16 });
    } catch (e) {
        return { outcome: 'failed', why: `fetch: ${e && e.message}`, stream };
    }
    if (r.status !== 200) return { outcome: 'failed', why: short(r), stream };
    if (!stream) return { outcome: 'ok', id: r.json.id, tokens: r.json.usage.total_tokens, stream };
    let chunks;
    try {
        chunks = parseSSE(r.text).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d));
    } catch (e) {
        return { outcome: 'failed', why: `bad stream: ${e.message}`, stream };
    }
    const err = chunks.findIndex((c) => c.error);
    const content = chunks.slice(0, err < 0 ? chunks.length : err)
        .filter((c) => c.choices && c.choices[0] && c.choices[0].delta && c.choices[0].delta.content).length;
    const id = chunks.find((c) => c.id)?.id;
    if (err < 0) {
        const usage = chunks[chunks.length - 1].usage;
        if (!usage) return { outcome: 'failed', why: 'stream without its usage chunk', stream };
        return { outcome: 'ok', id, tokens: usage.total_tokens, stream };
    }
    if (content === 0) return { outcome: 'failed', why: `error before any token: ${JSON.stringify(chunks[err].error)}`, stream };
    return { outcome: 'started', id, stream };
}

function tally(results) {
    const t = { ok: 0, tokens: 0, ids: new Map(), failed: [], started: [] };
    for (const r of results) {
        if (r.outcome === 'ok') {
            t.ok++;
            t.tokens += r.tokens;
            t.ids.set(r.id, r.tokens);
        } else if (r.outcome === 'started') t.started.push(r.id);
        else t.failed.push(`${r.stream ? 'stream' : 'plain'}: ${r.why}`);
    }
    return t;
}

//  The ledger against what the clients were told: every answered request's
//  row holds its tokens; the only other rows are streams cut after their
//  first token (billed what they received, status error); usage_records
//  holds the same sum. Then nothing is left in flight anywhere.
async function checkLedger(stack, pg, tenant, t) {
    const gw = stack.svc('gateway');
    const drained = await poll(async () => (await gw.metric('mt_gw_usage_events_pending')) === 0, ms(10000), 100);
    assert(drained, 'usage events still unacknowledged at the gateway after 10 s');
    const rows = await pg.query(`SELECT request_id, prompt_tokens + completion_tokens, status, http_status
                                 FROM request_logs WHERE tenant_id = '${tenant}'`);
    const byId = new Map(rows.map((r) => [r[0], r]));
    for (const [id, tokens] of t.ids) {
        const row = byId.get(id);
        assert(row, `no ledger row for answered request ${id}`);
        eq(Number(row[1]), tokens, `ledger tokens of answered request ${id}`);
        eq(row[2], 'ok', `ledger status of answered request ${id}`);
    }
    const others = rows.filter((r) => !t.ids.has(r[0]));
    const cut = new Set(t.started);
    for (const r of others)
        assert(cut.has(r[0]) && r[2] === 'error' && r[3] === '200',
               `ledger row of a request no client was answered: ${JSON.stringify(r)}`);
    eq(others.length, cut.size, 'ledger rows of streams cut after their first token');
    const okTokens = rows.filter((r) => t.ids.has(r[0])).reduce((n, r) => n + Number(r[1]), 0);
    eq(okTokens, t.tokens, 'ledger tokens of answered requests vs tokens their clients were told');
    const all = rows.reduce((n, r) => n + Number(r[1]), 0);
    const u = await pg.query(`SELECT coalesce(sum(tokens_used), 0) FROM usage_records WHERE tenant_id = '${tenant}'`);
    eq(Number(u[0][0]), all, 'usage_records tokens vs request_logs');
    //  Nothing left behind: reservations, leases (queued + running jobs)
    for (const [svc, name] of [['quota-enforcer', 'mt_qe_reservations'], ['scheduler', 'mt_sch_jobs_queued'],
                               ['scheduler', 'mt_sch_jobs_running']]) {
        let v = null;
        const zero = await poll(async () => (v = await stack.svc(svc).metric(name)) === 0, ms(5000), 100);
        assert(zero, `${svc} ${name} is ${v}, not 0`);
    }
}

export const requeueTests = [
    {
        name: 'worker kill -9 under load, a second worker in the pool: no non-streamed client and no stream before its first token fails, ledger exact',
        timeout: 60000,
        fn: async ({ stack, pg }) => {
            await secondWorker(stack);
            const t = await stack.tenant({ tier: 'pro', max_concurrent_requests: 1000, requests_per_minute: 1000000,
                                           tokens_per_minute: 100000000 }, 'requeue-wkill');
            const gw = stack.svc('gateway');
            const resubmitted = await gw.metric('mt_gw_jobs_resubmitted_total');
            const results = [];
            let stop = false;
            const loops = [];
            for (let c = 0; c < 8; c++)
                loops.push((async () => {
                    for (let i = 0; i < 500 && !stop; i++)
                        results.push(await ask(stack, t.key, `requeue ${c} ${i}`, (c + i) % 4 === 3));
                })());
            const victim = stack.svc('worker-standard');
            try {
                await sleep(ms(1000));
                //  Killed while it runs jobs
                const busy = await poll(async () => (await victim.metric('mt_wa_slots_busy')) >= 2, ms(5000), 20);
                assert(busy, 'the worker to kill never ran two jobs at once');
                await victim.kill9();
                await sleep(500);
                await victim.restart();
                await sleep(REQUEUE_WORKER_TIMEOUT_MS + ms(2000));
            } finally {
                stop = true;
                await Promise.all(loops);
                if (!victim.running) await victim.restart();
            }
            const s = tally(results);
            assert(s.ok >= 20, `only ${s.ok} requests answered`);
            eq(s.failed.length, 0, `failed clients (${s.failed.slice(0, 3).join('; ')})`);
            //  Each job the kill hit was submitted again, or was a stream that had
            //  shown tokens (cut, billed what it got)
            const again = (await gw.metric('mt_gw_jobs_resubmitted_total')) - resubmitted;
            assert(again + s.started.length >= 1, 'the kill hit no job in flight');
            await checkLedger(stack, pg, t.id, s);
        },
    },
    {
        name: 'scheduler kill -9 with jobs queued: every queued job is submitted again, running ones finish, no client sees an error, ledger exact',
        timeout: 60000,
        fn: async ({ stack, pg }) => {
            await secondWorker(stack);
            const t = await stack.tenant({ tier: 'pro', max_concurrent_requests: 1000, requests_per_minute: 1000000,
                                           tokens_per_minute: 100000000 }, 'requeue-skill');
            const gw = stack.svc('gateway');
            const sched = stack.svc('scheduler');
            const resubmitted = await gw.metric('mt_gw_jobs_resubmitted_total');
            //  Four slots in the pool: most of these wait in the scheduler's queue
            const pending = [];
            for (let i = 0; i < 16; i++) pending.push(ask(stack, t.key, `queued ${i}`, i % 2 === 1));
            const queued = await poll(async () => (await sched.metric('mt_sch_jobs_queued')) >= 8, ms(5000), 50);
            assert(queued, 'jobs did not queue at the scheduler');
            try {
                await sched.kill9();
                await sleep(500);
            } finally {
                await sched.restart();
            }
            const s = tally(await Promise.all(pending));
            eq(s.failed.length, 0, `failed clients (${s.failed.slice(0, 3).join('; ')})`);
            eq(s.started.length, 0, 'streams cut after their first token');
            eq(s.ok, 16, 'requests answered');
            const again = (await gw.metric('mt_gw_jobs_resubmitted_total')) - resubmitted;
            assert(again >= 8, `${again} jobs submitted again, at least 8 were queued`);
            await checkLedger(stack, pg, t.id, s);
        },
    },
];
