//  The stand-in engine of `make bench-engine`: an OpenAI-compatible server that
//  answers at once (no delay before or between tokens), so what is measured in
//  front of it is the path, not the engine. POST /v1/chat/completions and
//  /v1/completions (stream true: one SSE chunk per token, a final chunk with
//  finish_reason, a usage chunk with choices [] when stream_options.include_usage,
//  then data: [DONE], written in one go; stream false: one JSON body); GET
//  /v1/models. It keeps nothing per request. Node built-ins only.
//
//  node tests/bench/engine.mjs --port N [--tokens 16]
import http from 'node:http';

function arg (name, dflt) {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
}
const port = Number(arg('--port', '0'));
const tokens = Number(arg('--tokens', '16'));
const WORDS = [' the', ' fair', ' gate', ' way', ' pool', ' tok', ' lane', ' ring'];

function answer (req, res, body) {
    let q;
    try { q = JSON.parse(body); } catch { q = null; }
    if (!q || typeof q !== 'object') {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"bad JSON","type":"invalid_request_error"}}');
        return;
    }
    const chat = req.url.startsWith('/v1/chat/');
    const model = typeof q.model === 'string' ? q.model : 'bench';
    const want = Number.isInteger(q.max_tokens) && q.max_tokens > 0 ? Math.min(q.max_tokens, tokens) : tokens;
    const words = [];
    for (let i = 0; i < want; i++) words.push(WORDS[i % WORDS.length]);
    const usage = { prompt_tokens: 10, completion_tokens: want, total_tokens: 10 + want };
    const id = 'cmpl-bench';
    const created = Math.floor(Date.now() / 1000);
    if (!q.stream) {
        const text = words.join('');
        const choice = chat
            ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }
            : { index: 0, text, finish_reason: 'stop' };
        const out = JSON.stringify({ id, object: chat ? 'chat.completion' : 'text_completion',
                                     created, model, choices: [choice], usage });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
        res.end(out);
        return;
    }
    const object = chat ? 'chat.completion.chunk' : 'text_completion';
    const parts = [];
    const chunk = (choice) => parts.push('data: ' + JSON.stringify({ id, object, created, model, choices: [choice] }) + '\n\n');
    for (const w of words)
        chunk(chat ? { index: 0, delta: { content: w }, finish_reason: null } : { index: 0, text: w, finish_reason: null });
    chunk(chat ? { index: 0, delta: {}, finish_reason: 'stop' } : { index: 0, text: '', finish_reason: 'stop' });
    if (q.stream_options && q.stream_options.include_usage)
        parts.push('data: ' + JSON.stringify({ id, object, created, model, choices: [], usage }) + '\n\n');
    parts.push('data: [DONE]\n\n');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.end(parts.join(''));
}

const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"object":"list","data":[]}');
        return;
    }
    if (req.method !== 'POST') { res.writeHead(404); res.end(); return; }
    const parts = [];
    let size = 0;
    req.on('data', (d) => { size += d.length; if (size <= 1 << 20) parts.push(d); });
    req.on('end', () => answer(req, res, Buffer.concat(parts).toString()));
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
