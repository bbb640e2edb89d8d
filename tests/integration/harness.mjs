//  Integration harness: a real PostgreSQL (deploy/dev/pg.sh), mt-migrate, and
//  stacks of the real service binaries from $BUILD/bin, all on 127.0.0.1 and
//  on ports picked at run time. Node 18+ built-ins only.
import { spawn, spawnSync, execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeEngine } from './fake_engine.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD = path.resolve(ROOT, process.env.BUILD || 'build');
export const SANITIZED = process.env.MT_SANITIZED === '1';
//  Every time bound in the suite is multiplied by this.
export const SCALE = SANITIZED ? 3 : 1;
export const ms = (n) => Math.round(n * SCALE);
export const sleep = (n) => new Promise((r) => setTimeout(r, n));

const SAN_PATTERNS = ['ERROR: AddressSanitizer', 'runtime error:', 'ERROR: LeakSanitizer'];

//  ---------------------------------------------------------------- assertions
export class TestFailure extends Error {}

//  Durations a test measures but never asserts (the house rule: no timings
//  in tests). run.mjs prints them at the end, and writes them to the file
//  MT_IT_MEASURES names (one "name<TAB>value<TAB>unit" line each) for
//  tests/bench/run.sh's report.
export const measures = [];
export function measure(name, value, unit = 'ms') {
    measures.push({ name, value, unit });
}
export function assert(cond, msg) {
    if (!cond) throw new TestFailure(msg);
}
export function eq(got, want, what) {
    if (got !== want)
        throw new TestFailure(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

//  Poll fn() every `every` ms until it returns a truthy value or `bound` ms
//  pass; returns the last value (falsy on timeout). fn may throw: retried.
export async function poll(fn, bound, every = 100) {
    const until = Date.now() + bound;
    let last, lastErr;
    for (let i = 0; i < 10000; i++) {
        try {
            last = await fn();
            lastErr = undefined;
            if (last) return last;
        } catch (e) {
            if (e && e.fatal) throw e;
            lastErr = e;
        }
        if (Date.now() >= until) break;
        await sleep(every);
    }
    if (lastErr) throw lastErr;
    return last;
}

//  ---------------------------------------------------------------- ports
//  A port for a service to bind later. Not one the kernel hands out by
//  itself: a port from listen(0) or from an outgoing connection's local end
//  comes from ip_local_port_range, so a port picked there and released can be
//  taken again before the service binds it (CI saw a gateway exit with its
//  port taken by the stand-in engine started after the ports were picked).
//  Ports are drawn at random outside that range, checked free by binding,
//  and never handed out twice in one run.
const handedOut = new Set();
function ephemeralRange() {
    try {
        const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
            .trim().split(/\s+/).map(Number);
        if (lo > 0 && hi >= lo) return [lo, hi];
    } catch { /* not Linux: use the IANA range */ }
    return [49152, 65535];
}
const PORT_POOL = (() => {
    const [lo, hi] = ephemeralRange();
    const spans = [[10000, Math.min(lo, 65536) - 1], [Math.max(hi, 9999) + 1, 65535]]
        .filter(([a, b]) => b - a >= 1000);
    return spans.length ? spans : [[lo, hi]];
})();
function bindable(port) {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.unref();
        srv.once('error', () => resolve(false));
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
}
export async function freePort() {
    const total = PORT_POOL.reduce((n, [a, b]) => n + b - a + 1, 0);
    for (let i = 0; i < 200; i++) {
        let k = Math.floor(Math.random() * total), port = 0;
        for (const [a, b] of PORT_POOL) {
            if (k <= b - a) { port = a + k; break; }
            k -= b - a + 1;
        }
        if (handedOut.has(port) || !(await bindable(port))) continue;
        handedOut.add(port);
        return port;
    }
    throw new Error('no free port');
}

//  ---------------------------------------------------------------- processes
function run(cmd, args, opts = {}) {
    return new Promise((resolve) => {
        execFile(cmd, args, { cwd: ROOT, timeout: opts.timeout || ms(60000),
                              maxBuffer: 16 << 20, env: opts.env || process.env },
            (err, stdout, stderr) => {
                resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
                          stdout: String(stdout), stderr: String(stderr),
                          error: err ? String(err.message) : '' });
            });
    });
}

//  Environment for children: ours, minus any MT_* variable of the caller's.
function baseEnv() {
    const env = {};
    for (const [k, v] of Object.entries(process.env))
        if (!k.startsWith('MT_')) env[k] = v;
    return env;
}

//  Every child still alive, so signal handlers and exit can kill them.
const live = new Set();
const pgDirs = new Set();

export function killAllSync() {
    for (const p of live) {
        try { p.child.kill('SIGKILL'); } catch { /* gone */ }
    }
    live.clear();
    for (const dir of pgDirs) {
        try {
            spawnSync('bash', ['deploy/dev/pg.sh', 'stop', dir],
                                { cwd: ROOT, stdio: 'ignore', timeout: 30000 });
        } catch { /* best effort */ }
    }
    pgDirs.clear();
}

export class Service {
    //  wrap: a command line to run the binary under (its path goes last), or null.
    constructor(name, bin, env, logDir, wrap = null) {
        this.name = name;
        this.bin = bin;
        this.env = env;
        this.wrap = wrap;
        this.log = path.join(logDir, `${name}.log`);
        this.exit = null;               //  { code, signal } once exited
        this.exited = null;             //  promise
    }

    start() {
        const fd = fs.openSync(this.log, 'a');
        fs.writeSync(fd, `# ${new Date().toISOString()} start ${this.bin}\n`);
        const [cmd, args] = this.wrap ? [this.wrap[0], [...this.wrap.slice(1), this.bin]]
                                      : [this.bin, []];
        this.child = spawn(cmd, args, { cwd: ROOT, env: { ...baseEnv(), ...this.env },
                                        stdio: ['ignore', fd, fd] });
        fs.closeSync(fd);
        live.add(this);
        this.exited = new Promise((resolve) => {
            this.child.on('exit', (code, signal) => {
                this.exit = { code, signal };
                live.delete(this);
                resolve(this.exit);
            });
            this.child.on('error', (err) => {
                this.exit = { code: -1, signal: null, error: String(err.message) };
                live.delete(this);
                resolve(this.exit);
            });
        });
    }

    get running() { return this.child && this.exit === null; }

    //  SIGTERM, wait up to bound, then SIGKILL. Returns { code, signal, killed }.
    async stop(bound) {
        if (!this.child) return { code: null, signal: null, killed: false, never: true };
        if (this.exit) return { ...this.exit, killed: false, early: true };
        this.child.kill('SIGTERM');
        const t = await Promise.race([this.exited, sleep(bound).then(() => null)]);
        if (t) return { ...t, killed: false };
        this.child.kill('SIGKILL');
        const k = await Promise.race([this.exited, sleep(5000).then(() => null)]);
        return { ...(k || { code: null, signal: 'SIGKILL' }), killed: true };
    }

    //  SIGKILL (no clean-up, as a crash), and wait until it is gone. The
    //  service is then down on purpose until restart(). Returns { code, signal }.
    async kill9(bound = ms(5000)) {
        if (!this.running) throw new TestFailure(`${this.name} is not running (${fmtExit(this.exit)})`);
        this.child.kill('SIGKILL');
        const e = await Promise.race([this.exited, sleep(bound).then(() => null)]);
        if (!e) throw new TestFailure(`${this.name} still running ${bound} ms after SIGKILL`);
        this.killedByTest = true;
        return e;
    }

    //  Send a signal (SIGSTOP freezes it: it accepts TCP data and does nothing).
    signal(sig) {
        if (!this.running) throw new TestFailure(`${this.name} is not running (${fmtExit(this.exit)})`);
        this.child.kill(sig);
    }

    //  Start again with the same binary, environment and ports (the log is
    //  appended to), then wait for its /healthz to answer 200.
    async restart(bound = ms(15000)) {
        if (this.running) throw new TestFailure(`${this.name} restart: still running`);
        this.exit = null;
        this.start();
        this.killedByTest = false;
        this.reportedDead = false;
        await this.waitHealthy(bound);
    }

    //  Poll /healthz until 200; throws when the process exits or bound passes.
    async waitHealthy(bound = ms(15000)) {
        const ok = await poll(async () => {
            if (!this.running)
                throw Object.assign(new Error(`${this.name} exited (${fmtExit(this.exit)})`), { fatal: true });
            const r = await fetch(`http://127.0.0.1:${this.metricsPort}/healthz`,
                                  { signal: AbortSignal.timeout(1000) });
            await r.arrayBuffer();
            return r.status === 200;
        }, bound, 50).catch((e) => { throw new TestFailure(`${this.name} /healthz: ${e.message}`); });
        if (!ok) throw new TestFailure(`${this.name} /healthz not 200 within ${bound} ms`);
    }

    //  A value from its /metrics: the sum over every series of that name
    //  (labels or not); null when absent or unreachable.
    async metric(name) {
        let text;
        try {
            const r = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`,
                                  { signal: AbortSignal.timeout(ms(3000)) });
            text = await r.text();
            if (r.status !== 200) return null;
        } catch { return null; }
        let sum = null;
        for (const line of text.split('\n')) {
            if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
                const v = Number(line.trim().split(/\s+/).pop());
                if (Number.isFinite(v)) sum = (sum || 0) + v;
            }
        }
        return sum;
    }

    logSize() {
        try { return fs.statSync(this.log).size; } catch { return 0; }
    }

    readLog(from = 0) {
        try {
            const buf = fs.readFileSync(this.log);
            return buf.subarray(Math.min(from, buf.length)).toString('utf8');
        } catch { return ''; }
    }

    sanitizerReport(from = 0) {
        const text = this.readLog(from);
        for (const pat of SAN_PATTERNS) {
            const i = text.indexOf(pat);
            if (i >= 0) {
                const start = text.lastIndexOf('\n', i) + 1;
                return text.slice(start, start + 400).split('\n')[0].replace(/^==\d+==/, '');
            }
        }
        return null;
    }
}

//  ---------------------------------------------------------------- PostgreSQL
export class Postgres {
    constructor(dir) {
        this.dir = path.join(dir, 'pg');
        this.port = 0;
    }

    async start() {
        this.port = await freePort();
        pgDirs.add(this.dir);
        const r = await run('bash', ['deploy/dev/pg.sh', 'start', this.dir, String(this.port)],
                            { timeout: ms(120000) });
        if (r.code !== 0)
            throw new Error(`pg.sh start failed (${r.code}): ${r.stderr.trim() || r.error}`);
        this.dsn = `host=127.0.0.1 port=${this.port} dbname=mt user=postgres`;
    }

    async migrate() {
        return run(path.join(BUILD, 'bin', 'mt-migrate'), [`--pg-dsn=${this.dsn}`],
                   { timeout: ms(60000), env: baseEnv() });
    }

    //  Run SQL with psql; returns rows as arrays of strings. Throws on error.
    async query(sql) {
        const r = await run('psql', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres',
                                     '-d', 'mt', '-X', '-v', 'ON_ERROR_STOP=1', '-F', '\t',
                                     '-Atc', sql],
                            { timeout: ms(20000), env: { ...baseEnv(), PGCONNECT_TIMEOUT: '5' } });
        if (r.code !== 0) throw new Error(`psql: ${r.stderr.trim() || r.error}`);
        return r.stdout.split('\n').filter((l) => l.length).map((l) => l.split('\t'));
    }

    async stop() {
        if (!this.port) return;
        await run('bash', ['deploy/dev/pg.sh', 'stop', this.dir], { timeout: ms(60000) });
        pgDirs.delete(this.dir);
    }

    //  Start again after stop(), on the same port and data (an outage ends).
    async startAgain() {
        pgDirs.add(this.dir);
        const r = await run('bash', ['deploy/dev/pg.sh', 'start', this.dir, String(this.port)],
                            { timeout: ms(120000) });
        if (r.code !== 0)
            throw new Error(`pg.sh start failed (${r.code}): ${r.stderr.trim() || r.error}`);
    }
}

//  ---------------------------------------------------------------- HTTP
//  Every API key and admin token the suite created or was given: the run ends
//  by checking that none of them appears in any log (run.mjs).
export const SECRETS = new Set();

//  Note the secrets in an admin answer (api_key, token), if any.
export function noteSecrets(json) {
    if (!json || typeof json !== 'object') return;
    for (const f of ['api_key', 'token'])
        if (typeof json[f] === 'string' && json[f].length >= 16) SECRETS.add(json[f]);
}

//  One request with fetch; never throws on HTTP status. Returns
//  { status, headers, text, json }. opts: key, body (object -> JSON, string
//  as is), headers, timeout.
export async function http(base, method, p, opts = {}) {
    const headers = { ...(opts.headers || {}) };
    if (opts.key !== undefined && opts.key !== null) headers.authorization = `Bearer ${opts.key}`;
    let body;
    if (opts.body !== undefined) {
        body = typeof opts.body === 'string' || opts.body instanceof Uint8Array
            ? opts.body : JSON.stringify(opts.body);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
            headers['content-type'] = 'application/json';
    }
    const res = await fetch(base + p, { method, headers, body,
                                        signal: opts.signal || AbortSignal.timeout(opts.timeout || ms(15000)) });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    noteSecrets(json);
    return { status: res.status, headers: res.headers, text, json };
}

//  Parse a whole SSE body into a list of data payloads; checks the framing.
export function parseSSE(text) {
    assert(text.endsWith('\n\n'), `SSE body does not end with a blank line: ${JSON.stringify(text.slice(-40))}`);
    const events = text.slice(0, -2).split('\n\n');
    const out = [];
    for (const ev of events) {
        assert(ev.startsWith('data: '), `SSE event not "data: ...": ${JSON.stringify(ev.slice(0, 80))}`);
        assert(!ev.includes('\n'), `SSE event spans lines: ${JSON.stringify(ev.slice(0, 80))}`);
        out.push(ev.slice(6));
    }
    return out;
}

//  Streaming request: returns { status, headers, events() async iterator of
//  data payloads, abort() }. For incremental reads (disconnect tests).
export async function openStream(base, p, key, body, timeout = ms(30000)) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeout);
    const res = await fetch(base + p, {
        method: 'POST', signal: ac.signal,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
    });
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    async function* events() {
        for (let i = 0; i < 100000; i++) {
            let k;
            while ((k = buf.indexOf('\n\n')) >= 0) {
                const ev = buf.slice(0, k);
                buf = buf.slice(k + 2);
                yield ev.startsWith('data: ') ? ev.slice(6) : ev;
            }
            const { value, done } = await reader.read();
            if (done) return;
            buf += dec.decode(value, { stream: true });
        }
    }
    return {
        status: res.status, headers: res.headers, events,
        abort: () => { clearTimeout(timer); ac.abort(); },
        done: () => clearTimeout(timer),
    };
}

//  Raw HTTP/1.1 over a socket: writes the request, reads until the server
//  closes or `bound` ms pass, tolerates a reset after the response arrived.
export function rawHttp(port, requestBuf, bound = ms(10000)) {
    return new Promise((resolve) => {
        const chunks = [];
        const sock = net.connect(port, '127.0.0.1');
        let finished = false;
        const finish = (err) => {
            if (finished) return;
            finished = true;
            clearTimeout(timer);
            sock.destroy();
            const text = Buffer.concat(chunks).toString('latin1');
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
            const split = text.indexOf('\r\n\r\n');
            resolve({ status: m ? Number(m[1]) : 0, head: split >= 0 ? text.slice(0, split) : text,
                      body: split >= 0 ? text.slice(split + 4) : '', error: err ? String(err.message) : '' });
        };
        const timer = setTimeout(() => finish(new Error('timeout')), bound);
        sock.on('data', (d) => {
            chunks.push(d);
            //  Stop when a complete Content-Length body is in.
            const text = Buffer.concat(chunks).toString('latin1');
            const split = text.indexOf('\r\n\r\n');
            if (split >= 0) {
                const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, split));
                if (cl && text.length - split - 4 >= Number(cl[1])) finish();
            }
        });
        sock.on('error', (e) => finish(e));
        sock.on('close', () => finish());
        sock.on('connect', () => sock.write(requestBuf, () => {}));
    });
}

//  A CURVE keypair for one instance (mt-keygen): { cert, public }. The
//  public certificate goes to <dir>/keys/<role>/, the secret one to
//  <dir>/secret/. An existing keypair is kept.
export function keygen(dir, role, name) {
    const r = spawnSync(path.join(BUILD, 'bin', 'mt-keygen'), [dir, role, name],
                        { encoding: 'utf8', timeout: 10000 });
    if (r.status !== 0)
        throw new Error(`mt-keygen ${role} ${name}: ${r.stderr || r.error}`);
    return { cert: path.join(dir, 'secret', `${name}.key_secret`),
             public: r.stdout.trim().split(' ')[2] };
}

//  ---------------------------------------------------------------- the stack
const ADMIN_TOKEN = 'adm-' + randomBytes(16).toString('hex');
SECRETS.add(ADMIN_TOKEN);

//  opts: name, sim { ttft, itl, tokens }, maxBody, slots,
//        env { <service name>: { MT_...: value } } (overrides, e.g. timeouts),
//        skip [<service name>...] (left out, like MT_IT_SKIP)
//        engine { model, ... } (the standard pool's worker fronts a fake
//        OpenAI-compatible engine, fake_engine.mjs, with the openai backend)
//        wrap { <service name>: [command, args...] } (run the binary under it)
export class Stack {
    constructor(pg, dir, opts) {
        this.pg = pg;
        this.opts = opts;
        this.name = opts.name;
        this.dir = path.join(dir, opts.name);
        fs.mkdirSync(this.dir, { recursive: true });
        //  One token for every stack: they share the database, and
        //  MT_ADMIN_TOKEN only enters the first admin token.
        this.adminToken = ADMIN_TOKEN;
        this.services = [];
    }

    svc(name) { return this.services.find((s) => s.name === name); }

    async start() {
        const p = {};
        for (const k of ['schedGw', 'schedWk', 'schedM', 'qe', 'qeM', 'mtr', 'mtrM', 'gwHttp',
                         'gwTok', 'waStdM', 'waPremM'])
            p[k] = await freePort();
        this.ports = p;
        this.base = `http://127.0.0.1:${p.gwHttp}`;
        const tcp = (port) => `tcp://127.0.0.1:${port}`;
        const sim = this.opts.sim || {};
        const bin = (n) => path.join(BUILD, 'bin', n);
        //  A fake engine behind the standard pool's worker, when asked for.
        let stdModel = 'sim-small';
        if (this.opts.engine) {
            this.engine = await startFakeEngine({ port: await freePort(), ...this.opts.engine });
            stdModel = this.engine.model;
        }
        this.stdModel = stdModel;
        //  opts.workerLinkDelayMs: the standard worker reaches the scheduler
        //  through a TCP relay that holds every byte that long, both ways
        //  (its JobDones come late, as from a busy or distant worker)
        let stdSched = p.schedWk;
        if (this.opts.workerLinkDelayMs) {
            this.linkRelay = await startDelayRelay(await freePort(), p.schedWk,
                                                   this.opts.workerLinkDelayMs);
            stdSched = this.linkRelay.port;
        }
        const wa = (pool, models, port) => ({
            MT_WA_SCHEDULER: tcp(pool === 'standard' ? stdSched : p.schedWk), MT_WA_ID: `wa-${this.name}-${pool}`,
            MT_WA_POOL: pool, MT_WA_MODELS: models, MT_WA_SLOTS: String(this.opts.slots || 8),
            MT_WA_BACKEND: 'sim', MT_WA_METRICS_PORT: String(port), MT_WA_METRICS_BIND: '127.0.0.1',
            MT_WA_SIM_TTFT_MS: String(sim.ttft ?? 10), MT_WA_SIM_ITL_MS: String(sim.itl ?? 2),
            MT_WA_SIM_TOKENS: String(sim.tokens ?? 48),
        });
        //  Every instance its own CURVE keypair; opts.curve === false runs
        //  the stack with CURVE off.
        this.curveDir = path.join(this.dir, 'curve');
        const curve = (role, name) => this.opts.curve === false ? { MT_CURVE: '0' } : {
            MT_CURVE_CERT: keygen(this.curveDir, role, name).cert,
            MT_CURVE_KEYS: path.join(this.curveDir, 'keys') };
        const cv = {
            'quota-enforcer': curve('quota-enforcer', 'quota-enforcer'),
            metering: curve('metering', 'metering'),
            scheduler: curve('scheduler', 'scheduler'),
            'worker-standard': curve('worker', 'worker-standard'),
            'worker-premium': curve('worker', 'worker-premium'),
            gateway: curve('gateway', 'gateway'),
        };
        const defs = [
            ['quota-enforcer', 'mt-quota-enforcer', {
                MT_PG_DSN: this.pg.dsn, MT_QE_BIND: tcp(p.qe),
                MT_QE_METRICS_PORT: String(p.qeM), MT_QE_METRICS_BIND: '127.0.0.1' }, p.qeM],
            ['metering', 'mt-metering', {
                MT_PG_DSN: this.pg.dsn, MT_MTR_BIND: tcp(p.mtr),
                MT_MTR_METRICS_PORT: String(p.mtrM), MT_MTR_METRICS_BIND: '127.0.0.1',
                MT_MTR_SPOOL: path.join(this.dir, 'metering.spool') }, p.mtrM],
            ['scheduler', 'mt-scheduler', {
                MT_SCHED_GATEWAY_BIND: tcp(p.schedGw), MT_SCHED_WORKER_BIND: tcp(p.schedWk),
                MT_SCHED_METRICS_PORT: String(p.schedM), MT_SCHED_METRICS_BIND: '127.0.0.1' }, p.schedM],
            ['worker-standard', 'mt-worker-adapter', {
                ...wa('standard', stdModel, p.waStdM),
                ...(this.engine ? { MT_WA_BACKEND: 'openai', MT_ENGINE_URL: this.engine.url } : {}) },
             p.waStdM],
            ['worker-premium', 'mt-worker-adapter', wa('premium', 'sim-large', p.waPremM), p.waPremM],
            ['gateway', 'mt-auth-gateway', {
                MT_PG_DSN: this.pg.dsn, MT_ADMIN_TOKEN: this.adminToken,
                MT_GW_USAGE_SPOOL: path.join(this.dir, 'gateway-usage.spool'),
                MT_GW_HTTP_PORT: String(p.gwHttp), MT_GW_HTTP_BIND: '127.0.0.1',
                MT_GW_TOKEN_BIND: tcp(p.gwTok), MT_GW_TOKEN_ENDPOINT: tcp(p.gwTok),
                MT_GW_SCHEDULER: tcp(p.schedGw), MT_GW_QUOTA: tcp(p.qe), MT_GW_METERING: tcp(p.mtr),
                MT_GW_MAX_BODY: String(this.opts.maxBody || 65536), MT_GW_DRAIN_MS: '2000',
                //  Every test speaks from 127.0.0.1: the 401 throttle is
                //  tested in its own group (t_front.mjs), off elsewhere.
                MT_GW_AUTH_FAIL_BURST: '0' },
             p.gwHttp],
        ];
        //  MT_IT_SKIP=metering,worker-premium: development aid, leave some out.
        const skip = (process.env.MT_IT_SKIP || '').split(',').filter(Boolean)
            .concat(this.opts.skip || []);
        const over = this.opts.env || {};
        for (const [name, b, env, mport] of defs) {
            if (skip.includes(name)) continue;
            if (!fs.existsSync(bin(b))) throw new Error(`${bin(b)} not built`);
            const s = new Service(name, bin(b), { ...env, ...cv[name], ...(over[name] || {}) },
                                  this.dir, (this.opts.wrap || {})[name] || null);
            s.metricsPort = mport;
            this.services.push(s);
            s.start();
        }
        //  Every /healthz answers 200.
        for (const s of this.services) {
            const ok = await poll(async () => {
                if (!s.running) throw Object.assign(new Error(`${s.name} exited (${fmtExit(s.exit)})`), { fatal: true });
                const r = await fetch(`http://127.0.0.1:${s.metricsPort}/healthz`,
                                      { signal: AbortSignal.timeout(1000) });
                await r.arrayBuffer();
                return r.status === 200;
            }, ms(15000), 100).catch((e) => { throw new Error(`${s.name} /healthz: ${e.message}`); });
            if (!ok) throw new Error(`${s.name} /healthz never answered 200`);
        }
        //  Catalog: a free tenant sees sim-small, an enterprise tenant sim-large.
        this.free = await this.tenant({ tier: 'free' }, 'boot-free');
        this.ent = await this.tenant({ tier: 'enterprise' }, 'boot-ent');
        for (const [t, model, wk] of [[this.free, stdModel, 'worker-standard'],
                                      [this.ent, 'sim-large', 'worker-premium']]) {
            if (skip.includes(wk)) continue;
            const ok = await poll(async () => {
                const r = await this.get('/v1/models', t.key);
                return r.status === 200 && Array.isArray(r.json?.data) &&
                       r.json.data.some((m) => m.id === model);
            }, ms(8000), 100);
            if (!ok) throw new Error(`/v1/models never listed ${model} for tier ${t.tier}`);
        }
    }

    //  Create a tenant through the admin API; returns { id, key, keyId, tier, json }.
    async tenant(fields = {}, label = 'it') {
        const body = { name: `${label}-${randomUUID().slice(0, 8)}`, tier: 'free', ...fields };
        let r;
        //  The gateway's database thread may still be connecting: retry 5xx.
        await poll(async () => {
            this.gatewayAlive();
            r = await this.admin('POST', '/admin/v1/tenants', body);
            return r.status < 500;
        }, ms(5000), 200);
        if (r.status !== 201)
            throw new TestFailure(`POST /admin/v1/tenants: ${r.status} ${r.text.slice(0, 200)}`);
        const j = r.json || {};
        const t = { id: j.id, key: j.api_key, keyId: keyIdOf(j), tier: body.tier, name: body.name, json: j };
        if (typeof t.key !== 'string' || typeof t.id !== 'string')
            throw new TestFailure(`POST /admin/v1/tenants: no id/api_key in ${r.text.slice(0, 200)}`);
        //  A new key works on the gateway within a second or so.
        const ok = await poll(async () => {
            this.gatewayAlive();
            return (await this.get('/v1/models', t.key)).status === 200;
        }, ms(2000), 50);
        if (!ok) throw new TestFailure(`a new tenant's key is still refused after ${ms(2000)} ms`);
        return t;
    }

    //  Throws (ending any poll) when the gateway process is gone.
    gatewayAlive() {
        const g = this.svc('gateway');
        if (g && !g.running)
            throw Object.assign(new TestFailure(`gateway is dead (${fmtExit(g.exit)})`), { fatal: true });
    }

    admin(method, p, body, token = this.adminToken) {
        return http(this.base, method, p, { key: token, body });
    }
    get(p, key) { return http(this.base, 'GET', p, { key }); }
    post(p, key, body, extra = {}) { return http(this.base, 'POST', p, { key, body, ...extra }); }

    async stopAll() {
        //  Gateway first (it drains), then workers, then the rest.
        const order = ['gateway', 'worker-standard', 'worker-premium', 'scheduler',
                       'quota-enforcer', 'metering'];
        const out = {};
        //  Services a test added (a second gateway, ...) first, then the rest
        for (const s of this.services)
            if (!order.includes(s.name)) out[s.name] = await s.stop(ms(8000));
        for (const n of order) {
            const s = this.svc(n);
            if (s) out[n] = await s.stop(ms(n === 'gateway' ? 8000 : 5000));
        }
        if (this.engine) await this.engine.close();
        if (this.linkRelay) this.linkRelay.close();
        return out;
    }
}

//  A TCP relay on 127.0.0.1:port to 127.0.0.1:target that holds every chunk
//  delayMs before passing it on, in order, both ways. close() ends it and its
//  connections.
export function startDelayRelay(port, target, delayMs) {
    const conns = new Set();
    const pipe = (from, to) => {
        from.on('data', (d) => setTimeout(() => { if (!to.destroyed) to.write(d); }, delayMs));
        from.on('end', () => setTimeout(() => to.end(), delayMs));
        from.on('error', () => to.destroy());
        from.on('close', () => setTimeout(() => to.destroy(), delayMs));
    };
    const server = net.createServer((c) => {
        const up = net.connect(target, '127.0.0.1');
        conns.add(c); conns.add(up);
        c.on('close', () => conns.delete(c));
        up.on('close', () => conns.delete(up));
        pipe(c, up);
        pipe(up, c);
    });
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve({
            port,
            close() { server.close(); for (const c of conns) c.destroy(); },
        }));
    });
}

//  The key id in a create-tenant or issue-key answer, wherever it is.
export function keyIdOf(j) {
    if (!j || typeof j !== 'object') return undefined;
    return j.key_id || j.api_key_id || j.key?.id || (j.api_key && j.prefix !== undefined ? j.id : undefined);
}

export function fmtExit(e) {
    if (!e) return 'running';
    if (e.error) return e.error;
    return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

export function newTmpDir() {
    return fs.mkdtempSync(path.join(os.tmpdir(), 'mt-it-'));
}
