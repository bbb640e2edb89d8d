//  auth-gateway: trusted proxies, X-Forwarded-For, counts per address. Pure.
#include "gw_clients.h"

#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  One trusted block: an address (IPv4 mapped into IPv6) and a prefix length
typedef struct {
    uint8_t addr [16];
    int bits;                   //  0..128 over the 16 bytes
} s_block_t;

struct _gw_proxies_t {
    s_block_t *blocks;          //  owned
    size_t count;
};

//  Text to 16 bytes (IPv4 as ::ffff:a.b.c.d). Returns true on success.
static bool
s_parse_addr (const char *text, uint8_t out [16], bool *v4)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton (AF_INET, text, &a4) == 1) {
        memset (out, 0, 10);
        out [10] = out [11] = 0xff;
        memcpy (out + 12, &a4, 4);
        *v4 = true;
        return true;
    }
    if (inet_pton (AF_INET6, text, &a6) == 1) {
        memcpy (out, &a6, 16);
        *v4 = false;
        return true;
    }
    return false;
}

static bool
s_in_block (const s_block_t *b, const uint8_t a [16])
{
    int full = b->bits / 8, rest = b->bits % 8;
    if (memcmp (b->addr, a, (size_t) full))
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t) (0xff << (8 - rest));
    return (b->addr [full] & mask) == (a [full] & mask);
}

//  Copy the entry [start, end) trimmed of blanks into buf. Returns its length.
static size_t
s_trimmed (const char *start, const char *end, char *buf, size_t size)
{
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end [-1] == ' ' || end [-1] == '\t'))
        end--;
    size_t n = (size_t) (end - start);
    if (n >= size)
        n = size - 1;
    memcpy (buf, start, n);
    buf [n] = 0;
    return n;
}

gw_proxies_t *
gw_proxies_new (const char *spec, char *err, size_t err_size)
{
    gw_proxies_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (err && err_size)
        *err = 0;
    size_t cap = 1;
    for (const char *c = spec? spec: ""; *c; c++)
        cap += *c == ',';
    self->blocks = calloc (cap, sizeof *self->blocks);
    if (!self->blocks) {
        free (self);
        return NULL;
    }
    const char *p = spec? spec: "";
    while (*p) {
        const char *end = strchr (p, ',');
        if (!end)
            end = p + strlen (p);
        char entry [GW_ADDR_MAX + 8];
        size_t n = s_trimmed (p, end, entry, sizeof entry);
        p = *end? end + 1: end;
        if (n == 0)
            continue;
        char *slash = strchr (entry, '/');
        int bits = -1;
        if (slash) {
            *slash = 0;
            char *stop;
            long v = strtol (slash + 1, &stop, 10);
            bits = (*stop || slash [1] == 0)? -2: (int) v;
        }
        s_block_t *b = &self->blocks [self->count];
        bool v4;
        if (!s_parse_addr (entry, b->addr, &v4) || bits < -1 || bits > (v4? 32: 128)) {
            if (err && err_size)
                snprintf (err, err_size, "not an address or CIDR block: %s%s%s", entry,
                          slash? "/": "", slash? slash + 1: "");
            gw_proxies_destroy (&self);
            return NULL;
        }
        b->bits = bits < 0? 128: v4? 96 + bits: bits;
        self->count++;
    }
    return self;
}

void
gw_proxies_destroy (gw_proxies_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->blocks);
    free (*self_p);
    *self_p = NULL;
}

size_t
gw_proxies_size (const gw_proxies_t *self)
{
    return self? self->count: 0;
}

bool
gw_proxies_trusted (const gw_proxies_t *self, const char *addr)
{
    if (!self || !self->count || !addr)
        return false;
    uint8_t a [16];
    bool v4;
    if (!s_parse_addr (addr, a, &v4))
        return false;
    for (size_t i = 0; i < self->count; i++)
        if (s_in_block (&self->blocks [i], a))
            return true;
    return false;
}

//  The canonical text of an address given as text; false when not one.
static bool
s_canonical (const char *text, char *out, size_t size)
{
    uint8_t a [16];
    bool v4;
    if (!s_parse_addr (text, a, &v4))
        return false;
    if (v4)
        return inet_ntop (AF_INET, a + 12, out, (socklen_t) size) != NULL;
    return inet_ntop (AF_INET6, a, out, (socklen_t) size) != NULL;
}

void
gw_client_address (const gw_proxies_t *self, const char *peer, const char *xff,
                   char *out, size_t out_size)
{
    assert (peer && out && out_size);
    snprintf (out, out_size, "%s", peer);
    if (!xff || !gw_proxies_trusted (self, peer))
        return;
    //  Walk from the right: each trusted hop vouches for the one before it
    const char *end = xff + strlen (xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start [-1] != ',')
            start--;
        char entry [GW_ADDR_MAX + 8];
        char canon [GW_ADDR_MAX];
        s_trimmed (start, end, entry, sizeof entry);
        if (!s_canonical (entry, canon, sizeof canon))
            return;             //  not an address: keep the last good one
        snprintf (out, out_size, "%s", canon);
        if (!gw_proxies_trusted (self, canon))
            return;
        end = start > xff? start - 1: start;
    }
}

//  --------------------------------------------------------------------------
//  Counts per address

struct _gw_counts_t {
    zhashx_t *counts;           //  address -> uint32_t, owned
};

static void
s_free (void **item)
{
    free (*item);
    *item = NULL;
}

gw_counts_t *
gw_counts_new (void)
{
    gw_counts_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->counts = zhashx_new ();
    if (!self->counts) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->counts, s_free);
    return self;
}

void
gw_counts_destroy (gw_counts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->counts);
    free (*self_p);
    *self_p = NULL;
}

bool
gw_counts_take (gw_counts_t *self, const char *addr, uint32_t cap)
{
    assert (self && addr);
    uint32_t *n = zhashx_lookup (self->counts, addr);
    if (n && cap && *n >= cap)
        return false;
    if (!n) {
        n = calloc (1, sizeof *n);
        if (!n)
            return false;
        zhashx_insert (self->counts, addr, n);
    }
    (*n)++;
    return true;
}

void
gw_counts_give (gw_counts_t *self, const char *addr)
{
    assert (self && addr);
    uint32_t *n = zhashx_lookup (self->counts, addr);
    if (!n)
        return;
    if (--*n == 0)
        zhashx_delete (self->counts, addr);
}

uint32_t
gw_counts_get (gw_counts_t *self, const char *addr)
{
    assert (self && addr);
    uint32_t *n = zhashx_lookup (self->counts, addr);
    return n? *n: 0;
}

size_t
gw_counts_size (gw_counts_t *self)
{
    assert (self);
    return zhashx_size (self->counts);
}
