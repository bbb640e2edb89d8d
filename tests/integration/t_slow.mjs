//  Tests against the slow stack (50 ms between tokens): concurrency leases,
//  client disconnects.
import { assert, eq, ms, poll, http, openStream, TestFailure } from './harness.mjs';
import { chat, chatBody, short, expectError, expectChat, expectStream, retryAfter } from './common.mjs';

//  Open a slow stream and wait for its first content event.
async function slowStream(stack, key, maxTokens = 40) {
    const s = await openStream(stack.base, '/v1/chat/completions', key,
                               chatBody('a long answer please', { max_tokens: maxTokens, stream: true }));
    if (s.status !== 200) {
        s.abort();
        throw new TestFailure(`slow stream: status ${s.status}`);
    }
    const it = s.events();
    const first = await it.next();
    assert(!first.done, 'slow stream ended before its first event');
    return { s, it };
}

async function metric(port, name) {
    const r = await http(`http://127.0.0.1:${port}`, 'GET', '/metrics');
    if (r.status !== 200) return null;
    let sum = null;
    for (const line of r.text.split('\n')) {
        if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
            const v = Number(line.trim().split(/\s+/).pop());
            if (Number.isFinite(v)) sum = (sum || 0) + v;
        }
    }
    return sum;
}

export default [
    {
        name: '429 concurrency_limit_exceeded, and the slot frees on completion',
        fn: async ({ stack }) => {
            const t = await stack.tenant({ tier: 'free', max_concurrent_requests: 1 }, 'conc');
            const other = await stack.tenant({ tier: 'free' }, 'conc-other');
            const { s, it } = await slowStream(stack, t.key, 40);
            let rest;
            try {
                const r = await chat(stack, t.key, 'second one', { max_tokens: 2 });
                const e = expectError(r, 429, 'concurrency_limit_exceeded', 'requests', 'second request in flight');
                assert(e, 'error');
                retryAfter(r, 'concurrency 429');
                for (const h of ['x-request-id'])
                    assert(r.headers.get(h), `429 without ${h}`);
                const rs = await chat(stack, t.key, 'streamed second', { max_tokens: 2, stream: true });
                expectError(rs, 429, 'concurrency_limit_exceeded', undefined, 'streamed second request');
                //  Another tenant is not affected.
                expectChat(await chat(stack, other.key, 'other tenant', { max_tokens: 2 }), 'other tenant meanwhile');
            } finally {
                rest = [];
                for (let i = 0; i < 200; i++) {
                    const ev = await it.next();
                    if (ev.done) break;
                    rest.push(ev.value);
                }
                s.done();
            }
            eq(rest[rest.length - 1], '[DONE]', 'first stream end');
            //  The lease frees on completion: a new request soon succeeds.
            let last;
            const ok = await poll(async () => {
                last = await chat(stack, t.key, 'after the first', { max_tokens: 2 });
                return last.status === 200;
            }, ms(3000), 100);
            assert(ok, `after the first finished: ${short(last)}`);
            expectChat(last, 'after the first');
        },
    },
    {
        name: 'client disconnect frees the concurrency slot and cancels the job',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'free', max_concurrent_requests: 1 }, 'disc');
            const worker = stack.svc('worker-standard');
            const cancelledBefore = await metric(worker.metricsPort, 'mt_wa_jobs_cancelled_total');
            const { s, it } = await slowStream(stack, t.key, 40);
            const second = await it.next();
            assert(!second.done, 'slow stream ended early');
            s.abort();
            const t0 = Date.now();
            let last;
            const ok = await poll(async () => {
                last = await chat(stack, t.key, 'after the disconnect', { max_tokens: 1 });
                return last.status === 200;
            }, ms(3000), 100);
            assert(ok, `slot still taken ${Date.now() - t0} ms after the disconnect: ${short(last)}`);
            //  The worker aborted the job (when it exports the counter).
            if (cancelledBefore !== null) {
                const cancelled = await poll(async () => {
                    const v = await metric(worker.metricsPort, 'mt_wa_jobs_cancelled_total');
                    return v !== null && v > cancelledBefore;
                }, ms(3000), 100);
                assert(cancelled, `mt_wa_jobs_cancelled_total stayed ${cancelledBefore}`);
            } else {
                process.stdout.write('# note: worker exports no mt_wa_jobs_cancelled_total\n');
            }
            //  Tokens generated before the disconnect are billed, not the rest.
            let rows = [];
            const billed = await poll(async () => {
                rows = await pg.query(`SELECT status, completion_tokens, http_status FROM request_logs
                    WHERE tenant_id = '${t.id}' AND status <> 'ok'`);
                return rows.length >= 1;
            }, ms(5000), 100);
            assert(billed, 'no request_logs row for the disconnected request');
            eq(rows.length, 1, 'request_logs rows not ok');
            eq(rows[0][0], 'cancelled', 'request_logs.status of the disconnected request');
            const ct = Number(rows[0][1]);
            assert(ct >= 2 && ct < 40, `completion_tokens billed for the disconnected stream: ${ct}`);
        },
    },
    {
        //  libmicrohttpd does not watch a suspended connection; the gateway peeks
        //  at it every second, so a non-streamed request whose client hangs up
        //  is cancelled without waiting for its job to finish.
        name: 'client disconnect of a non-streamed request frees the slot and cancels the job',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'free', max_concurrent_requests: 1 }, 'disc-ns');
            //  Hang up once the job runs on the worker (not on a clock: under
            //  load the request may still be in admission after a fixed delay,
            //  and a job that never ran leaves no ledger row).
            const worker = stack.svc('worker-standard');
            const busy = async () => (await worker.metric('mt_wa_slots_busy')) ?? 0;
            assert(await poll(async () => (await busy()) === 0, ms(5000), 50),
                   'the worker is still busy with an earlier test\'s jobs');
            const ac = new AbortController();
            const pending = http(stack.base, 'POST', '/v1/chat/completions',
                                 { key: t.key, body: chatBody('a long answer please', { max_tokens: 40 }),
                                   signal: ac.signal }).then(() => 'finished', () => 'aborted');
            const running = await poll(async () => (await busy()) >= 1, ms(5000), 20);
            assert(running, 'the job never started on the worker');
            ac.abort();
            const started = Date.now();
            eq(await pending, 'aborted', 'the slow non-streamed request before the client hung up');
            let last;
            const ok = await poll(async () => {
                last = await chat(stack, t.key, 'after the hang-up', { max_tokens: 1 });
                return last.status === 200;
            }, ms(3000), 100);
            //  40 tokens at 50 ms take 2 s: the slot must free well before that
            assert(ok, `slot still taken ${Date.now() - started} ms after the hang-up: ${short(last)}`);
            let rows = [];
            const billed = await poll(async () => {
                rows = await pg.query(`SELECT status, completion_tokens FROM request_logs
                    WHERE tenant_id = '${t.id}' AND status <> 'ok'`);
                return rows.length >= 1;
            }, ms(5000), 100);
            assert(billed, 'no request_logs row for the abandoned request');
            eq(rows[0][0], 'cancelled', 'request_logs.status of the abandoned request');
            const ct = Number(rows[0][1]);
            assert(ct < 40, `completion_tokens billed for the abandoned request: ${ct} (the job was not cancelled)`);
        },
    },
    {
        name: 'fair share: a light tenant is served while a heavy tenant floods',
        timeout: 40000,
        fn: async ({ stack }) => {
            //  The standard pool has one worker with 8 slots: the heavy tenant
            //  fills them and queues 8 more; the light tenant comes after.
            const heavy = await stack.tenant({ tier: 'pro', max_concurrent_requests: 20 }, 'heavy');
            const light = await stack.tenant({ tier: 'free' }, 'light');
            const flood = [];
            for (let i = 0; i < 16; i++) {
                flood.push(chat(stack, heavy.key, `flood ${i}`, { max_tokens: 20 })
                    .then((r) => ({ r, at: Date.now() }), (e) => ({ r: { status: 0, text: String(e) }, at: Date.now() })));
            }
            await new Promise((r) => setTimeout(r, 300));
            const r = await chat(stack, light.key, 'light one', { max_tokens: 2 });
            const lightAt = Date.now();
            expectChat(r, 'light tenant under flood');
            const done = await Promise.all(flood);
            const bad = done.filter((x) => x.r.status !== 200);
            assert(bad.length === 0, `flood requests failed: ${bad.map((x) => short(x.r)).slice(0, 2).join(' | ')}`);
            //  Served at the first free slot, not after the heavy tenant's queue:
            //  it ends before the heavy tenant's 9th request does.
            const ends = done.map((x) => x.at).sort((x, y) => x - y);
            assert(lightAt < ends[8], `light tenant finished ${lightAt - ends[8]} ms after the heavy tenant's 9th request`);
        },
    },
    {
        name: 'a stream gets a fully formed end under load',
        fn: async ({ stack }) => {
            const t = await stack.tenant({ tier: 'pro' }, 'streams');
            const reqs = [];
            for (let i = 0; i < 6; i++)
                reqs.push(chat(stack, t.key, `parallel ${i}`, { max_tokens: 8, stream: true, stream_options: { include_usage: true } }));
            const res = await Promise.all(reqs);
            res.forEach((r, i) => {
                const s = expectStream(r, 'chat', `stream ${i}`);
                eq(s.usage.completion_tokens, 8, `stream ${i} completion_tokens`);
            });
        },
    },
    {
        //  Last test of the stack: it stops the gateway.
        name: 'SIGTERM: the gateway finishes an open stream, then exits 0',
        fn: async ({ stack }) => {
            const gw = stack.svc('gateway');
            const { s, it } = await slowStream(stack, stack.free.key, 12);
            gw.child.kill('SIGTERM');
            gw.stoppedByTest = true;
            const rest = [];
            for (let i = 0; i < 200; i++) {
                const ev = await it.next();
                if (ev.done) break;
                rest.push(ev.value);
            }
            s.done();
            eq(rest[rest.length - 1], '[DONE]', 'stream end after SIGTERM');
            const chunks = rest.slice(0, -1).map((d) => JSON.parse(d));
            assert(!chunks.some((c) => c.error), `stream ended with an error: ${rest.slice(-2, -1)}`);
            assert(chunks.some((c) => c.choices?.[0]?.finish_reason === 'length'), 'no finish_reason in the drained stream');
            const exit = await Promise.race([gw.exited, new Promise((r) => setTimeout(() => r(null), ms(8000)))]);
            gw.reportedDead = true;
            assert(exit, 'gateway still running 8 s after SIGTERM');
            assert(exit.code === 0, `gateway exit after SIGTERM: code ${exit.code} signal ${exit.signal}`);
        },
    },
];
