//  `make bench-chaos`: kill -9 each service once, in turn, under steady load,
//  and report for each kill the client requests that failed, the longest
//  request (stall), the time until the service answered /healthz again and
//  until the clients were served again, and the ledger against the tokens
//  the clients were told they used. Two workers serve the standard pool.
//  Each service is started again 500 ms after its kill, as a supervisor
//  would. It reports; it never fails on a number. Every process it starts is
//  stopped on exit (the integration harness's Stack does the starting).
//
//  Environment (all optional):
//    BUILD                    build folder holding bin/mt-*          (build)
//    MT_BENCH_CHAOS_CLIENTS   clients in a loop, non-streamed chat   (8)
//    MT_BENCH_CHAOS_SECONDS   load after each restart                (3)
import http from 'node:http';

async function main() {
    const harness = await import('../integration/harness.mjs');
    const { Postgres, Stack, Service, newTmpDir, killAllSync, sleep, freePort } = harness;
    const clients = Number(process.env.MT_BENCH_CHAOS_CLIENTS || 8);
    const seconds = Number(process.env.MT_BENCH_CHAOS_SECONDS || 3);
    const say = (s) => process.stderr.write(`bench-chaos: ${s}\n`);
    const tmp = newTmpDir();
    const pg = new Postgres(tmp);
    process.on('exit', () => killAllSync());
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAllSync(); process.exit(1); });

    await pg.start();
    const m = await pg.migrate();
    if (m.code !== 0) { say(`migrate failed: ${m.stderr.slice(-300)}`); process.exit(0); }
    const stack = new Stack(pg, tmp, { name: 'chaos', sim: { ttft: 20, itl: 5, tokens: 16 }, slots: 16,
                                       skip: ['worker-premium'] });
    await stack.start();
    //  A second worker for the standard pool
    const w1 = stack.svc('worker-standard');
    const w2port = await freePort();
    const w2 = new Service('worker-standard-2', w1.bin,
                           { ...w1.env, MT_WA_ID: 'wa-chaos-standard-2', MT_WA_METRICS_PORT: String(w2port) },
                           stack.dir);
    w2.metricsPort = w2port;
    stack.services.push(w2);
    w2.start();
    await w2.waitHealthy();
    const port = stack.ports.gwHttp;
    const BIG = { max_concurrent_requests: 10000, requests_per_minute: 1000000000,
                  tokens_per_minute: 1000000000000, daily_token_limit: 1000000000000000 };

    function chat(key, i) {
        const body = JSON.stringify({ model: 'sim-small', max_tokens: 16,
                                      messages: [{ role: 'user', content: `chaos ${i}` }] });
        return new Promise((resolve) => {
            const t0 = Date.now();
            const r = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions',
                                     timeout: 30000, headers: { authorization: `Bearer ${key}`,
                                     'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
            (res) => {
                const parts = [];
                res.on('data', (d) => parts.push(d));
                res.on('end', () => {
                    let tokens = 0;
                    try { tokens = JSON.parse(Buffer.concat(parts).toString()).usage.total_tokens || 0; } catch { /* error body */ }
                    resolve({ status: res.statusCode, tokens: res.statusCode === 200 ? tokens : 0, t0, t1: Date.now() });
                });
                res.on('error', () => resolve({ status: 0, tokens: 0, t0, t1: Date.now() }));
            });
            r.on('timeout', () => r.destroy(new Error('timeout')));
            r.on('error', () => resolve({ status: 0, tokens: 0, t0, t1: Date.now() }));
            r.end(body);
        });
    }

    const victims = ['worker-standard', 'scheduler', 'quota-enforcer', 'metering', 'gateway'];
    const rows = [];
    for (const name of victims) {
        const t = await stack.tenant({ tier: 'pro', ...BIG }, `chaos-${name}`);
        const results = [];
        let stop = false;
        let n = 0;
        const loops = [];
        for (let c = 0; c < clients; c++)
            loops.push((async () => {
                for (let i = 0; i < 100000 && !stop; i++) {
                    const r = await chat(t.key, n++);
                    results.push(r);
                    if (r.status !== 200) await sleep(20);
                }
            })());
        await sleep(2000);
        const svc = stack.svc(name);
        const killedAt = Date.now();
        await svc.kill9();
        await sleep(500);
        let healthyAt = NaN;
        try {
            await svc.restart();
            healthyAt = Date.now();
        } catch (e) {
            say(`${name} did not come back: ${e.message}`);
        }
        await sleep(seconds * 1000);
        stop = true;
        await Promise.all(loops);
        //  Usage settles: the gateway's unacknowledged events reach the ledger
        for (let i = 0; i < 100; i++) {
            const pending = await stack.svc('gateway').metric('mt_gw_usage_events_pending').catch(() => NaN);
            if (pending === 0) break;
            await sleep(200);
        }
        await sleep(500);
        const q = await pg.query(`SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)
                                  FROM request_logs WHERE tenant_id = '${t.id}'`);
        const failed = results.filter((r) => r.status !== 200);
        const okAfter = results.filter((r) => r.status === 200 && r.t0 >= killedAt).sort((a, b) => a.t1 - b.t1)[0];
        rows.push({
            name, requests: results.length, failed: failed.length,
            statuses: [...new Set(failed.map((r) => r.status))].join('/') || '-',
            stall: Math.max(...results.map((r) => r.t1 - r.t0)),
            healthy: healthyAt - killedAt,
            served: okAfter ? okAfter.t1 - killedAt : NaN,
            seen: results.reduce((s, r) => s + r.tokens, 0),
            ledger: Number(q[0][0]),
        });
        say(`${name}: done`);
    }
    const out = [];
    out.push(`bench-chaos: ${clients} clients, non-streamed chat, 2 standard workers; kill -9, restarted 500 ms later`);
    out.push('| killed | requests | failed (status) | longest request | /healthz again | clients served again | client-seen tokens | ledger tokens |');
    out.push('|---|---|---|---|---|---|---|---|');
    for (const r of rows)
        out.push(`| ${r.name} | ${r.requests} | ${r.failed} (${r.statuses}) | ${r.stall} ms | ${r.healthy} ms | ${r.served} ms | ${r.seen} | ${r.ledger} |`);
    process.stdout.write(out.join('\n') + '\n');
    await stack.stopAll();
    await pg.stop();
}

main().catch((e) => {
    process.stderr.write(`bench-chaos: error: ${e && e.stack ? e.stack : e}\n`);
    process.exit(0);
});
