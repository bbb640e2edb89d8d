//  The openai backend: streaming requests to an OpenAI-compatible engine
//  (vLLM, TGI, Ollama, llama.cpp) over libcurl's multi interface, driven from
//  the worker's own zmq_poll loop (socket and timer callbacks, no thread).
//  Pure parts (wa_openai_parse.c): SSE lines, event JSON, the request body.
//  I/O (wa_openai.c): everything from wa_openai_new on.
#ifndef WA_OPENAI_H_INCLUDED
#define WA_OPENAI_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mt.pb-c.h"

typedef struct _wa_openai_t wa_openai_t;
typedef struct _wa_openai_req_t wa_openai_req_t;

//  One choice of one engine event, to forward as it came (a ChoiceDelta):
//  the choice object re-rendered compact, the engine's fields all kept.
typedef struct {
    uint32_t index;             //  the choice's "index" (embeddings: the item's)
    char *json;                 //  compact JSON object; owned
    size_t len;
    char finish_reason [32];    //  "" unless this delta ends its choice
    uint32_t tokens;            //  1 when it carries text, refusal or arguments, else 0
} wa_choice_t;

//  What one SSE "data:" payload of the engine said. Pure parse result.
typedef struct {
    char *content;              //  all text of the event's choices (content, refusal,
                                //  text, tool-call arguments); owned, or NULL when empty
    char finish_reason [32];    //  "" until the engine gives one
    bool has_usage;
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
    char *error;                //  {"error":{"message"}} in the stream; owned, or NULL
    char system_fingerprint [64];   //  "" when none
    wa_choice_t *choices;       //  every choice object of the event; owned array
    size_t nchoices;
} wa_openai_event_t;

//  Parse one SSE data payload (JSON text, not "[DONE]"). Returns 0, or -1 on
//  JSON that is not an object. Free the event's strings with
//  wa_openai_event_clear.
int wa_openai_parse_event (const char *data, size_t len, wa_openai_event_t *event);
void wa_openai_event_clear (wa_openai_event_t *event);

//  What the scan of a stream's last event found before its "choices": the
//  events of one stream mostly start with the same bytes (id, object,
//  created, model), and the scan of the next that does resumes at its
//  choices (a memcmp, not a walk of those members again). Zeroed: empty.
typedef struct {
    char prefix [256];          //  the last event's bytes up to "choices":
    size_t len;                 //  0: none kept
    int depth;                  //  the scan's state after them
    bool first;
    unsigned seen;
} wa_openai_scan_cache_t;

//  wa_openai_parse_event, with the scan resumed from cache (may be NULL)
//  when the event starts as the one before it did, and cache updated. The
//  result is the same as wa_openai_parse_event's for every input.
int wa_openai_parse_event_cached (const char *data, size_t len, wa_openai_event_t *event,
                                  wa_openai_scan_cache_t *cache);

//  Where wa_openai_parse_event_into puts an event's text and choices: the
//  caller's own buffers, appended to (grown as needed), kept from event to
//  event. Zeroed: empty. The caller frees text, choices and their json.
typedef struct {
    char *text;                 //  all text so far, NUL-terminated; NULL until some
    size_t text_len, text_cap;
    wa_choice_t *choices;       //  choices so far, their json owned
    size_t nchoices, capchoices;
} wa_openai_sink_t;

//  wa_openai_parse_event_cached, with the event's text and choices appended
//  to sink instead of given in event (its content and choices stay NULL):
//  no allocation per event but each choice's own JSON. On -1 the sink is as
//  it was.
int wa_openai_parse_event_into (const char *data, size_t len, wa_openai_event_t *event,
                                wa_openai_scan_cache_t *cache, wa_openai_sink_t *sink);

//  Parse an embeddings answer (a whole JSON body): each item of "data" as a
//  choice (index from the item, else its position), usage.prompt_tokens.
//  Returns 0, or -1 when the body is not an object with a "data" array.
int wa_openai_parse_embeddings (const char *data, size_t len, wa_openai_event_t *event);

//  The body to POST: request_json with "stream": true,
//  "stream_options": {"include_usage": true} and max_tokens capped at
//  max_tokens (> 0). Returns NULL (reason in err) when it is not a JSON
//  object. Caller owns; free().
char *wa_openai_body (const char *request_json, size_t len, uint32_t max_tokens,
                      char *err, size_t errsize);

//  The body to POST to /embeddings: request_json as it came (checked to be a
//  JSON object). Caller owns; free().
char *wa_openai_body_embeddings (const char *request_json, size_t len, char *err, size_t errsize);

//  One line of the engine's SSE stream (without its '\n'). A "data:" line
//  gives its payload in *data/*len (DATA), "[DONE]" is DONE; anything else
//  (blank, comment, event:, id:) is OTHER. A trailing '\r' is cut off in
//  place. Pure.
typedef enum { WA_OPENAI_LINE_OTHER, WA_OPENAI_LINE_DATA, WA_OPENAI_LINE_DONE } wa_openai_line_t;
wa_openai_line_t wa_openai_sse_line (char *line, size_t *len, const char **data);

//  Create the backend for engine_url ("http://host:port/v1").
//  Caller owns; destroy with wa_openai_destroy.
wa_openai_t *wa_openai_new (const char *engine_url);
void wa_openai_destroy (wa_openai_t **self_p);

//  Keep up to this many idle connections to the engine open for the next
//  requests (the worker's slots: it never runs more transfers at once).
//  libcurl's own cap (a multiple of the transfers running at the time it
//  looks) closed and opened again one connection every ten requests or so
//  under a steady 32 in flight.
void wa_openai_set_connections (wa_openai_t *self, uint32_t connections);

//  A transfer that receives no byte for stall_ms (rounded up to seconds)
//  ends with an error; 0 = never (the default). Call it before the first
//  request: easy handles are kept for reuse with the setting they were made with.
void wa_openai_set_stall (wa_openai_t *self, uint32_t stall_ms);

//  Start one streaming request. Returns NULL (reason in err) when the job
//  cannot be sent. Owned by the caller; free with wa_openai_req_destroy,
//  which also aborts it when still running.
wa_openai_req_t *wa_openai_start (wa_openai_t *self, const Mt__JobSpec *spec,
                                  char *err, size_t errsize);
void wa_openai_req_destroy (wa_openai_t *self, wa_openai_req_t **req_p);

//  Loop integration. wa_openai_pollitems appends the engine sockets to
//  items (at most max) and returns how many; wa_openai_timeout says how long
//  curl may wait (ms, -1 = no timer); wa_openai_dispatch runs curl on the
//  items that fired and on an expired timer.
size_t wa_openai_fds (wa_openai_t *self);
size_t wa_openai_pollitems (wa_openai_t *self, zmq_pollitem_t *items, size_t max);
int64_t wa_openai_timeout (wa_openai_t *self, uint64_t now_ms);
void wa_openai_dispatch (wa_openai_t *self, zmq_pollitem_t *items, size_t n, uint64_t now_ms);

//  Choices received since the last wa_openai_req_choices_clear, in order;
//  *count of them. Borrowed: valid until wa_openai_req_choices_clear, the
//  next wa_openai_dispatch or wa_openai_req_destroy.
wa_choice_t *wa_openai_req_choices (wa_openai_req_t *req, size_t *count);

//  Forget the choices wa_openai_req_choices gave (they were sent).
void wa_openai_req_choices_clear (wa_openai_req_t *req);

//  The engine's system_fingerprint, "" until it gave one. Borrowed.
const char *wa_openai_req_fingerprint (wa_openai_req_t *req);

//  True when the transfer ended (success or failure).
bool wa_openai_req_finished (wa_openai_req_t *req);

//  Outcome of a finished request. error is ERR_NONE on success.
typedef struct {
    Mt__ErrorCode error;
    const char *error_message;  //  borrowed from the request
    const char *finish_reason;  //  borrowed; "stop", "length", "tool_calls"... on success
    bool has_usage;             //  the engine's usage chunk came
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
    bool unreachable;           //  the engine could not be reached (connect failed)
    bool stalled;               //  the engine answered, then sent nothing for the stall time
} wa_openai_result_t;
void wa_openai_req_result (wa_openai_req_t *req, wa_openai_result_t *result);

//  All content text so far (borrowed), for counting tokens when the engine
//  gives no usage.
const char *wa_openai_req_text (wa_openai_req_t *req, size_t *len);

#endif
