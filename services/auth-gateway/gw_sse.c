//  SSE output buffer.
#include "gw_sse.h"
#include "mt_buf.h"

#include <stdlib.h>
#include <string.h>

struct _gw_sse_t {
    char *data;                 //  buffer, owned
    size_t size;                //  allocated
    size_t head;                //  next byte to read
    size_t tail;                //  next byte to write
    bool closed;                //  [DONE] appended
};

gw_sse_t *
gw_sse_new (void)
{
    return calloc (1, sizeof (gw_sse_t));
}

void
gw_sse_destroy (gw_sse_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->data);
        free (*self_p);
        *self_p = NULL;
    }
}

static int
s_append5 (gw_sse_t *self, const char *a, size_t alen, const char *b, size_t blen,
           const char *c, size_t clen, const char *d, size_t dlen, const char *e, size_t elen)
{
    size_t need = alen + blen + clen + dlen + elen;
    if (self->head == self->tail)
        self->head = self->tail = 0;
    if (self->tail + need > self->size) {
        //  compact first, then grow
        if (self->head) {
            memmove (self->data, self->data + self->head, self->tail - self->head);
            self->tail -= self->head;
            self->head = 0;
        }
        if (mt_buf_reserve (&self->data, &self->size, self->tail + need))
            return -1;
    }
    char *at = self->data + self->tail;
    memcpy (at, a, alen);
    memcpy (at += alen, b, blen);
    memcpy (at += blen, c, clen);
    memcpy (at += clen, d, dlen);
    memcpy (at += dlen, e, elen);
    self->tail += need;
    return 0;
}

static int
s_append (gw_sse_t *self, const char *a, size_t alen, const char *b, size_t blen,
          const char *c, size_t clen)
{
    return s_append5 (self, a, alen, b, blen, c, clen, "", 0, "", 0);
}

int
gw_sse_event_splice (gw_sse_t *self, const char *head, size_t hlen, const char *body,
                     size_t blen, const char *tail, size_t tlen)
{
    if (self->closed)
        return -1;
    if (memchr (head, '\n', hlen) || memchr (body, '\n', blen) || memchr (tail, '\n', tlen))
        return -1;              //  would end the event early
    return s_append5 (self, "data: ", 6, head, hlen, body, blen, tail, tlen, "\n\n", 2);
}

int
gw_sse_event (gw_sse_t *self, const char *data, size_t len)
{
    if (self->closed)
        return -1;
    return s_append (self, "data: ", 6, data, len, "\n\n", 2);
}

int
gw_sse_done (gw_sse_t *self)
{
    if (self->closed)
        return -1;
    int rc = s_append (self, "data: [DONE]\n\n", 14, "", 0, "", 0);
    self->closed = true;
    return rc;
}

int
gw_sse_comment (gw_sse_t *self, const char *text)
{
    if (self->closed)
        return -1;
    return s_append (self, ": ", 2, text, strlen (text), "\n\n", 2);
}

size_t
gw_sse_read (gw_sse_t *self, char *dst, size_t max)
{
    size_t n = self->tail - self->head;
    if (n > max)
        n = max;
    if (n == 0)
        return 0;
    memcpy (dst, self->data + self->head, n);
    self->head += n;
    return n;
}

size_t
gw_sse_pending (gw_sse_t *self)
{
    return self->tail - self->head;
}

bool
gw_sse_finished (gw_sse_t *self)
{
    return self->closed && self->head == self->tail;
}

bool
gw_sse_closed (gw_sse_t *self)
{
    return self->closed;
}
