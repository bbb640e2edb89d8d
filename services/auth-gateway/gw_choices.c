//  auth-gateway: what a worker sends beyond plain text (ChoiceDelta: tool
//  calls, refusal, logprobs, n > 1 choices, embeddings items), relayed to
//  the client: spliced unparsed into stream chunks, or folded into one whole
//  answer (gw_assemble).
#include "gw_req.h"

#include "mt_log.h"
#include "mt_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Whole choice deltas: spliced into a stream chunk each, unparsed; folded
//  into the whole answer (non-stream); embeddings items kept as they came.
uint32_t
gw_req_relay_choices (gw_req_t *req, Mt__TokenChunk *chunk)
{
    if (*chunk->system_fingerprint && !*req->fingerprint && !req->chunk_head)
        snprintf (req->fingerprint, sizeof req->fingerprint, "%s", chunk->system_fingerprint);
    if (!chunk->n_choices)
        return 0;
    uint32_t tokens = 0;
    for (size_t i = 0; i < chunk->n_choices; i++) {
        tokens += chunk->choices [i]->tokens;
        if (*chunk->choices [i]->finish_reason)
            req->engine_finished = true;
    }
    req->relayed += tokens;
    if (req->parsed.kind == GW_KIND_EMBEDDING) {
        for (size_t i = 0; i < chunk->n_choices; i++) {
            Mt__ChoiceDelta *c = chunk->choices [i];
            if (!c->json.len)
                continue;
            if (req->text_len)
                gw_req_text_append (req, ",", 1);
            gw_req_text_append (req, (const char *) c->json.data, c->json.len);
        }
        return tokens;
    }
    if (!req->parsed.stream) {
        if (!req->assembly)
            req->assembly = gw_assemble_new (req->parsed.kind);
        for (size_t i = 0; i < chunk->n_choices && req->assembly; i++)
            if (gw_assemble_choice (req->assembly, (const char *) chunk->choices [i]->json.data,
                                    chunk->choices [i]->json.len))
                mt_debug ("choice-unreadable req=%s tenant=%s", req->id, req->tenant_id);
        return tokens;
    }
    //  The same head for every chunk of the stream: built once
    if (!req->chunk_head)
        req->chunk_head = gw_openai_chunk_prefix (req->parsed.kind, req->id, req->parsed.model,
                                                  req->created_s, req->fingerprint);
    const char *head = req->chunk_head;
    if (!head)
        return tokens;
    size_t hlen = strlen (head);
    for (size_t i = 0; i < chunk->n_choices; i++) {
        Mt__ChoiceDelta *c = chunk->choices [i];
        if (c->json.len && gw_sse_event_splice (req->sse, head, hlen, (const char *) c->json.data,
                                                c->json.len, "]}", 2))
            mt_debug ("choice-dropped req=%s tenant=%s", req->id, req->tenant_id);
    }
    req->sent_first = true;
    req->last_write_mono = mt_mono_ms ();
    gw_req_resume (req);
    return tokens;
}

void
gw_req_assemble_pieces (gw_req_t *req, Mt__TokenChunk *chunk)
{
    if (!req->assembly)
        req->assembly = gw_assemble_new (req->parsed.kind);
    for (size_t i = 0; i < chunk->n_pieces && req->assembly; i++)
        gw_assemble_text (req->assembly, chunk->pieces [i], strlen (chunk->pieces [i]));
}

char *
gw_req_whole_body (gw_req_t *req, const char *finish, uint32_t prompt_tokens,
                   uint32_t completion_tokens)
{
    if (req->parsed.kind == GW_KIND_EMBEDDING)
        return gw_openai_embeddings (req->parsed.model, req->text, req->text_len, prompt_tokens);
    if (!req->assembly)
        req->assembly = gw_assemble_new (req->parsed.kind);
    json_t *choices = req->assembly? gw_assemble_choices (req->assembly, finish): NULL;
    gw_assemble_destroy (&req->assembly);
    if (!choices)
        return NULL;
    return gw_openai_whole (req->parsed.kind, req->id, req->parsed.model, req->created_s,
                            req->fingerprint, choices, prompt_tokens, completion_tokens);
}
