//  libFuzzer target: gw_request_parse on a client's request body. The first
//  byte chooses the kind (bit 1: embeddings, else bit 0: chat or
//  completion); the rest is the body.
//  A parsed request is checked and rendered the way gw_req.c answers it
//  (completion body, first/text/final stream chunks, usage chunk with the
//  parsed model), then cleared.
#include "gw_openai.h"
#include "gw_assemble.h"
#include "mt_util.h"

#include <stdlib.h>
#include <string.h>

#define S_DEFAULT_MAX 256

static void
s_check_json (char *text, const char *model)
{
    //  Every rendered body must exist and be JSON carrying the model
    if (!text)
        abort ();
    json_error_t jerr;
    json_t *root = json_loads (text, 0, &jerr);
    const char *got = json_string_value (json_object_get (root, "model"));
    if (!got || strcmp (got, model))
        abort ();
    json_decref (root);
    free (text);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    gw_kind_t kind = (data [0] & 2)? GW_KIND_EMBEDDING:
                     (data [0] & 1)? GW_KIND_COMPLETION: GW_KIND_CHAT;
    //  An exact-size copy, not NUL-terminated, as the HTTP side hands it over
    size_t len = size - 1;
    char *body = (char *) malloc (len? len: 1);
    if (!body)
        abort ();
    memcpy (body, data + 1, len);

    gw_request_t req;
    gw_refusal_t why;
    if (gw_request_parse (kind, body, len, S_DEFAULT_MAX, &req, &why)) {
        //  A refusal names an error of the table and leaves nothing owned
        if (!why.error || !why.error->code || req.body || req.prompt)
            abort ();
        free (body);
        return 0;
    }
    if (!req.body || !req.prompt || !*req.model || strlen (req.model) >= sizeof req.model
    ||  req.kind != kind || req.n < 1 || req.n > GW_N_MAX)
        abort ();
    if (kind == GW_KIND_EMBEDDING) {
        //  Input tokens only, never streamed; the answer splices the items
        if (req.max_tokens != 0 || req.stream || req.prompt_tokens == 0)
            abort ();
        s_check_json (gw_openai_embeddings (req.model, "", 0, req.prompt_tokens), req.model);
        gw_request_clear (&req);
        free (body);
        return 0;
    }
    //  The estimate: the text, plus an allowance per non-text part
    uint32_t text_tokens = mt_tokens_count (req.prompt, strlen (req.prompt));
    if (req.max_tokens < 1 || req.max_tokens > GW_MAX_TOKENS_CAP
    ||  req.prompt_tokens < text_tokens || (req.prompt_tokens - text_tokens) % GW_PART_TOKENS)
        abort ();

    const char *id = "chatcmpl-0123456789abcdef";
    size_t plen = strlen (req.prompt);
    gw_assemble_t *whole = gw_assemble_new (kind);
    if (!whole)
        abort ();
    gw_assemble_text (whole, req.prompt, plen);
    s_check_json (gw_openai_whole (kind, id, req.model, 1700000000, "fp",
                                   gw_assemble_choices (whole, "stop"), req.prompt_tokens, 7), req.model);
    gw_assemble_destroy (&whole);
    s_check_json (gw_openai_chunk (kind, id, req.model, 1700000000, req.prompt, plen,
                                   true, NULL), req.model);
    s_check_json (gw_openai_chunk (kind, id, req.model, 1700000000, "x", 1, false, NULL),
                  req.model);
    s_check_json (gw_openai_chunk (kind, id, req.model, 1700000000, NULL, 0, false, "length"),
                  req.model);
    s_check_json (gw_openai_usage_chunk (kind, id, req.model, 1700000000,
                                         req.prompt_tokens, 7), req.model);
    const char *models [] = { req.model };
    char *list = gw_openai_models (models, 1, 1700000000);
    if (!list)
        abort ();
    free (list);

    gw_request_clear (&req);
    if (req.body || req.prompt)
        abort ();
    free (body);
    return 0;
}
