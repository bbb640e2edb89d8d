//  Deployment behaviour: readiness apart from liveness (/readyz), and a worker
//  whose resolver hangs on a gateway's name (as with a slow cluster DNS).
//
//  The 'dns' stack (run.mjs) runs the standard pool's worker in a mount
//  namespace of its own whose /etc/resolv.conf names a DNS server on
//  127.0.0.77 that reads queries and never answers (dnsSink below), and its
//  gateway advertises its token endpoint by a name only DNS could resolve.
//  Needs root and unshare(1); without them the group is skipped, and says so.
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { assert, eq, ms, sleep, poll, http, openStream, freePort, TestFailure } from './harness.mjs';
import { chatBody } from './common.mjs';

export const DNS_SINK_ADDR = '127.0.0.77';
export const DNS_NAME = 'gw.mt-dns-test';
export const DNS_WORKER_TIMEOUT_MS = 1500;

//  A DNS server that never answers, and the wrapper that makes the worker use
//  it. Returns { wrap, queries(), close() } or { skip: reason }.
export async function dnsSink(tmp) {
    if (process.getuid && process.getuid() !== 0) return { skip: 'needs root (mount namespace, port 53)' };
    const unshare = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'true'],
                              { stdio: 'ignore', timeout: 10000 });
    if (unshare.status !== 0) return { skip: 'unshare --mount is not allowed here' };
    const sock = dgram.createSocket('udp4');
    let queries = 0;
    sock.on('message', () => { queries++; });
    const bound = await new Promise((resolve) => {
        sock.once('error', (e) => resolve(e));
        sock.bind(53, DNS_SINK_ADDR, () => resolve(null));
    });
    if (bound) {
        sock.close();
        return { skip: `cannot listen on ${DNS_SINK_ADDR}:53 (${bound.code || bound.message})` };
    }
    const resolv = path.join(tmp, 'resolv.conf');
    //  Each lookup waits 3 s (twice the scheduler's worker timeout) for an
    //  answer that never comes, and libzmq tries again 100 ms after each
    //  failure: the name hangs for the whole test. Short enough that the
    //  worker, whose I/O thread finishes a lookup before it stops, still
    //  stops within the harness's bound.
    fs.writeFileSync(resolv, `nameserver ${DNS_SINK_ADDR}\noptions timeout:3 attempts:1\n`);
    const wrap = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
                  `mount --bind '${resolv}' /etc/resolv.conf && exec "$0"`];
    return { wrap, queries: () => queries, close: () => sock.close() };
}

async function readyz(port) {
    const r = await http(`http://127.0.0.1:${port}`, 'GET', '/readyz');
    return r;
}

//  Tests for the 'fast' stack: every service ready once up.
export const readyTests = [
    {
        name: '/readyz: 200 on every service once the stack serves; /healthz too',
        async fn({ stack }) {
            for (const s of stack.services) {
                const r = await readyz(s.metricsPort);
                eq(r.status, 200, `${s.name} /readyz (${r.text.trim().slice(0, 120)})`);
            }
            const g = await http(stack.base, 'GET', '/readyz');
            eq(g.json?.status, 'ok', 'gateway /readyz body status');
        },
    },
];

//  For the 'fail' stack: a peer down makes the gateway unready, not dead.
export const readyFailTests = [
    {
        name: '/readyz: metering down -> gateway 503 "not connected to metering" while /healthz stays 200; ready again after its restart',
        timeout: 40000,
        async fn({ stack }) {
            const mtr = stack.svc('metering');
            await mtr.kill9();
            try {
                const r = await poll(async () => {
                    const x = await http(stack.base, 'GET', '/readyz');
                    return x.status === 503 ? x : null;
                }, ms(5000), 50);
                assert(r, 'gateway /readyz still 200 with metering down');
                assert(/metering/.test(r.json?.reason || ''), `/readyz reason ${r.text}`);
                eq((await http(stack.base, 'GET', '/healthz')).status, 200, 'gateway /healthz with metering down');
            } finally {
                await mtr.restart();
            }
            const ok = await poll(async () => (await http(stack.base, 'GET', '/readyz')).status === 200,
                                  ms(10000), 100);
            assert(ok, 'gateway /readyz not 200 again after metering restarted');
        },
    },
];

//  For the 'engine' stack: a worker is ready only while its engine answers.
export const readyEngineTests = [
    {
        name: '/readyz: the openai worker is ready while its engine answers GET /models',
        async fn({ stack }) {
            const w = stack.svc('worker-standard');
            const r = await readyz(w.metricsPort);
            eq(r.status, 200, `worker /readyz (${r.text.trim()})`);
        },
    },
];

//  For the 'dns' stack.
export const dnsTests = [
    {
        name: 'a gateway name whose lookup hangs does not stop the worker\'s heartbeat (the scheduler keeps it)',
        timeout: 30000,
        async fn({ stack, group }) {
            const sched = stack.svc('scheduler');
            const mark = sched.logSize();
            const q0 = group.sink.queries();
            //  The job's reply_to is the gateway's name: the worker connects
            //  to it and libzmq's getaddrinfo waits on the silent server.
            const s = await openStream(stack.base, '/v1/chat/completions', stack.free.key,
                                       chatBody('dns', { stream: true }), ms(20000));
            try {
                eq(s.status, 200, 'stream status');
                const sent = await poll(async () => (await sched.metric('sch_jobs_dispatched_total')) >= 1,
                                        ms(5000), 50);
                assert(sent, 'the job never reached the worker');
                const asked = await poll(() => group.sink.queries() > q0, ms(5000), 50);
                assert(asked, `the worker never asked DNS for ${DNS_NAME}`);
                //  Three worker timeouts with the name unresolved.
                await sleep(3 * DNS_WORKER_TIMEOUT_MS + 500);
                const log = sched.readLog(mark);
                assert(!/worker-lost/.test(log),
                       `the scheduler declared the worker lost: ${(log.match(/.*worker-lost.*/) || [''])[0]}`);
                eq(await sched.metric('sch_workers_live'), 1, 'live workers at the scheduler');
                //  The job's end reached the scheduler (its socket kept working)
                //  though its tokens wait for the gateway's name.
                assert((await sched.metric('sch_jobs_done_total')) >= 1, 'no JobDone at the scheduler');
            } finally {
                s.abort();
            }
        },
    },
];

//  PgBouncer in transaction pooling between quota-enforcer / metering and the
//  suite's PostgreSQL, as overlays/prod runs them (the gateway stays direct).
//  Returns { dsn, log(), stop() } or { skip: reason }.
export async function startPgBouncer(dir, pg) {
    const bin = '/usr/sbin/pgbouncer';
    if (!fs.existsSync(bin)) return { skip: 'pgbouncer is not installed (deploy/dev/install-deps.sh)' };
    const root = process.getuid && process.getuid() === 0;
    const bdir = path.join(dir, 'pgbouncer');
    fs.mkdirSync(bdir, { recursive: true });
    const port = await freePort();
    const log = path.join(bdir, 'pgbouncer.log');
    const ini = path.join(bdir, 'pgbouncer.ini');
    fs.writeFileSync(ini, [
        '[databases]',
        `mt = host=127.0.0.1 port=${pg.port} dbname=mt user=postgres`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1', `listen_port = ${port}`, 'unix_socket_dir =',
        'auth_type = any', 'pool_mode = transaction', 'default_pool_size = 20',
        'max_client_conn = 200', 'ignore_startup_parameters = extra_float_digits',
        `logfile = ${log}`, 'pidfile =', 'log_connections = 1', '',
    ].join('\n'));
    //  PgBouncer will not run as root: as root it runs as postgres (pg.sh's user)
    const as = {};
    if (root) {
        const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
        const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
        if (!uid) return { skip: 'no postgres user to run pgbouncer as' };
        for (const f of [bdir, ini]) fs.chownSync(f, uid, gid);
        let p = bdir;
        while (p !== path.dirname(p)) { p = path.dirname(p); try { fs.chmodSync(p, fs.statSync(p).mode | 0o001); } catch { /* not ours */ } }
        Object.assign(as, { uid, gid });
    }
    const child = spawn(bin, [ini], { stdio: 'ignore', ...as });
    let exited = false;
    child.on('exit', () => { exited = true; });
    //  Never outlive the suite, whatever ends it
    process.once('exit', () => { if (!exited) try { child.kill('SIGKILL'); } catch { /* gone */ } });
    const up = await poll(() => new Promise((resolve) => {
        if (exited) return resolve(false);
        const r = spawnSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'mt',
                                     '-Atc', 'SELECT 1'], { encoding: 'utf8', timeout: 5000 });
        resolve(r.status === 0);
    }), ms(10000), 100);
    if (!up) {
        child.kill('SIGKILL');
        throw new Error(`pgbouncer did not start: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-300) : 'no log'}`);
    }
    return {
        dsn: `host=127.0.0.1 port=${port} dbname=mt user=postgres`,
        log: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''),
        stop: () => { if (!exited) child.kill('SIGTERM'); },
    };
}

//  For the 'pgbouncer' stack (with t_fail's quota-enforcer restart test).
export const pgbouncerTests = [
    {
        name: 'quota-enforcer and metering logged in through PgBouncer (transaction pooling)',
        async fn({ group }) {
            const log = group.bouncer.log();
            const logins = (log.match(/login attempt: db=mt user=postgres/g) || []).length;
            assert(logins >= 2, `PgBouncer saw ${logins} logins: ${log.slice(-300)}`);
        },
    },
];
