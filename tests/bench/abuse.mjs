//  `make bench-abuse`: the gateway under hostile connections. An attacker
//  process holds N silent and N slowloris connections (one header line every
//  5 s), spread over loopback addresses 250 to an address (under the
//  per-address cap, as a distributed attacker would); meanwhile a normal
//  client runs chat completions over the keep-alive connections it opened
//  before the attack, and a probe opens a fresh connection for /healthz each
//  200 ms as a kubelet would. Reports, per N: the client's p50/p99 and
//  errors, the probe's answers, the gateway's RSS and its refusal counters.
//  It reports; it never fails on a number. Every process it starts is
//  stopped on exit (the integration harness's Stack does the starting).
//
//  Environment (all optional):
//    BUILD                      build folder holding bin/mt-*                (build)
//    MT_BENCH_ABUSE_LIMIT       the gateway's max-connections                (4000)
//    MT_BENCH_ABUSE_N           comma-separated N (each N idle + N slow); the
//                               last one goes past the limit      (0,500,1000,1990,2200)
//    MT_BENCH_ABUSE_SECONDS     measuring time per N                         (8)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

//  ---------------------------------------------------------------- attacker
//  node abuse.mjs --attacker <port> <n>: opens n silent and n slow
//  connections, prints one JSON line of counts each second.
if (process.argv[2] === '--attacker') {
    const port = +process.argv[3];
    const n = +process.argv[4];
    const perAddr = 250;
    let connected = 0, closed = 0, refused = 0, opened = 0;
    const socks = [];
    const addr = (i) => `127.0.${2 + Math.floor(i / perAddr / 250)}.${1 + (Math.floor(i / perAddr) % 250)}`;
    function open(i, slow) {
        const s = net.connect({ port, host: '127.0.0.1', localAddress: addr(i) });
        let ok = false;
        s.on('connect', () => {
            ok = true;
            connected++;
            if (slow) s.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n');
        });
        s.on('error', () => {});
        s.on('close', () => { if (ok) closed++; else refused++; });
        s.slow = slow;
        socks.push(s);
    }
    //  Open in batches so the accept queue is not the bottleneck measured
    let i = 0;
    const total = 2 * n;
    const batch = setInterval(() => {
        for (let k = 0; k < 200 && i < total; k++, i++) open(i, i % 2 === 1);
        opened = i;
        if (i >= total) clearInterval(batch);
    }, 20);
    const drip = setInterval(() => {
        for (const s of socks) if (s.slow && !s.destroyed && s.writable) s.write('X-Drip: 1\r\n');
    }, 5000);
    const tick = setInterval(() => {
        process.stdout.write(JSON.stringify({ opened, connected, open: connected - closed, closed, refused }) + '\n');
    }, 500);
    process.on('SIGTERM', () => {
        clearInterval(batch); clearInterval(drip); clearInterval(tick);
        for (const s of socks) s.destroy();
        setTimeout(() => process.exit(0), 100);
    });
    setTimeout(() => process.exit(0), 600000);     //  never outlive the bench
} else {
    await main();
}

//  ---------------------------------------------------------------- bench
function pct(sorted, p) {
    if (!sorted.length) return NaN;
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function rssMiB(pid) {
    try {
        const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m ? Number(m[1]) / 1024 : NaN;
    } catch { return NaN; }
}

function request(opts, body) {
    return new Promise((resolve) => {
        const t0 = process.hrtime.bigint();
        const r = http.request({ host: '127.0.0.1', timeout: 10000, ...opts }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
            res.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
        });
        r.on('timeout', () => r.destroy(new Error('timeout')));
        r.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
        r.end(body);
    });
}

async function metrics(port) {
    const out = {};
    const text = await new Promise((resolve) => {
        const r = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 5000,
                             localAddress: '127.0.0.8' }, (res) => {
            let s = '';
            res.on('data', (d) => { s += d; });
            res.on('end', () => resolve(s));
        });
        r.on('error', () => resolve(''));
        r.on('timeout', () => r.destroy());
    });
    for (const line of text.split('\n')) {
        const m = /^(gw_connections_\w+(?:\{[^}]*\})?) (\d+)/.exec(line);
        if (m) out[m[1]] = Number(m[2]);
    }
    return out;
}

async function main() {
    const harness = await import('../integration/harness.mjs');
    const { Postgres, Stack, newTmpDir, killAllSync, sleep } = harness;
    const limit = Number(process.env.MT_BENCH_ABUSE_LIMIT || 4000);
    const steps = (process.env.MT_BENCH_ABUSE_N || `0,${limit / 8},${limit / 4},${limit / 2 - 10},${limit / 2 + 200}`)
        .split(',').map(Number).filter((x) => Number.isFinite(x) && x >= 0);
    const seconds = Number(process.env.MT_BENCH_ABUSE_SECONDS || 8);
    const say = (s) => process.stderr.write(`bench-abuse: ${s}\n`);
    const tmp = newTmpDir();
    const pg = new Postgres(tmp);
    let attacker = null;
    const stopAll = () => { if (attacker) attacker.kill('SIGKILL'); killAllSync(); };
    process.on('exit', stopAll);
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopAll(); process.exit(1); });

    say(`PostgreSQL and the stack (max-connections ${limit})`);
    await pg.start();
    const m = await pg.migrate();
    if (m.code !== 0) { say(`migrate failed: ${m.stderr.slice(-300)}`); process.exit(0); }
    const stack = new Stack(pg, tmp, {
        name: 'abuse', sim: { ttft: 0, itl: 0, tokens: 16 }, slots: 256, skip: ['worker-premium'],
        env: { gateway: { MT_GW_MAX_CONNECTIONS: String(limit) } },
    });
    await stack.start();
    const port = stack.ports.gwHttp;
    const gwPid = stack.svc('gateway').child.pid;
    const BIG = { max_concurrent_requests: 10000, requests_per_minute: 1000000000,
                  tokens_per_minute: 1000000000000, daily_token_limit: 1000000000000000 };
    const t = await stack.tenant({ tier: 'pro', ...BIG }, 'bench-abuse');
    const body = JSON.stringify({ model: 'sim-small', max_tokens: 16,
                                  messages: [{ role: 'user', content: 'Say hello to the benchmark.' }] });
    //  The normal client: 4 keep-alive connections, opened before any attack
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const chat = () => request({ port, agent, method: 'POST', path: '/v1/chat/completions', headers: {
        authorization: `Bearer ${t.key}`, 'content-type': 'application/json',
        'content-length': Buffer.byteLength(body) } }, body);
    for (let i = 0; i < 200; i++) await Promise.all([chat(), chat(), chat(), chat()]);

    const rows = [];
    for (const n of steps) {
        const rss0 = rssMiB(gwPid);
        const m0 = await metrics(port);
        let last = { opened: 0, connected: 0, open: 0, closed: 0, refused: 0 };
        if (n > 0) {
            attacker = spawn(process.execPath, [fileURLToPath(import.meta.url), '--attacker', String(port), String(n)],
                             { stdio: ['ignore', 'pipe', 'inherit'] });
            attacker.stdout.setEncoding('utf8');
            let buf = '';
            attacker.stdout.on('data', (d) => {
                buf += d;
                let k;
                while ((k = buf.indexOf('\n')) >= 0) {
                    try { last = JSON.parse(buf.slice(0, k)); } catch { /* partial */ }
                    buf = buf.slice(k + 1);
                }
            });
            //  Until every connection is opened and settled (bounded)
            for (let i = 0; i < 100 && !(last.opened >= 2 * n && last.connected + last.refused >= 2 * n); i++)
                await sleep(100);
            await sleep(500);
        }
        //  Measure: the client's loops and the probe, for `seconds`
        const lat = [];
        let errors = 0;
        const probes = [];
        const until = Date.now() + seconds * 1000;
        const loop = async () => {
            for (let i = 0; i < 1000000 && Date.now() < until; i++) {
                const r = await chat();
                if (r.status === 200) lat.push(r.ms); else errors++;
            }
        };
        const probe = async () => {
            for (let i = 0; i < 1000 && Date.now() < until; i++) {
                probes.push(await request({ port, agent: false, path: '/healthz', localAddress: '127.0.0.9' }));
                await sleep(200);
            }
        };
        await Promise.all([loop(), loop(), loop(), loop(), probe()]);
        const rss1 = rssMiB(gwPid);
        const m1 = await metrics(port);
        const held = last.open;
        if (attacker) {
            attacker.kill('SIGTERM');
            await new Promise((r) => { attacker.on('exit', r); setTimeout(r, 3000); });
            attacker = null;
        }
        lat.sort((a, b) => a - b);
        const ok = probes.filter((p) => p.status === 200);
        const probeMs = ok.map((p) => p.ms).sort((a, b) => a - b);
        const d = (k) => (m1[k] || 0) - (m0[k] || 0);
        rows.push({
            n, held, refusedAtAccept: last.refused, reqs: lat.length, errors,
            p50: pct(lat, 0.5), p99: pct(lat, 0.99),
            probe: `${ok.length}/${probes.length}`, probeMax: probeMs.length ? probeMs[probeMs.length - 1] : NaN,
            rss0, rss1,
            refusedLimit: d('mt_gw_connections_refused_total{reason="limit"}'),
            refusedClient: d('mt_gw_connections_refused_total{reason="per_client"}'),
        });
        say(`N=${n}: held ${held}, client p50 ${pct(lat, 0.5)?.toFixed(2)} ms p99 ${pct(lat, 0.99)?.toFixed(2)} ms, errors ${errors}`);
        //  Let the gateway see the attacker's connections close
        for (let i = 0; i < 50; i++) {
            const mm = await metrics(port);
            if ((mm.mt_gw_connections_open || 0) <= 8) break;
            await sleep(100);
        }
    }
    agent.destroy();
    await stack.stopAll();
    await pg.stop();
    try { fs.rmSync(tmp, { recursive: true, force: true }); } catch { /* best effort */ }

    const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
    const quiet = rows.find((r) => r.n === 0);
    const lines = [];
    lines.push('');
    lines.push(`mt-serve bench-abuse: ${(await import('node:os')).cpus().length} cores; gateway max-connections ${limit}`
               + ` (+32 reserve), per-address cap 1000, timeouts 60/60/75 s; attacker: N silent + N slowloris`);
    lines.push(`connections, 250 an address; client: 4 keep-alive connections, non-stream chat (simulator 0 ms, 16 tokens),`);
    lines.push(`${seconds} s per row; probe: GET /healthz on a fresh connection every 200 ms.`);
    lines.push('');
    lines.push(['N idle+N slow', 'held', 'refused', 'client reqs', 'p50 ms', 'p99 ms', 'p99/quiet', 'errors',
                'probe 200', 'probe max ms', 'RSS MiB', 'gw refusals']
        .map((h, i) => (i ? h.padStart(12) : h.padEnd(14))).join(' '));
    for (const r of rows) {
        lines.push([`${r.n}+${r.n}`, r.held, r.refusedAtAccept, r.reqs, f(r.p50), f(r.p99),
                    quiet && quiet.p99 ? f(r.p99 / quiet.p99) : '-', r.errors, r.probe, f(r.probeMax, 1),
                    `${f(r.rss0, 1)}->${f(r.rss1, 1)}`, `${r.refusedLimit}/${r.refusedClient}`]
            .map((h, i) => (i ? String(h).padStart(12) : String(h).padEnd(14))).join(' '));
    }
    lines.push('');
    lines.push('held: attacker connections open at the end of the row; refused: closed before the attacker saw them');
    lines.push('connect; gw refusals: mt_gw_connections_refused_total limit/per_client during the row.');
    process.stdout.write(lines.join('\n') + '\n');
    process.exit(0);
}
