//  The operators' console (/admin/) in a real browser: Debian's chromium,
//  headless, driven by playwright-core. Signs in (a wrong token first), creates
//  a tenant with every override, edits it, issues a key, makes completions
//  with it over HTTP, finds them in the usage chart and on the live page,
//  revokes the key and sees it refused, deletes a tenant. Screenshots of each
//  page go to $BUILD/it-output/console/.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { assert, eq, ms, poll, BUILD, ROOT, TestFailure } from './harness.mjs';
import { chat, short } from './common.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const SHOT_DIR = path.join(BUILD, 'it-output', 'console');

async function withBrowser(fn) {
    let pw;
    try {
        pw = await import('playwright-core');
    } catch (e) {
        throw new TestFailure(`playwright-core not installed (npm ci in tests/integration): ${e.message}`);
    }
    if (!fs.existsSync(CHROMIUM))
        throw new TestFailure(`${CHROMIUM} not found: install Debian's chromium (deploy/dev/install-deps.sh)`);
    fs.mkdirSync(SHOT_DIR, { recursive: true });
    const profile = fs.mkdtempSync(path.join(BUILD, 'it-output', 'chromium-profile-'));
    const ctx = await chromium(pw).launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1280, height: 900 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        timeout: ms(60000),
    });
    try {
        const page = ctx.pages()[0] || await ctx.newPage();
        page.setDefaultTimeout(ms(15000));
        const problems = [];
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        //  Nothing but the gateway itself may be fetched.
        page.on('request', (r) => {
            const u = r.url();
            if (!u.startsWith('http://127.0.0.1:') && !u.startsWith('data:'))
                problems.push(`request outside the gateway: ${u}`);
        });
        page.on('dialog', (d) => d.accept());
        await fn(page);
        assert(problems.length === 0, problems.join('; '));
    } finally {
        await ctx.close().catch(() => {});
        fs.rmSync(profile, { recursive: true, force: true });
    }
}

function chromium(pw) {
    return pw.chromium || (pw.default && pw.default.chromium);
}

async function shot(page, name) {
    await page.screenshot({ path: path.join(SHOT_DIR, `${name}.png`), fullPage: true });
}

async function text(page, sel) {
    return (await page.locator(sel).first().textContent()) || '';
}

const consoleTests = [
    {
        name: 'console: sign-in, tenants, keys, usage, live, revoke in a real browser',
        timeout: 180000,
        fn: async ({ stack }) => {
            const name = `console-${randomUUID().slice(0, 8)}`;
            await withBrowser(async (page) => {
                //  The page and its files come from the gateway
                await page.goto(`${stack.base}/admin/`);
                await page.locator('#signin-token').waitFor();
                await shot(page, '01-signin');

                //  A wrong token: a clear message, not a blank page
                await page.fill('#signin-token', 'not-the-admin-token');
                await page.click('#signin-submit');
                await page.locator('#signin-error').waitFor({ state: 'visible' });
                const wrong = await text(page, '#signin-error');
                assert(/refused/.test(wrong) && /401/.test(wrong), `wrong-token message: ${JSON.stringify(wrong)}`);
                assert(await page.locator('#view-signin').isVisible(), 'the sign-in form is gone after a wrong token');
                await shot(page, '02-wrong-token');

                //  Sign in
                await page.fill('#signin-token', stack.adminToken);
                await page.click('#signin-submit');
                await page.locator('#new-tenant').waitFor();

                //  Create a tenant with a tier and every override
                await page.click('#new-tenant');
                await page.fill('#tf-name', name);
                await page.selectOption('#tf-tier', 'pro');
                const over = { max_concurrent_requests: 7, daily_token_limit: 500000,
                               requests_per_minute: 300, tokens_per_minute: 50000 };
                for (const [k, v] of Object.entries(over))
                    await page.fill(`#tf-${k}`, String(v));
                await page.click('#tf-submit');
                await page.locator('#key-notice').waitFor();
                const firstKey = await page.inputValue('#new-key');
                const id = (await text(page, '#created-id')).trim();
                assert(firstKey.startsWith('sk-mt-'), `first key ${JSON.stringify(firstKey)}`);
                let r = await stack.admin('GET', `/admin/v1/tenants/${id}`);
                eq(r.status, 200, `GET tenant ${id}`);
                eq(r.json.tier, 'pro', 'tier');
                for (const [k, v] of Object.entries(over)) eq(r.json[k], v, `override ${k}`);
                await page.click('#copy-key');
                await shot(page, '03-tenant-created');

                //  Search narrows the list to it; edit it
                await page.fill('#tenant-search', name);
                await poll(async () => (await page.locator('#tenant-table tbody tr').count()) === 1, ms(3000), 100);
                eq(await page.locator(`tr[data-id="${id}"]`).count(), 1, 'rows for the searched tenant');
                await page.locator(`tr[data-id="${id}"] button.edit`).click();
                await page.fill('#tf-requests_per_minute', '301');
                await page.fill('#tf-daily_token_limit', '');           //  back to the tier's value
                await page.click('#tf-submit');
                await page.locator('#tenant-form').waitFor({ state: 'detached' });
                r = await stack.admin('GET', `/admin/v1/tenants/${id}`);
                eq(r.json.requests_per_minute, 301, 'requests_per_minute after edit');
                eq(r.json.daily_token_limit, null, 'daily_token_limit after clearing it');
                await shot(page, '04-tenants');

                //  Its keys: issue one, shown once with a copy button
                await page.locator(`tr[data-id="${id}"] a.tenant-name`).click();
                await page.locator('#issue-key').waitFor();
                eq((await text(page, '#keys-tenant')).trim(), name, 'keys page tenant');
                await page.fill('#key-name', 'console key');
                await page.click('#issue-key');
                await page.locator('#key-notice').waitFor();
                const key = await page.inputValue('#new-key');
                const named = await text(page, '#key-table');
                assert(named.includes('console key'), `the key's name is not listed: ${named.slice(0, 300)}`);
                assert(key.startsWith('sk-mt-') && key !== firstKey, `issued key ${JSON.stringify(key)}`);
                await page.locator('#copy-key').waitFor();
                await shot(page, '05-keys');

                //  Completions with it over HTTP
                const N = 3;
                await poll(async () => (await stack.get('/v1/models', key)).status === 200, ms(3000), 50);
                for (let i = 0; i < N; i++) {
                    const c = await chat(stack, key, `console test ${i}`);
                    eq(c.status, 200, `completion ${i}: ${short(c)}`);
                }
                //  A refusal by reason: a tenant allowed one request a minute
                const slow = await stack.tenant({ tier: 'free', requests_per_minute: 1 }, 'console-rpm');
                eq((await chat(stack, slow.key, 'one')).status, 200, 'first request of a 1/min tenant');
                const refused = await chat(stack, slow.key, 'two');
                eq(refused.status, 429, `second request of a 1/min tenant: ${short(refused)}`);

                //  Usage: the tenant's requests in the chart and the totals
                await page.goto(`${stack.base}/admin/#usage`);
                await page.locator('#usage-tenant').waitFor();
                await page.selectOption('#usage-tenant', id);
                const seen = await poll(async () => {
                    await page.click('#usage-show');
                    await page.waitForTimeout(300);
                    return (await text(page, '#usage-total-requests')).trim() === String(N);
                }, ms(10000), 300);
                assert(seen, `usage total requests: ${await text(page, '#usage-total-requests')}, want ${N}`);
                assert(await page.locator('#chart-tokens rect.bar-chart-tokens').count() >= 1, 'no bar in the tokens chart');
                assert(await page.locator('#chart-requests rect.bar-chart-requests').count() >= 1, 'no bar in the requests chart');
                const tips = await page.locator('#chart-requests rect.bar-chart-requests title').allTextContents();
                assert(tips.some((t) => /: 3$/.test(t)), `no requests bar says 3: ${JSON.stringify(tips.filter((t) => !/: 0$/.test(t)))}`);
                await page.selectOption('#usage-tenant', '');
                await page.click('#usage-show');
                await page.locator('#refusals tr.total').waitFor();
                const byTenant = await text(page, `#usage-by-tenant tr[data-id="${id}"]`);
                assert(byTenant.includes(name), `by-tenant row: ${JSON.stringify(byTenant)}`);
                const refusalsRow = await text(page, '#refusals tr.total');
                assert(/[1-9]/.test(refusalsRow), `refusals total row: ${JSON.stringify(refusalsRow)}`);
                await shot(page, '06-usage');

                //  Live: pools and workers, the tenant among the busiest, the 429 among recent errors
                await page.goto(`${stack.base}/admin/#live`);
                await page.locator('#pools .pool').first().waitFor();
                assert(await page.locator('#pools tr.worker').count() >= 1, 'no worker on the live page');
                assert(await page.locator('#pools tr.model').count() >= 1, 'no model queue on the live page');
                await page.locator(`#busy-tenants tr[data-id="${id}"]`).waitFor();
                const row = await text(page, `#busy-tenants tr[data-id="${id}"]`);
                assert(row.includes(name) && row.includes('50,000'), `busy tenant row: ${JSON.stringify(row)}`);
                const errs = await text(page, '#recent-errors');
                assert(errs.includes('rate_limit_exceeded'), `recent errors lack the 429: ${errs.slice(0, 300)}`);
                eq((await text(page, '#sched-state')).trim(), 'answering', 'scheduler state');
                await shot(page, '07-live');

                //  Revoke the key in the console: the gateway refuses it
                await page.goto(`${stack.base}/admin/#keys/${id}`);
                const keyRows = page.locator('#key-table tr.live button.revoke');
                await keyRows.first().waitFor();
                const live0 = await keyRows.count();
                eq(live0, 2, 'live keys before revoking');
                const keyOrder = await page.locator('#key-table tr.live').allTextContents();
                assert(keyOrder[1] && keyOrder[1].includes('console key'), `keys not oldest first: ${JSON.stringify(keyOrder)}`);
                await page.locator('#key-table tr.live', { hasText: 'console key' }).locator('button.revoke').click();
                const shown = await poll(async () => (await page.locator('#key-table tr.revoked').count()) === 1, ms(5000), 100);
                assert(shown, 'the console does not show the key revoked');
                const gone = await poll(async () => (await chat(stack, key, 'after revoke')).status === 401, ms(3000), 100);
                assert(gone, 'the revoked key is still accepted');
                eq((await chat(stack, firstKey, 'other key')).status, 200, 'the other key after revoking one');
                await shot(page, '08-revoked');

                //  Delete a tenant from the list
                await page.goto(`${stack.base}/admin/#tenants`);
                await page.fill('#tenant-search', slow.name);
                await page.locator(`tr[data-id="${slow.id}"] button.delete`).click();
                await poll(async () => (await page.locator(`tr[data-id="${slow.id}"]`).count()) === 0, ms(5000), 100);
                eq((await stack.admin('GET', `/admin/v1/tenants/${slow.id}`)).status, 404, 'deleted tenant');

                //  A token that stops working (rotated) signs the console out with a message
                await page.evaluate(() => sessionStorage.setItem('mt-admin-token', 'rotated-away'));
                await page.goto(`${stack.base}/admin/#live`);
                await page.reload();
                await page.locator('#signin-error').waitFor({ state: 'visible' });
                assert(/401/.test(await text(page, '#signin-error')), 'no message after a refused token');
            });
        },
    },
    {
        name: 'admin API: /admin/v1/live and /admin/v1/usage/series need the admin token and check their input',
        fn: async ({ stack }) => {
            for (const p of ['/admin/v1/live', '/admin/v1/usage/series']) {
                const r = await stack.admin('GET', p, undefined, 'wrong');
                eq(r.status, 401, `${p} with a wrong token`);
                assert(r.json && r.json.error && r.json.error.code, `${p}: error shape ${short(r)}`);
            }
            let r = await stack.admin('GET', '/admin/v1/usage/series?granularity=week');
            eq(r.status, 400, `granularity=week: ${short(r)}`);
            eq(r.json.error.param, 'granularity', 'param');
            r = await stack.admin('GET', '/admin/v1/usage/series?tenant_id=nope');
            eq(r.status, 400, `tenant_id=nope: ${short(r)}`);
            r = await stack.admin('GET', '/admin/v1/usage/series?from=2020-01-01&to=2020-01-02&granularity=day');
            eq(r.status, 200, `an empty range: ${short(r)}`);
            eq(r.json.data.length, 0, 'rows in an empty range');
            r = await stack.admin('POST', '/admin/v1/live', {});
            eq(r.status, 405, `POST live: ${short(r)}`);
            r = await stack.admin('GET', '/admin/v1/live');
            eq(r.status, 200, `live: ${short(r)}`);
            assert(Array.isArray(r.json.pools) && r.json.pools.length >= 1, 'live: no pools');
            const w = r.json.pools[0].workers[0];
            assert(w && w.slots >= 1 && w.free + w.busy === w.slots, `live worker ${JSON.stringify(w)}`);
            r = await http404(stack, '/admin/nope.js');
            eq(r, 404, 'an unknown console file');
        },
    },
];

//  Metric names in PromQL text: identifiers with a service prefix, less the
//  histogram suffixes.
export function metricNames(text) {
    const names = new Set();
    for (const m of text.matchAll(/\b((?:mt|gw|sch|qe|mtr|wa)_[a-z0-9_]+)\b/g)) {
        const n = m[1].replace(/_(bucket|sum|count)$/, '');
        names.add(n);
    }
    return names;
}

//  Names of every series family in a Prometheus text scrape.
function scrapedNames(text) {
    const names = new Set();
    for (const line of text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
        if (m) {
            names.add(m[1]);
            names.add(m[1].replace(/_(bucket|sum|count)$/, ''));
        }
    }
    return names;
}

const metricsTests = [
    {
        name: 'metrics: promtool accepts the alert rules and the Prometheus config',
        fn: async () => {
            for (const args of [['check', 'rules', 'deploy/config/mt-alerts.yml'],
                                ['check', 'config', 'deploy/config/prometheus.yml']]) {
                const r = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
                if (r.error) throw new TestFailure(`promtool: ${r.error.message} (install Debian's prometheus: deploy/dev/install-deps.sh)`);
                eq(r.status, 0, `promtool ${args.join(' ')}: ${(r.stdout + r.stderr).trim().slice(-300)}`);
            }
        },
    },
    {
        name: 'metrics: every metric the dashboard and the alert rules name is in a live scrape',
        fn: async ({ stack }) => {
            //  Traffic first, so that per-tenant and per-pool series exist
            const t = await stack.tenant({ tier: 'free', daily_token_limit: 100000 }, 'metrics');
            eq((await chat(stack, t.key, 'hello metrics')).status, 200, 'a completion');
            let scraped = new Set();
            const urls = [`${stack.base}/metrics`].concat(stack.services.filter((s) => s.name !== 'gateway')
                .map((s) => `http://127.0.0.1:${s.metricsPort}/metrics`));
            for (const u of urls) {
                const r = await fetch(u);
                eq(r.status, 200, `GET ${u}`);
                scraped = new Set([...scraped, ...scrapedNames(await r.text())]);
            }
            const rules = fs.readFileSync(path.join(ROOT, 'deploy/config/mt-alerts.yml'), 'utf8');
            const dash = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy/grafana/mt-serve.json'), 'utf8'));
            const exprs = dash.panels.flatMap((p) => p.targets.map((x) => x.expr)).join('\n');
            const named = new Set([...metricNames(rules), ...metricNames(exprs)]);
            assert(named.size >= 10, `only ${named.size} metric names found in the rules and dashboard`);
            const missing = [...named].filter((n) => !scraped.has(n));
            assert(missing.length === 0, `not in any scrape: ${missing.join(', ')}`);
            //  The gateway's per-tenant series carry the tenant
            const g = await (await fetch(`${stack.base}/metrics`)).text();
            assert(g.includes(`mt_gw_tenant_requests_total{tenant="${t.id}",outcome="ok"} 1`),
                   'no per-tenant request series for the tenant');
            assert(g.includes(`mt_gw_tenant_daily_token_limit{tenant="${t.id}"} 100000`),
                   'no daily limit series for the tenant');
        },
    },
];

//  For the engine stack: a worker reports its engine down after three
//  failures in a row, and up again after a success.
export const engineHealthTests = [
    {
        name: 'console: an engine failing 3 requests in a row shows failing on the live page, then healthy; the worker keeps it up (it answers)',
        fn: async ({ stack }) => {
            const t = await stack.tenant({ tier: 'free' }, 'eng-health');
            const worker = stack.svc('worker-standard');
            const engine = async () => {
                const r = await stack.admin('GET', '/admin/v1/live');
                eq(r.status, 200, `live: ${short(r)}`);
                const w = r.json.pools.flatMap((p) => p.workers).find((x) => x.worker_id === `wa-${stack.name}-standard`);
                assert(w, `no standard worker in ${JSON.stringify(r.json.pools)}`);
                return w;
            };
            eq(await worker.metric('mt_wa_engine_up'), 1, 'mt_wa_engine_up at first');
            const body = (prompt) => ({ model: stack.stdModel, max_tokens: 4, messages: [{ role: 'user', content: prompt }] });
            for (let i = 0; i < 3; i++) {
                const r = await stack.post('/v1/chat/completions', t.key, body(`FAIL500 health ${i}`));
                assert(r.status >= 500, `FAIL500 ${i}: ${short(r)}`);
            }
            //  An engine that answers with errors is not down: the worker keeps
            //  taking jobs (down is for engines that do not answer, t_crash.mjs)
            eq(await worker.metric('mt_wa_engine_up'), 1, 'mt_wa_engine_up after 3 answered failures');
            const down = await poll(async () => (await engine()).engine_healthy === false, ms(4000), 200);
            assert(down, 'the live view still shows the engine healthy');
            eq((await engine()).engine_failures >= 3, true, 'engine_failures');
            const ok = await stack.post('/v1/chat/completions', t.key, body('fine'));
            eq(ok.status, 200, `a good request: ${short(ok)}`);
            const up = await poll(async () => (await engine()).engine_healthy === true, ms(4000), 200);
            assert(up, 'the live view still shows the engine failing');
        },
    },
];

async function http404(stack, p) {
    const r = await fetch(stack.base + p);
    await r.arrayBuffer();
    return r.status;
}

export default [...consoleTests, ...metricsTests];
