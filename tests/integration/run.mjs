//  Integration suite runner: one PostgreSQL, a few stacks of the real
//  services, tests run one at a time with a time bound each. Prints
//  "ok - name" / "not ok - name: reason" and ends with
//  "integration: N passed, N failed" (tests/run.sh parses that line).
//
//  BUILD=<dir> node tests/integration/run.mjs      (MT_SANITIZED=1: bounds x3)
//  MT_IT_ONLY=<regex>   run only the tests whose name matches (plus setup)
//  MT_IT_KEEP=1         keep the temporary folder (logs, database)
//  MT_IT_TIMES=1        print each test's duration
//  MT_IT_MEASURES=<file> write the durations tests measured (never asserted)
import fs from 'node:fs';
import path from 'node:path';
import {
    BUILD, SANITIZED, ms, sleep, Postgres, Stack, killAllSync, newTmpDir, fmtExit, TestFailure, measures,
    SECRETS,
} from './harness.mjs';
import apiTests from './t_api.mjs';
import slowTests from './t_slow.mjs';
import curveTests from './t_curve.mjs';
import openaiTests from './t_openai.mjs';
import consoleTests, { engineHealthTests } from './t_console.mjs';
import toolTests from './t_tools.mjs';
import engineTests, { ENGINE_MODEL } from './t_engine.mjs';
import { failTests, timeoutTests, WORKER_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from './t_fail.mjs';
import { readyTests, readyFailTests, readyEngineTests, dnsTests, dnsSink, DNS_NAME,
         DNS_WORKER_TIMEOUT_MS, startPgBouncer, pgbouncerTests } from './t_deploy.mjs';
import keysTests from './t_keys.mjs';
import limitTests from './t_limits.mjs';
import holdTests from './t_hold.mjs';
import { pgOutageTests, engineDownTests, qeRestartTests, gatewayKillTests, gatewayGoneTests, GW_GONE_TIMEOUT_MS,
         PG_OUTAGE_MEMORY_MAX } from './t_crash.mjs';
import { requeueTests, REQUEUE_WORKER_TIMEOUT_MS } from './t_requeue.mjs';
import { frontTests, capTests, FRONT_TIMEOUTS, FRONT_CAPS, FRONT_COMPLETIONS_MAX_BODY } from './t_front.mjs';

const GROUPS = [
    //  Fast simulator: most of the API.
    { name: 'fast', opts: { name: 'fast', sim: { ttft: 10, itl: 2, tokens: 48 }, maxBody: 65536 },
      tests: [...apiTests, ...openaiTests, ...toolTests.filter((t) => !t.engineOnly), ...readyTests, ...consoleTests] },
    //  Slow simulator (50 ms between tokens): requests stay in flight long
    //  enough to test concurrency leases and disconnects.
    { name: 'slow', opts: { name: 'slow', sim: { ttft: 40, itl: 50, tokens: 48 }, maxBody: 65536 },
      tests: [...curveTests, ...slowTests] },
    //  The standard pool's worker runs the openai backend in front of a fake
    //  OpenAI-compatible engine (fake_engine.mjs); no premium worker.
    { name: 'engine', opts: { name: 'engine', engine: { model: ENGINE_MODEL, delayMs: 5, slowDelayMs: 200 },
                              maxBody: 65536, skip: ['worker-premium'] },
      tests: [...engineTests, ...toolTests, ...readyEngineTests, ...engineHealthTests] },
    //  Failure scenarios: services killed (SIGKILL) and started again; a
    //  scheduler that notices a dead worker within WORKER_TIMEOUT_MS.
    { name: 'fail', opts: { name: 'fail', sim: { ttft: 40, itl: 50, tokens: 48 }, maxBody: 65536,
                            env: { scheduler: { MT_SCHED_WORKER_TIMEOUT_MS: String(WORKER_TIMEOUT_MS) } } },
      tests: [...failTests, ...readyFailTests] },
    //  Key lifecycle, admin tokens, audit, row-level security, HTTPS; some
    //  tests add a second gateway (HTTPS) to the stack.
    { name: 'keys', opts: { name: 'keys', sim: { ttft: 5, itl: 1, tokens: 16 }, maxBody: 65536,
                            skip: ['worker-premium'] },
      tests: keysTests },
    //  Limits as clients see them. The worker reaches the scheduler through a
    //  relay that holds every byte 300 ms: its JobDones come late, as from a
    //  busy machine, while its answers reach the gateway at once.
    { name: 'limits', opts: { name: 'limits', sim: { ttft: 0, itl: 0, tokens: 4 }, maxBody: 65536,
                              skip: ['worker-premium'], workerLinkDelayMs: 300 },
      tests: limitTests },
    //  Workers that hold their JobDones to the scheduler up to a second (the
    //  premium one has two slots, so it never holds).
    { name: 'hold', opts: { name: 'hold', sim: { ttft: 0, itl: 0, tokens: 4 }, maxBody: 65536,
                            env: { 'worker-standard': { MT_WA_DONE_HOLD_MS: '1000' },
                                   'worker-premium': { MT_WA_DONE_HOLD_MS: '1000', MT_WA_SLOTS: '2' } } },
      tests: holdTests },
    //  The gateway gives up on a job after REQUEST_TIMEOUT_MS.
    { name: 'timeout', opts: { name: 'timeout', sim: { ttft: 40, itl: 100, tokens: 48 }, maxBody: 65536,
                               skip: ['worker-premium'],
                               env: { gateway: { MT_GW_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } } },
      tests: timeoutTests },
    //  The standard worker's resolver hangs (t_deploy.mjs): before() starts a
    //  DNS server that never answers and wraps the worker to use it.
    { name: 'dns', opts: { name: 'dns', sim: { ttft: 40, itl: 50, tokens: 48 }, maxBody: 65536,
                           skip: ['worker-premium'],
                           env: { scheduler: { MT_SCHED_WORKER_TIMEOUT_MS: String(DNS_WORKER_TIMEOUT_MS) },
                                  gateway: { MT_GW_TOKEN_ENDPOINT: `tcp://${DNS_NAME}:5560` } } },
      before: async (group, dir) => {
          group.sink = await dnsSink(dir);
          if (group.sink.skip) return group.sink.skip;
          group.opts.wrap = { 'worker-standard': group.sink.wrap };
          return null;
      },
      after: (group) => group.sink && group.sink.close && group.sink.close(),
      tests: dnsTests },
    //  quota-enforcer and metering through PgBouncer in transaction pooling, as
    //  deploy/k8s/overlays/prod runs them; the gateway (LISTEN) stays direct.
    { name: 'pgbouncer', opts: { name: 'pgbouncer', sim: { ttft: 10, itl: 2, tokens: 48 }, maxBody: 65536,
                                 skip: ['worker-premium'] },
      before: async (group, dir, pgsql) => {
          group.bouncer = await startPgBouncer(dir, pgsql);
          if (group.bouncer.skip) return group.bouncer.skip;
          const env = { MT_PG_DSN: group.bouncer.dsn };
          group.opts.env = { 'quota-enforcer': env, metering: env };
          return null;
      },
      after: (group) => group.bouncer && group.bouncer.stop && group.bouncer.stop(),
      tests: [...failTests.filter((t) => /^quota-enforcer killed and restarted/.test(t.name)), ...pgbouncerTests] },
    //  The front door: short connection timeouts, a simulator at one token
    //  a second with one slot (requests queue), a 401 throttle of 3, a
    //  body limit of its own for /v1/completions.
    { name: 'front', opts: { name: 'front', sim: { ttft: 100, itl: 1000, tokens: 8 }, slots: 1, maxBody: 65536,
                             skip: ['worker-premium'],
                             env: { gateway: { MT_GW_HEADER_TIMEOUT_MS: String(FRONT_TIMEOUTS.header),
                                               MT_GW_BODY_TIMEOUT_MS: String(FRONT_TIMEOUTS.body),
                                               MT_GW_IDLE_TIMEOUT_MS: String(FRONT_TIMEOUTS.idle),
                                               MT_GW_MAX_BODY_COMPLETIONS: String(FRONT_COMPLETIONS_MAX_BODY),
                                               MT_GW_AUTH_FAIL_BURST: '3',
                                               MT_GW_AUTH_FAIL_INTERVAL_MS: '1000' } } },
      tests: frontTests },
    //  PostgreSQL stopped and started again under load (issue 9). Runs the
    //  shared database down for a few seconds: a group of its own.
    { name: 'pg-outage', opts: { name: 'pg-outage', sim: { ttft: 5, itl: 1, tokens: 8 }, maxBody: 65536,
                                 skip: ['worker-premium'],
                                 env: { metering: { MT_MTR_MEMORY_MAX: String(PG_OUTAGE_MEMORY_MAX),
                                                    MT_MTR_BATCH_MAX: '2' } } },
      tests: pgOutageTests },
    //  The engine behind the standard worker dies and comes back (issue 9).
    { name: 'engine-down', opts: { name: 'engine-down', engine: { model: ENGINE_MODEL, delayMs: 5 }, maxBody: 65536,
                                   skip: ['worker-premium'],
                                   env: { 'worker-standard': { MT_WA_ENGINE_PROBE_MS: '200',
                                                               MT_WA_ENGINE_PROBE_TIMEOUT_MS: '500' } } },
      tests: engineDownTests },
    //  The quota-enforcer killed under a burst (issue 9).
    { name: 'qe-restart', opts: { name: 'qe-restart', sim: { ttft: 20, itl: 200, tokens: 16 }, maxBody: 65536,
                                  skip: ['worker-premium'] },
      tests: qeRestartTests },
    //  The gateway killed with SIGKILL (issue 9).
    { name: 'gw-kill', opts: { name: 'gw-kill', sim: { ttft: 5, itl: 2, tokens: 8 }, maxBody: 65536,
                               skip: ['worker-premium'] },
      tests: gatewayKillTests },
    //  A gateway killed while its streams run (issue 9): 100-200 tokens at
    //  150 ms each, so they run for nobody unless cancelled.
    { name: 'gw-gone', opts: { name: 'gw-gone', sim: { ttft: 20, itl: 150, tokens: 200 }, maxBody: 65536,
                               skip: ['worker-premium'],
                               env: { scheduler: { MT_SCHED_GATEWAY_TIMEOUT_MS: String(GW_GONE_TIMEOUT_MS) },
                                      'quota-enforcer': { MT_QE_GATEWAY_TIMEOUT_MS: String(GW_GONE_TIMEOUT_MS) } } },
      tests: gatewayGoneTests },
    //  A worker killed under load with a second worker in the pool, and the
    //  scheduler killed with jobs queued (issue 9): lost jobs are submitted
    //  again. Two slots per worker so that jobs queue; a second standard
    //  worker is added by the tests.
    { name: 'requeue', opts: { name: 'requeue', sim: { ttft: 20, itl: 40, tokens: 16 }, slots: 2, maxBody: 65536,
                               skip: ['worker-premium'],
                               env: { scheduler: { MT_SCHED_WORKER_TIMEOUT_MS: String(REQUEUE_WORKER_TIMEOUT_MS) } } },
      tests: requeueTests },
    //  The front door's caps: 16 connections, 4 per address, a trusted proxy.
    { name: 'front-caps', opts: { name: 'front-caps', sim: { ttft: 100, itl: 1000, tokens: 8 }, maxBody: 65536,
                                  skip: ['worker-premium'],
                                  env: { gateway: { MT_GW_MAX_CONNECTIONS: String(FRONT_CAPS.maxConnections),
                                                    MT_GW_MAX_CONNECTIONS_PER_CLIENT: String(FRONT_CAPS.perClient),
                                                    MT_GW_TRUSTED_PROXIES: FRONT_CAPS.proxy } } },
      tests: capTests },
];

const only = process.env.MT_IT_ONLY ? new RegExp(process.env.MT_IT_ONLY) : null;
let passed = 0;
let failed = 0;
let tmp = null;
let pg = null;
let interrupted = false;
let stacksRun = 0;

function out(line) { process.stdout.write(line + '\n'); }

function report(name, err) {
    if (!err) {
        passed++;
        out(`ok - ${name}`);
    } else {
        failed++;
        const reason = err instanceof TestFailure || err instanceof Error ? err.message : String(err);
        out(`not ok - ${name}: ${reason.replace(/\s+/g, ' ').slice(0, 600)}`);
        if (!(err instanceof TestFailure) && err instanceof Error && err.stack && process.env.MT_IT_STACK)
            out('#   ' + err.stack.split('\n').slice(1, 4).join('\n#   '));
    }
}

//  The tail of every log that grew since `marks` (or all logs).
function printTails(stack, marks, lines = 15) {
    if (!stack) return;
    for (const s of stack.services) {
        const text = s.readLog(marks ? marks[s.name] || 0 : 0);
        if (!text.trim()) continue;
        const tail = text.trimEnd().split('\n').slice(-lines);
        out(`#   --- ${s.name}.log (${fmtExit(s.exit)}), last ${tail.length} lines`);
        for (const l of tail) out(`#   ${l.slice(0, 300)}`);
    }
}

async function bounded(promise, bound, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new TestFailure(`${what}: timed out after ${bound} ms`)), bound);
    });
    try {
        return await Promise.race([promise, t]);
    } finally {
        clearTimeout(timer);
    }
}

function finish(code) {
    if (measures.length) {
        out('# measured, not asserted (tests/bench/run.sh reports them):');
        for (const m of measures) out(`#   ${m.name}: ${m.value} ${m.unit}`);
        if (process.env.MT_IT_MEASURES) {
            try {
                fs.writeFileSync(process.env.MT_IT_MEASURES,
                                 measures.map((m) => `${m.name}\t${m.value}\t${m.unit}\n`).join(''));
            } catch (e) { out(`# cannot write ${process.env.MT_IT_MEASURES}: ${e.message}`); }
        }
    }
    out(`integration: ${passed} passed, ${failed} failed`);
    if (tmp && (failed === 0 && !process.env.MT_IT_KEEP)) {
        try { fs.rmSync(tmp, { recursive: true, force: true }); } catch { /* best effort */ }
    } else if (tmp) {
        out(`# logs and database kept in ${tmp}`);
    }
    //  Exit once stdout has taken everything (it may be a pipe).
    process.exitCode = code;
    process.stdout.write('', () => process.exit(code));
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
        if (interrupted) return;
        interrupted = true;
        out(`# interrupted by ${sig}: stopping every process`);
        killAllSync();
        failed++;
        finish(1);
    });
}
process.on('exit', () => killAllSync());

async function runTest(stack, t, group) {
    const marks = {};
    if (stack) for (const s of stack.services) marks[s.name] = s.logSize();
    let err = null;
    const t0 = Date.now();
    try {
        if (stack) stack.gatewayAlive();
        await bounded(Promise.resolve().then(() => t.fn({ stack, pg, group })), ms(t.timeout || 30000), t.name);
    } catch (e) {
        err = e;
    }
    if (stack) {
        //  No test may crash a service or wake a sanitizer.
        const notes = [];
        for (const s of stack.services) {
            const san = s.sanitizerReport(marks[s.name]);
            if (!s.running && !s.reportedDead) {
                s.reportedDead = true;
                notes.push(s.killedByTest ? `${s.name} killed by the test and not started again`
                    : `${s.name} died (${fmtExit(s.exit)})${san ? ': ' + san : ''}`);
            } else if (san) {
                notes.push(`${s.name}: ${san}`);
            }
        }
        if (notes.length)
            err = new TestFailure(notes.join('; ') + (err ? ` [test: ${err.message}]` : ''));
    }
    report(t.name, err);
    if (process.env.MT_IT_TIMES) out(`#   ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    if (err) printTails(stack, marks);
}

//  Every log of the run (every service, every stack, PostgreSQL's own) against
//  every key and token the run saw, and anything shaped like one. Returns
//  null or a TestFailure.
function checkLogsForSecrets() {
    const files = [];
    const curveSecrets = [];
    const walk = (dir) => {
        let entries = [];
        try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
        for (const e of entries) {
            const p = path.join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else if (/\.log$/.test(e.name)) files.push(p);
            else if (/\.key_secret$/.test(e.name)) {
                //  CURVE secret keys the stacks made are secrets too
                const m = /secret-key\s*=\s*"([^"]{40})"/.exec(fs.readFileSync(p, 'latin1'));
                if (m) curveSecrets.push(m[1]);
            }
        }
    };
    walk(tmp);
    if (!files.length) return new TestFailure(`no log files under ${tmp}`);
    if (SECRETS.size < 3) return new TestFailure(`only ${SECRETS.size} secrets noted: the check would prove nothing`);
    const shaped = /sk-mt-[0-9a-f]{48}|mt-adm-[0-9a-f]{48}/;
    const bad = [];
    for (const f of files) {
        const text = fs.readFileSync(f, 'latin1');
        for (const s of [...SECRETS, ...curveSecrets])
            if (text.includes(s)) bad.push(`${path.relative(tmp, f)} holds ${s.slice(0, 8)}...`);
        const m = shaped.exec(text);
        if (m) bad.push(`${path.relative(tmp, f)} holds something shaped like a key: ${m[0].slice(0, 8)}...`);
    }
    out(`#   ${files.length} logs checked for ${SECRETS.size} API keys and admin tokens, ${curveSecrets.length} CURVE secret keys`);
    return bad.length ? new TestFailure(bad.slice(0, 5).join('; ')) : null;
}

async function main() {
    out(`# integration: BUILD=${BUILD}${SANITIZED ? ' (sanitized: bounds x3)' : ''}`);
    const t0 = Date.now();
    tmp = newTmpDir();
    pg = new Postgres(tmp);
    //  PostgreSQL and migrations: the base of everything else.
    let pgErr = null;
    try {
        await pg.start();
        const m1 = await pg.migrate();
        if (m1.code !== 0) throw new TestFailure(`mt-migrate exited ${m1.code}: ${(m1.stderr || m1.error).trim().slice(-400)}`);
        const tables = (await pg.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"))
            .map((r) => r[0]);
        for (const t of ['tiers', 'tenants', 'api_keys', 'request_logs', 'usage_records', 'schema_migrations'])
            if (!tables.includes(t)) throw new TestFailure(`table ${t} missing after migrate (have ${tables.join(',')})`);
        const tiers = (await pg.query('SELECT name, pool FROM tiers ORDER BY name')).map((r) => r.join(':'));
        if (tiers.join(',') !== 'enterprise:premium,free:standard,pro:standard')
            throw new TestFailure(`tiers: ${tiers.join(',')}`);
        const before = (await pg.query('SELECT count(*) FROM schema_migrations'))[0][0];
        const m2 = await pg.migrate();
        if (m2.code !== 0) throw new TestFailure(`second mt-migrate exited ${m2.code}: ${m2.stderr.trim().slice(-300)}`);
        const after = (await pg.query('SELECT count(*) FROM schema_migrations'))[0][0];
        if (before !== after || Number(after) < 1)
            throw new TestFailure(`schema_migrations: ${before} rows, ${after} after a rerun`);
    } catch (e) {
        pgErr = e;
    }
    report('postgres: start, migrate, migrate again (idempotent)', pgErr);

    for (const g of GROUPS) {
        const tests = g.tests.filter((t) => !only || only.test(t.name));
        if (!tests.length) continue;
        const g0 = Date.now();
        if (g.before) {
            const skip = pgErr ? null : await g.before(g, tmp, pg);
            if (skip) {
                out(`# ${g.name} stack: skipped (${tests.length} tests): ${skip}`);
                continue;
            }
        }
        let stack = null;
        let setupErr = pgErr ? new TestFailure('no PostgreSQL') : null;
        if (!setupErr) {
            try {
                stack = new Stack(pg, tmp, g.opts);
                stacksRun++;
                await bounded(stack.start(), ms(60000), `${g.name} stack start`);
            } catch (e) {
                setupErr = e;
            }
        }
        report(`${g.name} stack: every service up, /healthz 200, models listed`, setupErr);
        if (setupErr) printTails(stack, null, 8);
        for (const t of tests) {
            if (setupErr) report(`${g.name}: ${t.name}`, new TestFailure('stack did not start'));
            else await runTest(stack, { ...t, name: `${g.name}: ${t.name}` }, g);
        }
        //  Stopping is a test too: SIGTERM -> exit 0 within the bound.
        if (stack) {
            let stopErr = null;
            const res = await stack.stopAll();
            const bad = [];
            for (const [n, r] of Object.entries(res)) {
                if (r.never) continue;
                if (r.killed) bad.push(`${n} ignored SIGTERM (killed)`);
                else if (r.early) {
                    if (!stack.svc(n).reportedDead && !stack.svc(n).stoppedByTest)
                        bad.push(`${n} had exited before (${fmtExit(r)})`);
                } else if (r.code !== 0) bad.push(`${n} exited ${fmtExit(r)}`);
                const san = stack.svc(n).sanitizerReport(0);
                if (san) bad.push(`${n}: ${san}`);
            }
            if (bad.length) stopErr = new TestFailure(bad.join('; '));
            report(`${g.name} stack: every service exits 0 on SIGTERM`, stopErr);
            if (stopErr) printTails(stack, null, 8);
        }
        if (g.after) g.after(g);
        out(`# ${g.name} stack: ${((Date.now() - g0) / 1000).toFixed(1)} s`);
    }
    await pg.stop();
    if (stacksRun > 0)
        report('logs: no API key, admin token or CURVE secret key the run created appears in any log', checkLogsForSecrets());
    out(`# integration: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await sleep(0);
    finish(failed > 0 || passed === 0 ? 1 : 0);
}

main().catch((e) => {
    out(`# harness error: ${e && e.stack ? e.stack : e}`);
    failed++;
    killAllSync();
    finish(1);
});
