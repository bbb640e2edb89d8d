//  A small OpenAI-compatible streaming engine for the integration suite,
//  shaped like vLLM's server: POST /v1/chat/completions and /v1/completions
//  (stream true: one token per SSE chunk, a final chunk with finish_reason,
//  a usage chunk with choices [] when stream_options.include_usage, then
//  data: [DONE]; stream false: one JSON body), POST /v1/embeddings,
//  GET /v1/models, and GET /debug with what it saw. Node built-ins only.
//
//  Beyond text, as OpenAI streams them (see engineAnswer):
//    tools       offered and tool_choice not "none" (and, for "auto", the
//                last message not a tool result): a call of the first tool
//                (of tool_choice's when named), arguments built from its
//                schema, streamed 3 characters a chunk; PARALLEL in the
//                prompt: a call of every tool; finish_reason "tool_calls"
//    logprobs    chat logprobs: true (+ top_logprobs), completions logprobs: k
//    n > 1       choice i has natural - 2 i tokens, chunks interleaved, so
//                the choices finish one after another
//    REFUSE      in the prompt: a refusal (delta.refusal) instead of content
//    every chunk carries system_fingerprint "fp_fake"
//  Every chunk holds one choice; each content piece, argument fragment or
//  tool-call header is one completion token.
//
//  Deterministic text: the same prompt gives the same tokens. Each token is
//  " " + a word of at most 4 letters, so the stack's own token count of the
//  text equals the number of tokens.
//
//  Knobs, in the prompt text (or the x-fake-engine header, comma separated):
//    FAIL500     answer HTTP 500 with an OpenAI error body
//    FAIL400     answer HTTP 400 with an OpenAI error body
//    DROP        close the connection mid-stream after 3 tokens
//    SLOW        a long delay between tokens (slowDelayMs)
//    ERREVENT    after 3 tokens send data: {"error":{...}} and end the stream
//    NOUSAGE     no usage chunk even when include_usage is asked for
//    TOKENS=<n>  the natural length of the answer (default defaultTokens)
//
//  Usage numbers are the engine's own: prompt_tokens counts a chat template
//  (PROMPT_OVERHEAD + 3 per message + ceil(chars / 4) per content), which
//  differs from the gateway's estimate on purpose, so a test can tell the
//  engine's usage from a count.
//
//  In-process:  const e = await startFakeEngine({ model: 'fake-llm' }); e.url; await e.close();
//  Standalone:  node tests/integration/fake_engine.mjs [--port N] [--model NAME]
import http from 'node:http';
import { fileURLToPath } from 'node:url';

export const FINGERPRINT = 'fp_fake';
export const REFUSAL = ['I', ' can', 'not', ' help', ' with', ' that.'];
const ARG_FRAGMENT = 3;

//  Arguments for a JSON schema: strings "paris", numbers 7, booleans true.
export function fakeArguments(schema, depth = 0) {
    if (!schema || typeof schema !== 'object' || depth > 6) return null;
    if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
    const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
    if (type === 'object' || schema.properties) {
        const out = {};
        for (const [k, v] of Object.entries(schema.properties || {})) out[k] = fakeArguments(v, depth + 1);
        return out;
    }
    if (type === 'array') return [fakeArguments(schema.items, depth + 1)];
    if (type === 'integer' || type === 'number') return 7;
    if (type === 'boolean') return true;
    if (type === 'null') return null;
    return 'paris';
}

//  The tool calls the engine makes for this body, or null: [{ id, name, arguments }].
export function fakeToolCalls(body, prompt) {
    const tools = Array.isArray(body.tools) ? body.tools.filter((t) => t && t.function && t.function.name) : [];
    if (!tools.length) return null;
    const choice = body.tool_choice ?? 'auto';
    if (choice === 'none') return null;
    const last = Array.isArray(body.messages) ? body.messages[body.messages.length - 1] : null;
    if (choice === 'auto' && last && last.role === 'tool') return null;
    let pick = [tools[0]];
    if (choice && typeof choice === 'object' && choice.function)
        pick = tools.filter((t) => t.function.name === choice.function.name).slice(0, 1);
    else if (prompt.includes('PARALLEL')) pick = tools;
    return pick.map((t, i) => ({ id: `call_fake_${hash(prompt + i).toString(16)}`, name: t.function.name,
                                 arguments: JSON.stringify(fakeArguments(t.function.parameters) ?? {}) }));
}

//  The deltas of one choice, each one completion token: [{ delta, logprobs }]
//  for chat, [{ text, logprobs }] for completions.
export function engineAnswer(kind, body, prompt, index, natural) {
    const want = (body.n ?? 1) > 1 ? Math.max(1, natural - 2 * index) : natural;
    const seedPrompt = index ? `${prompt}#${index}` : prompt;
    const calls = kind === 'chat' ? fakeToolCalls(body, prompt) : null;
    const steps = [];
    if (calls) {
        calls.forEach((c, k) => {
            steps.push({ delta: { tool_calls: [{ index: k, id: c.id, type: 'function',
                                                 function: { name: c.name, arguments: '' } }] } });
            for (let a = 0; a < c.arguments.length; a += ARG_FRAGMENT)
                steps.push({ delta: { tool_calls: [{ index: k, function: { arguments: c.arguments.slice(a, a + ARG_FRAGMENT) } }] } });
        });
        return { steps, finish: 'tool_calls' };
    }
    if (kind === 'chat' && prompt.includes('REFUSE')) {
        for (const r of REFUSAL) steps.push({ delta: { refusal: r } });
        return { steps, finish: 'stop' };
    }
    const top = Number.isInteger(body.top_logprobs) ? body.top_logprobs : 0;
    let offset = 0;
    for (const [i, t] of fakeTokens(seedPrompt, want).entries()) {
        const lp = -((hash(t + i) % 300) / 100 + 0.05);
        let logprobs = null;
        if (kind === 'chat' && body.logprobs === true)
            logprobs = { content: [{ token: t, logprob: lp, bytes: [...Buffer.from(t)],
                                     top_logprobs: Array.from({ length: top }, (_, k) => ({
                                         token: k ? `${t}${k}` : t, logprob: lp - k, bytes: [...Buffer.from(k ? `${t}${k}` : t)] })) }],
                         refusal: null };
        if (kind !== 'chat' && Number.isInteger(body.logprobs))
            logprobs = { tokens: [t], token_logprobs: [lp], top_logprobs: [{ [t]: lp }], text_offset: [offset] };
        offset += t.length;
        steps.push(kind === 'chat' ? { delta: { content: t }, logprobs } : { text: t, logprobs });
    }
    return { steps, finish: null };
}

const WORDS = ['the', 'fair', 'quee', 'gate', 'way', 'pool', 'tok', 'lane', 'ring', 'mesh',
               'node', 'byte', 'rate', 'slot', 'lease', 'work', 'sch', 'tier', 'fast', 'calm',
               'net', 'bus', 'log', 'sum'].map((w) => w.slice(0, 4));
export const PROMPT_OVERHEAD = 3;

function hash(s) {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) {
        h ^= s.charCodeAt(i);
        h = Math.imul(h, 16777619) >>> 0;
    }
    return h;
}

//  The deterministic answer: n tokens for this prompt.
export function fakeTokens(prompt, n) {
    const seed = hash(prompt);
    const out = [];
    for (let i = 0; i < n; i++) out.push(' ' + WORDS[(seed + i * 7) % WORDS.length]);
    return out;
}

function contentText(c) {
    if (typeof c === 'string') return c;
    if (Array.isArray(c)) return c.map((p) => (p && typeof p.text === 'string' ? p.text : '')).join('');
    return '';
}

//  The engine's prompt token count (see the header).
export function fakePromptTokens(kind, body) {
    if (kind === 'chat') {
        let n = PROMPT_OVERHEAD;
        for (const m of body.messages) n += 3 + Math.ceil(contentText(m && m.content).length / 4);
        return n;
    }
    const p = Array.isArray(body.prompt) ? body.prompt.join('') : String(body.prompt ?? '');
    return 1 + Math.ceil(p.length / 4);
}

function promptText(kind, body) {
    if (kind === 'chat') return body.messages.map((m) => contentText(m && m.content)).join('\n');
    return Array.isArray(body.prompt) ? body.prompt.join('') : String(body.prompt ?? '');
}

function sendJson(res, status, obj) {
    const text = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
}

function openaiError(res, status, message, type, code = null, param = null) {
    sendJson(res, status, { error: { message, type, param, code } });
}

export async function startFakeEngine(opts = {}) {
    const model = opts.model || 'fake-llm';
    const delayMs = opts.delayMs ?? 5;
    const slowDelayMs = opts.slowDelayMs ?? 250;
    const defaultTokens = opts.defaultTokens ?? 24;
    const keep = opts.keep ?? 100;
    let seq = 0;
    //  What it saw: every request (last `keep`), counters.
    const state = { requests: [], aborted: 0, completed: 0, failed: 0, dropped: 0, models: 0, active: 0 };
    const timers = new Set();
    const sockets = new Set();

    function record(entry) {
        state.requests.push(entry);
        if (state.requests.length > keep) state.requests.shift();
    }

    async function handleCompletion(req, res, kind, raw) {
        const id = ++seq;
        const entry = { id, path: req.url, at: Date.now(), body: null, raw: raw.slice(0, 4096),
                        headers: { 'content-type': req.headers['content-type'] || null,
                                   accept: req.headers.accept || null },
                        status: 0, tokensSent: 0, finished: false, aborted: false, finish_reason: null };
        record(entry);
        let body;
        try {
            body = JSON.parse(raw);
        } catch {
            entry.status = 400;
            return openaiError(res, 400, 'fake engine: the body is not JSON', 'invalid_request_error');
        }
        entry.body = body;
        if (!body || typeof body !== 'object' || Array.isArray(body)) {
            entry.status = 400;
            return openaiError(res, 400, 'fake engine: the body is not an object', 'invalid_request_error');
        }
        if (body.model !== model) {
            entry.status = 404;
            return openaiError(res, 404, `The model \`${body.model}\` does not exist.`,
                               'NotFoundError', 'model_not_found', 'model');
        }
        if (kind === 'chat' ? !Array.isArray(body.messages) || !body.messages.length
                            : body.prompt === undefined) {
            entry.status = 400;
            return openaiError(res, 400, `fake engine: ${kind === 'chat' ? 'messages' : 'prompt'} missing`,
                               'invalid_request_error');
        }
        const prompt = promptText(kind, body);
        const knobs = new Set(String(req.headers['x-fake-engine'] || '').split(',').filter(Boolean));
        for (const k of ['FAIL500', 'FAIL400', 'DROP', 'SLOW', 'ERREVENT', 'NOUSAGE'])
            if (prompt.includes(k)) knobs.add(k);
        entry.knobs = [...knobs];
        if (knobs.has('FAIL500')) {
            entry.status = 500;
            state.failed++;
            return openaiError(res, 500, 'fake engine: internal failure (FAIL500)', 'InternalServerError');
        }
        if (knobs.has('FAIL400')) {
            entry.status = 400;
            state.failed++;
            return openaiError(res, 400, 'fake engine: bad request (FAIL400)', 'BadRequestError');
        }
        const natural = /TOKENS=(\d+)/.exec(prompt) ? Number(/TOKENS=(\d+)/.exec(prompt)[1]) : defaultTokens;
        let max = body.max_tokens ?? body.max_completion_tokens;
        if (max !== undefined && max !== null && (!Number.isInteger(max) || max < 1)) {
            entry.status = 400;
            return openaiError(res, 400, `fake engine: max_tokens must be at least 1, got ${max}`,
                               'BadRequestError', null, 'max_tokens');
        }
        //  Every choice's deltas, capped at max_tokens each.
        const count = Number.isInteger(body.n) && body.n > 1 ? body.n : 1;
        const answers = [];
        for (let i = 0; i < count; i++) {
            const a = engineAnswer(kind, body, prompt, i, natural);
            const capped = max && a.steps.length > max;
            answers.push({ steps: capped ? a.steps.slice(0, max) : a.steps,
                           finish: capped ? 'length' : a.finish ?? 'stop',
                           tool: a.finish === 'tool_calls' });
        }
        const finish = answers[0].finish;
        const n = answers.reduce((k, a) => k + a.steps.length, 0);
        const usage = { prompt_tokens: fakePromptTokens(kind, body), completion_tokens: n,
                        total_tokens: 0 };
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
        const created = Math.floor(Date.now() / 1000);
        const cid = (kind === 'chat' ? 'chatcmpl-fake-' : 'cmpl-fake-') + id;
        const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';

        if (!body.stream) {
            entry.status = 200;
            entry.tokensSent = n;
            entry.finished = true;
            entry.finish_reason = finish;
            state.completed++;
            const choices = answers.map((a, i) => {
                const text = a.steps.map((st) => (kind === 'chat' ? st.delta.content ?? '' : st.text)).join('');
                return kind === 'chat'
                    ? { index: i, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: a.finish }
                    : { index: i, text, logprobs: null, finish_reason: a.finish };
            });
            return sendJson(res, 200, { id: cid, object: kind === 'chat' ? 'chat.completion' : 'text_completion',
                                        created, model, system_fingerprint: FINGERPRINT, choices, usage });
        }

        entry.status = 200;
        state.active++;
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const chunk = (choice, extra = {}) => JSON.stringify({ id: cid, object, created, model,
                                                               system_fingerprint: FINGERPRINT,
                                                               choices: choice ? [choice] : [], ...extra });
        const piece = (i, st) => (kind === 'chat'
            ? { index: i, delta: st.delta, logprobs: st.logprobs ?? null, finish_reason: null }
            : { index: i, text: st.text, logprobs: st.logprobs ?? null, finish_reason: null });
        const end = (i, fin) => (kind === 'chat'
            ? { index: i, delta: {}, logprobs: null, finish_reason: fin }
            : { index: i, text: '', logprobs: null, finish_reason: fin });
        const write = (data) => res.write(`data: ${data}\n\n`);
        let closed = false;
        res.on('close', () => {
            closed = true;
            state.active--;
            if (!entry.finished && !entry.dropped) {
                entry.aborted = true;
                state.aborted++;
            }
        });
        const wait = (t) => new Promise((r) => {
            const h = setTimeout(() => { timers.delete(h); r(); }, t);
            timers.add(h);
        });
        const gap = knobs.has('SLOW') ? slowDelayMs : delayMs;
        if (kind === 'chat')
            answers.forEach((a, i) => write(chunk({ index: i, delta: { role: 'assistant',
                content: a.tool || prompt.includes('REFUSE') ? null : '' }, logprobs: null, finish_reason: null })));
        const rounds = Math.max(...answers.map((a) => a.steps.length));
        for (let r = 0; r < rounds; r++) {
            await wait(gap);
            if (closed) return;
            if (r === 3 && knobs.has('DROP')) {
                state.dropped++;
                entry.dropped = true;
                res.socket.destroy();
                return;
            }
            if (r === 3 && knobs.has('ERREVENT')) {
                write(JSON.stringify({ error: { message: 'fake engine: error mid-stream (ERREVENT)',
                                                type: 'InternalServerError', param: null, code: 500 } }));
                write('[DONE]');
                entry.finished = true;
                entry.finish_reason = 'error';
                state.failed++;
                res.end();
                return;
            }
            answers.forEach((a, i) => {
                if (r >= a.steps.length) return;
                write(chunk(piece(i, a.steps[r])));
                entry.tokensSent++;
                //  A choice that is done says so now, before the others
                if (r === a.steps.length - 1 && count > 1) write(chunk(end(i, a.finish)));
            });
        }
        if (closed) return;
        if (count === 1) write(chunk(end(0, finish)));
        if (body.stream_options && body.stream_options.include_usage && !knobs.has('NOUSAGE'))
            write(chunk(null, { usage }));
        write('[DONE]');
        entry.finished = true;
        entry.finish_reason = finish;
        state.completed++;
        res.end();
    }

    //  POST /v1/embeddings: vectors of `dimensions` (default 8) numbers from
    //  each input's hash; base64 as little-endian float32; usage prompt_tokens
    //  1 + ceil(chars / 4) a string, the length of a token array.
    function handleEmbeddings(req, res, raw) {
        const entry = { id: ++seq, path: req.url, at: Date.now(), body: null, raw: raw.slice(0, 4096),
                        headers: { 'content-type': req.headers['content-type'] || null,
                                   accept: req.headers.accept || null },
                        status: 0, tokensSent: 0, finished: true, aborted: false, finish_reason: null };
        record(entry);
        let body;
        try { body = JSON.parse(raw); } catch { body = null; }
        entry.body = body;
        if (!body || typeof body !== 'object') {
            entry.status = 400;
            return openaiError(res, 400, 'fake engine: the body is not JSON', 'invalid_request_error');
        }
        if (body.model !== model) {
            entry.status = 404;
            return openaiError(res, 404, `The model \`${body.model}\` does not exist.`, 'NotFoundError', 'model_not_found', 'model');
        }
        const input = body.input;
        const list = typeof input === 'string' || (Array.isArray(input) && typeof input[0] === 'number') ? [input] : input;
        if (!Array.isArray(list) || !list.length) {
            entry.status = 400;
            return openaiError(res, 400, 'fake engine: bad input', 'invalid_request_error', null, 'input');
        }
        const dims = Number.isInteger(body.dimensions) ? body.dimensions : 8;
        let prompt = 0;
        const data = list.map((x, index) => {
            const key = typeof x === 'string' ? x : JSON.stringify(x);
            prompt += typeof x === 'string' ? 1 + Math.ceil(x.length / 4) : x.length;
            const v = Array.from({ length: dims }, (_, j) => ((hash(`${key}/${j}`) % 2000) - 1000) / 1000);
            const norm = Math.hypot(...v) || 1;
            const unit = v.map((y) => y / norm);
            const embedding = body.encoding_format === 'base64'
                ? Buffer.from(new Float32Array(unit).buffer).toString('base64') : unit;
            return { object: 'embedding', index, embedding };
        });
        entry.status = 200;
        state.completed++;
        return sendJson(res, 200, { object: 'list', data, model, usage: { prompt_tokens: prompt, total_tokens: prompt } });
    }

    const server = http.createServer((req, res) => {
        const url = req.url.split('?')[0];
        if (req.method === 'GET' && url === '/v1/models') {
            state.models++;
            return sendJson(res, 200, { object: 'list', data: [{ id: model, object: 'model',
                created: 1700000000, owned_by: 'fake-engine', max_model_len: 4096 }] });
        }
        if (req.method === 'GET' && url === '/debug') return sendJson(res, 200, state);
        if (req.method === 'GET' && url === '/health') { res.writeHead(200); return res.end(); }
        const kind = url === '/v1/chat/completions' ? 'chat' : url === '/v1/completions' ? 'text'
                   : url === '/v1/embeddings' ? 'embeddings' : null;
        if (!kind) return openaiError(res, 404, `fake engine: no route ${req.method} ${url}`, 'NotFoundError');
        if (req.method !== 'POST') return openaiError(res, 405, 'fake engine: POST only', 'invalid_request_error');
        const parts = [];
        let size = 0;
        req.on('data', (d) => {
            size += d.length;
            if (size <= 1 << 20) parts.push(d);
        });
        req.on('end', () => {
            const raw = Buffer.concat(parts).toString('utf8');
            if (kind === 'embeddings') return handleEmbeddings(req, res, raw);
            handleCompletion(req, res, kind, raw).catch((e) => {
                try { openaiError(res, 500, `fake engine bug: ${e.message}`, 'InternalServerError'); } catch { /* gone */ }
            });
        });
    });
    server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port || 0, '127.0.0.1', resolve);
    });
    const port = server.address().port;
    return {
        port, model, state,
        url: `http://127.0.0.1:${port}/v1`,
        base: `http://127.0.0.1:${port}`,
        //  The newest request whose raw body contains `text`.
        find: (text) => [...state.requests].reverse().find((r) => r.raw.includes(text)),
        close: () => new Promise((resolve) => {
            for (const t of timers) clearTimeout(t);
            timers.clear();
            for (const s of sockets) s.destroy();
            server.close(() => resolve());
        }),
    };
}

//  Standalone.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
    const arg = (name) => {
        const i = process.argv.indexOf(name);
        return i > 0 ? process.argv[i + 1] : undefined;
    };
    const e = await startFakeEngine({ port: Number(arg('--port') || 0), model: arg('--model') || 'fake-llm' });
    process.stdout.write(`fake-engine: listening url=${e.url} model=${e.model}\n`);
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => e.close().then(() => process.exit(0)));
}
