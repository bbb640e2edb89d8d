//  OpenAI JSON mapping: request validation and flattening, and the response
//  bodies and stream chunks. Pure: no I/O, no clock of its own.
#ifndef GW_OPENAI_H_INCLUDED
#define GW_OPENAI_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mt_errors.h"

typedef enum { GW_KIND_CHAT = 0, GW_KIND_COMPLETION = 1, GW_KIND_EMBEDDING = 2 } gw_kind_t;

#define GW_MAX_TOKENS_CAP 1000000   //  largest max_tokens accepted
#define GW_N_MAX 128                //  largest n accepted (OpenAI's)
#define GW_PART_TOKENS 85           //  prompt estimate of one non-text content part (an
                                    //  image at low detail in OpenAI's count); the engine's
                                    //  count is what is billed
#define GW_EMBED_INPUTS_MAX 2048    //  inputs of one embeddings request

//  A validated inference request.
typedef struct {
    gw_kind_t kind;
    json_t *body;               //  the parsed body, owned
    char model [128];
    char *prompt;               //  flattened prompt text, owned (malloc)
    uint32_t prompt_tokens;     //  mt_tokens_count (prompt)
    uint32_t max_tokens;        //  asked for, or the default (each choice; 0 for embeddings)
    uint32_t n;                 //  choices asked for, >= 1
    bool stream;
    bool include_usage;         //  stream_options.include_usage
} gw_request_t;

//  Why a body was refused: an error of the table, a message and the param.
typedef struct {
    const mt_error_t *error;
    char message [256];
    char param [64];            //  "" = null
} gw_refusal_t;

//  Parse and validate a request body. default_max_tokens applies when the
//  body has none. Returns 0 and fills req (free with gw_request_clear), or -1
//  and fills why.
int gw_request_parse (gw_kind_t kind, const char *body, size_t len, uint32_t default_max_tokens,
                      gw_request_t *req, gw_refusal_t *why);
void gw_request_clear (gw_request_t *req);

//  The start of a stream chunk, up to and including the "[" of its choices:
//  {"id","object","created","model"[,"system_fingerprint"],"choices":[
//  A choice object and "]}" complete it. Caller owns; free().
char *gw_openai_chunk_prefix (gw_kind_t kind, const char *id, const char *model,
                              uint64_t created, const char *fingerprint);
//  A whole answer from assembled choices (takes the reference to choices);
//  fingerprint "" or NULL: none. Caller owns; free().
char *gw_openai_whole (gw_kind_t kind, const char *id, const char *model, uint64_t created,
                       const char *fingerprint, json_t *choices, uint32_t prompt_tokens,
                       uint32_t completion_tokens);
//  The embeddings answer: items is the comma-separated "data" items as the
//  worker sent them, spliced in unparsed. Caller owns; free().
char *gw_openai_embeddings (const char *model, const char *items, size_t len,
                            uint32_t prompt_tokens);

//  Response bodies. Caller owns the returned text; free().
//  One stream chunk carrying text (first = also role for chat), or, with
//  text NULL, the final chunk carrying finish_reason.
char *gw_openai_chunk (gw_kind_t kind, const char *id, const char *model, uint64_t created,
                       const char *text, size_t text_len, bool first, const char *finish_reason);
//  The usage chunk of stream_options.include_usage: choices [] and usage.
char *gw_openai_usage_chunk (gw_kind_t kind, const char *id, const char *model, uint64_t created,
                             uint32_t prompt_tokens, uint32_t completion_tokens);
//  GET /v1/models body for a list of model names; GET /v1/models/{model}.
char *gw_openai_models (const char *const *models, size_t count, uint64_t created);
char *gw_openai_model (const char *model, uint64_t created);

//  A duration the way OpenAI's x-ratelimit-reset-* headers write it:
//  "12ms", "1s", "1.5s", "6m0s", "1h2m3s".
void gw_openai_duration (uint64_t ms, char *out, size_t size);

#endif
