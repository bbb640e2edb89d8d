//  Print the results of tests/bench/fairness.mjs (one JSON object a line) as
//  a Markdown table.  node tests/bench/fairness_table.mjs results.jsonl
import fs from 'node:fs';

const rows = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean)
    .map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
const f = (v) => (v === null || v === undefined ? '-' : String(v));
console.log('| scenario | policy | pro tok/s per tenant | free tok/s per tenant | pro:free | pro share (weights) | light p50 ms (x idle) | light p99 ms (x idle) | total tok/s | errors |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
    const pro = r.tiers.pro, free = r.tiers.free;
    const ratio = pro && free && free.per_tenant_tok_s ? (pro.per_tenant_tok_s / free.per_tenant_tok_s).toFixed(2) : '-';
    const share = pro ? `${pro.share} (${pro.weight_share})` : '-';
    const l = r.light;
    const p50 = l ? `${f(l.p50_ms)} (${f(l.p50_x)}, idle ${f(l.idle_p50_ms)})` : '-';
    const p99 = l ? `${f(l.p99_ms)} (${f(l.p99_x)}, idle ${f(l.idle_p99_ms)})` : '-';
    const errors = Object.values(r.tiers).reduce((a, t) => a + t.errors, 0);
    console.log(`| ${r.scenario} | ${r.policy} | ${pro ? pro.per_tenant_tok_s : '-'} | ${free ? free.per_tenant_tok_s : '-'} | ${ratio} | ${share} | ${p50} | ${p99} | ${r.total_tok_s} | ${errors} |`);
}
