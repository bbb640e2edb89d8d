//  Server-sent events framing: an output buffer of "data: ...\n\n" events
//  that a content-reader callback drains. Pure.
#ifndef GW_SSE_H_INCLUDED
#define GW_SSE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _gw_sse_t gw_sse_t;

//  Caller owns; destroy with gw_sse_destroy.
gw_sse_t *gw_sse_new (void);
void gw_sse_destroy (gw_sse_t **self_p);

//  Append one event "data: <data>\n\n". data must hold no newline (compact
//  JSON never does). Returns 0 or -1.
int gw_sse_event (gw_sse_t *self, const char *data, size_t len);
//  Append one event of three parts, "data: <head><body><tail>\n\n", so a
//  JSON value can be spliced in without copying it first. Refuses (-1)
//  parts that hold a newline.
int gw_sse_event_splice (gw_sse_t *self, const char *head, size_t hlen, const char *body,
                         size_t blen, const char *tail, size_t tlen);
//  Append "data: [DONE]\n\n" and mark the stream complete.
int gw_sse_done (gw_sse_t *self);
//  Append a comment line ": <text>\n\n" (keep-alive).
int gw_sse_comment (gw_sse_t *self, const char *text);

//  Copy up to max pending bytes into dst; returns how many.
size_t gw_sse_read (gw_sse_t *self, char *dst, size_t max);
size_t gw_sse_pending (gw_sse_t *self);
//  True once [DONE] was appended and everything was read.
bool gw_sse_finished (gw_sse_t *self);
bool gw_sse_closed (gw_sse_t *self);

#endif
