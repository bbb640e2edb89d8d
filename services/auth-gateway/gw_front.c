//  auth-gateway: the front door (see gw_front.h). Every connection has a
//  record from libmicrohttpd's "started" to its "closed" notification, on at
//  most one deadline list: waiting for its headers, for its body, or idle
//  between requests. A request being answered (queued, running, streaming)
//  is on none: it is making progress, and its own request timeout applies.
#include "gw_front.h"
#include "gw_clients.h"
#include "gw_throttle.h"

#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

typedef enum { S_HEADER, S_BODY, S_BUSY, S_IDLE, S_CLOSING } s_state_t;

typedef struct _s_conn_t s_conn_t;

//  A deadline list: its members share one timeout, so they are in deadline
//  order and only the head needs looking at.
typedef struct {
    s_conn_t *head, *tail;
    uint64_t timeout_ms;
} s_list_t;

struct _s_conn_t {
    struct MHD_Connection *conn;
    int fd;
    char peer [GW_ADDR_MAX];        //  the TCP peer
    char client [GW_ADDR_MAX];      //  the current request's client ("" none yet)
    bool trusted;                   //  the peer is a trusted proxy
    bool peer_counted;              //  peer holds one in self->counts
    bool client_counted;            //  client holds one in self->counts
    bool reserve;                   //  accepted over max-connections
    s_state_t state;
    s_list_t *list;
    s_conn_t *prev, *next;
    uint64_t deadline;
};

struct _gw_front_t {
    size_t max;                     //  connections served normally
    size_t open;                    //  connections open now
    uint32_t per_client;            //  connections (or proxied requests) per address; 0 = any
    uint64_t longest_ms;            //  longest of the three timeouts
    gw_proxies_t *proxies;          //  trusted proxies, owned
    gw_counts_t *counts;            //  per client address, owned
    gw_throttle_t *throttle;        //  401s per client address, owned
    s_list_t header, body, idle;    //  deadline lists
    s_list_t reserve;               //  reserve connections, any phase
    uint64_t next_second;
    uint64_t refused_limit, refused_client, timed_out;     //  since the last log line
    mt_metric_t *m_open, *m_refused_limit, *m_refused_client, *m_throttled;
    mt_metric_t *m_timed_out [S_CLOSING];       //  by the state it was in
};

static const char *s_phase [S_CLOSING] = { "header", "body", "busy", "idle" };

//  --------------------------------------------------------------------------
//  Deadline lists

static void
s_list_remove (s_conn_t *c)
{
    s_list_t *list = c->list;
    if (!list)
        return;
    if (c->prev) c->prev->next = c->next; else list->head = c->next;
    if (c->next) c->next->prev = c->prev; else list->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = NULL;
}

static void
s_list_add (s_list_t *list, s_conn_t *c)
{
    s_list_remove (c);
    c->deadline = mt_mono_ms () + list->timeout_ms;
    c->prev = list->tail;
    c->next = NULL;
    if (list->tail) list->tail->next = c; else list->head = c;
    list->tail = c;
    c->list = list;
}

//  Move the connection to a state and onto the list that times it.
static void
s_enter (gw_front_t *self, s_conn_t *c, s_state_t state)
{
    c->state = state;
    if (state == S_BUSY || state == S_CLOSING) {
        s_list_remove (c);
        return;
    }
    if (c->reserve)
        s_list_add (&self->reserve, c);
    else
        s_list_add (state == S_HEADER? &self->header: state == S_BODY? &self->body: &self->idle, c);
}

static void
s_list_init (s_list_t *list, int timeout_ms)
{
    memset (list, 0, sizeof *list);
    list->timeout_ms = (uint64_t) timeout_ms;
}

//  --------------------------------------------------------------------------
//  Set-up

static void
s_metrics_init (gw_front_t *self)
{
    for (int i = S_HEADER; i < S_CLOSING; i++) {
        if (i == S_BUSY)
            continue;               //  never timed here
        char name [96];
        snprintf (name, sizeof name, "mt_gw_connections_timed_out_total{phase=\"%s\"}", s_phase [i]);
        self->m_timed_out [i] = mt_metric_counter (name, "connections closed for not making progress");
    }
    self->m_open = mt_metric_gauge ("mt_gw_connections_open", "HTTP connections open");
    self->m_refused_limit = mt_metric_counter ("mt_gw_connections_refused_total{reason=\"limit\"}",
                                               "connections or requests refused at once");
    self->m_refused_client = mt_metric_counter ("mt_gw_connections_refused_total{reason=\"per_client\"}",
                                                "connections or requests refused at once");
    self->m_throttled = mt_metric_counter ("mt_gw_auth_throttled_total",
                                           "requests without a valid key answered 429 (too many 401s)");
}

gw_front_t *
gw_front_new (const gw_server_config_t *config)
{
    char err [200];
    gw_proxies_t *proxies = gw_proxies_new (config->trusted_proxies, err, sizeof err);
    if (!proxies) {
        mt_log ("config-error option=trusted-proxies reason=\"%s\"", err);
        return NULL;
    }
    gw_front_t *self = calloc (1, sizeof *self);
    if (!self) {
        gw_proxies_destroy (&proxies);
        return NULL;
    }
    self->proxies = proxies;
    self->counts = gw_counts_new ();
    self->throttle = gw_throttle_new ((uint32_t) config->auth_fail_burst,
                                      (uint32_t) config->auth_fail_interval_ms, GW_FRONT_THROTTLE_KEYS);
    if (!self->counts || !self->throttle) {
        gw_front_destroy (&self);
        return NULL;
    }
    self->per_client = (uint32_t) config->max_per_client;
    self->max = (size_t) config->max_connections;
    //  Every connection is a file: leave room for the reserve and the rest
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t room = rl.rlim_cur > GW_FRONT_FD_SPARE + 2 * GW_FRONT_RESERVE + 16
                    ? (size_t) rl.rlim_cur - GW_FRONT_FD_SPARE - 2 * GW_FRONT_RESERVE: 16;
        if (self->max > room) {
            mt_log ("config-clamped option=max-connections value=%zu asked=%zu "
                    "reason=\"open files limit %llu\"", room, self->max,
                    (unsigned long long) rl.rlim_cur);
            self->max = room;
        }
    }
    s_list_init (&self->header, config->header_timeout_ms);
    s_list_init (&self->body, config->body_timeout_ms);
    s_list_init (&self->idle, config->idle_timeout_ms);
    s_list_init (&self->reserve, config->header_timeout_ms < GW_FRONT_RESERVE_MS
                                 ? config->header_timeout_ms: GW_FRONT_RESERVE_MS);
    self->longest_ms = (uint64_t) config->header_timeout_ms;
    if ((uint64_t) config->body_timeout_ms > self->longest_ms)
        self->longest_ms = (uint64_t) config->body_timeout_ms;
    if ((uint64_t) config->idle_timeout_ms > self->longest_ms)
        self->longest_ms = (uint64_t) config->idle_timeout_ms;
    s_metrics_init (self);
    mt_log ("front-door max-connections=%zu reserve=%d per-client=%u header-timeout-ms=%d "
            "body-timeout-ms=%d idle-timeout-ms=%d trusted-proxies=%zu", self->max,
            GW_FRONT_RESERVE, self->per_client, config->header_timeout_ms,
            config->body_timeout_ms, config->idle_timeout_ms, gw_proxies_size (self->proxies));
    return self;
}

void
gw_front_destroy (gw_front_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_front_t *self = *self_p;
    gw_proxies_destroy (&self->proxies);
    gw_counts_destroy (&self->counts);
    gw_throttle_destroy (&self->throttle);
    free (self);
    *self_p = NULL;
}

unsigned int
gw_front_mhd_limit (gw_front_t *self)
{
    return (unsigned int) (self->max + 2 * GW_FRONT_RESERVE + 1);
}

unsigned int
gw_front_mhd_timeout (gw_front_t *self)
{
    return (unsigned int) ((self->longest_ms + 999) / 1000 + 1);
}

//  --------------------------------------------------------------------------
//  libmicrohttpd callbacks

static void
s_addr_text (const struct sockaddr *addr, char *out, size_t size)
{
    *out = 0;
    if (!addr)
        return;
    if (addr->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *) addr)->sin_addr, out, (socklen_t) size);
    else
    if (addr->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) addr)->sin6_addr, out, (socklen_t) size);
}

//  End a connection now: shutdown(2), not close, so the socket stays
//  libmicrohttpd's, which sees end of file and closes it the usual way
//  (completion callbacks included) on its next run.
static void
s_end (gw_front_t *self, s_conn_t *c)
{
    s_enter (self, c, S_CLOSING);
    if (c->fd >= 0)
        shutdown (c->fd, SHUT_RDWR);
}

enum MHD_Result
gw_front_accept (void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void) addrlen;
    gw_front_t *self = cls;
    if (self->open >= self->max + GW_FRONT_RESERVE) {
        //  The reserve is full. Its oldest connection still waiting for a
        //  request makes room: a probe sends its request at once, so a
        //  flood of silent connections cannot keep it out. Ended
        //  connections close on the next run, so at most a second reserve
        //  is open for a moment.
        s_conn_t *oldest = self->reserve.head;
        if (!oldest || self->open >= self->max + 2 * GW_FRONT_RESERVE) {
            mt_metric_add (self->m_refused_limit, 1);
            self->refused_limit++;
            return MHD_NO;          //  closed at once, never queued
        }
        s_end (self, oldest);
        mt_metric_add (self->m_refused_limit, 1);
        self->refused_limit++;
    }
    if (self->per_client) {
        char peer [GW_ADDR_MAX];
        s_addr_text (addr, peer, sizeof peer);
        if (*peer && !gw_proxies_trusted (self->proxies, peer)
        &&  gw_counts_get (self->counts, peer) >= self->per_client) {
            mt_metric_add (self->m_refused_client, 1);
            self->refused_client++;
            return MHD_NO;
        }
    }
    return MHD_YES;
}

static void
s_release_client (gw_front_t *self, s_conn_t *c)
{
    if (c->client_counted)
        gw_counts_give (self->counts, c->client);
    c->client_counted = false;
    *c->client = 0;
}

void
gw_front_notify (void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode code)
{
    gw_front_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        s_conn_t *c = calloc (1, sizeof *c);
        if (!c)
            return;                 //  untracked: libmicrohttpd's timeout still applies
        c->conn = conn;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci? ci->connect_fd: -1;
        ci = MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        s_addr_text (ci? ci->client_addr: NULL, c->peer, sizeof c->peer);
        c->trusted = gw_proxies_trusted (self->proxies, c->peer);
        if (!c->trusted && *c->peer)
            c->peer_counted = gw_counts_take (self->counts, c->peer, 0);
        c->reserve = self->open >= self->max;
        self->open++;
        mt_metric_set (self->m_open, (int64_t) self->open);
        s_enter (self, c, S_HEADER);
        *socket_context = c;
        return;
    }
    s_conn_t *c = *socket_context;
    if (!c)
        return;
    *socket_context = NULL;
    s_list_remove (c);
    s_release_client (self, c);
    if (c->peer_counted)
        gw_counts_give (self->counts, c->peer);
    free (c);
    self->open--;
    mt_metric_set (self->m_open, (int64_t) self->open);
}

static s_conn_t *
s_conn (struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info (conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci? (s_conn_t *) ci->socket_context: NULL;
}

//  Every X-Forwarded-For header of the request, joined with ','.
typedef struct { FILE *f; bool any; } s_xff_t;

static enum MHD_Result
s_xff_item (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    s_xff_t *x = cls;
    if (key && value && !strcasecmp (key, "X-Forwarded-For")) {
        fprintf (x->f, "%s%s", x->any? ",": "", value);
        x->any = true;
    }
    return MHD_YES;
}

//  Sets c->client for a request from a trusted proxy.
static void
s_proxied_client (gw_front_t *self, s_conn_t *c)
{
    char *buf = NULL;
    size_t size = 0;
    s_xff_t x = { open_memstream (&buf, &size), false };
    if (x.f) {
        MHD_get_connection_values (c->conn, MHD_HEADER_KIND, s_xff_item, &x);
        fclose (x.f);
    }
    gw_client_address (self->proxies, c->peer, x.any? buf: NULL, c->client, sizeof c->client);
    free (buf);
}

const mt_error_t *
gw_front_on_headers (gw_front_t *self, struct MHD_Connection *conn, bool probe,
                     uint32_t *retry_after)
{
    s_conn_t *c = s_conn (conn);
    if (!c)
        return NULL;
    s_release_client (self, c);
    if (c->reserve && !probe) {
        mt_metric_add (self->m_refused_limit, 1);
        self->refused_limit++;
        s_enter (self, c, S_BUSY);
        *retry_after = 1;
        return mt_error_lookup ("server_busy");
    }
    if (c->trusted) {
        s_proxied_client (self, c);
        //  A proxy's own requests (no usable X-Forwarded-For) are not capped
        if (self->per_client && !gw_proxies_trusted (self->proxies, c->client)) {
            if (!gw_counts_take (self->counts, c->client, self->per_client)) {
                mt_metric_add (self->m_refused_client, 1);
                self->refused_client++;
                s_enter (self, c, S_BODY);      //  answered once its body is in
                *retry_after = 1;
                return mt_error_lookup ("too_many_connections");
            }
            c->client_counted = true;
        }
    }
    else
        snprintf (c->client, sizeof c->client, "%s", c->peer);
    s_enter (self, c, S_BODY);
    return NULL;
}

void
gw_front_on_body (gw_front_t *self, struct MHD_Connection *conn)
{
    s_conn_t *c = s_conn (conn);
    if (c && c->state != S_CLOSING)
        s_enter (self, c, S_BUSY);
}

void
gw_front_on_completed (gw_front_t *self, struct MHD_Connection *conn)
{
    s_conn_t *c = s_conn (conn);
    if (!c)
        return;
    s_release_client (self, c);
    if (c->state != S_CLOSING)
        s_enter (self, c, S_IDLE);
}

bool
gw_front_auth_failed (gw_front_t *self, struct MHD_Connection *conn, uint32_t *retry_after)
{
    s_conn_t *c = s_conn (conn);
    if (!c || !*c->client || gw_proxies_trusted (self->proxies, c->client))
        return false;
    uint64_t now = mt_mono_ms ();
    uint64_t retry_ms;
    if (gw_throttle_allow (self->throttle, c->client, now, &retry_ms)) {
        gw_throttle_fail (self->throttle, c->client, now);
        return false;
    }
    mt_metric_add (self->m_throttled, 1);
    *retry_after = (uint32_t) ((retry_ms + 999) / 1000);
    if (*retry_after == 0)
        *retry_after = 1;
    return true;
}

//  --------------------------------------------------------------------------
//  Deadlines

//  End every connection of the list past its deadline.
static void
s_expire (gw_front_t *self, s_list_t *list, uint64_t now)
{
    while (list->head && list->head->deadline <= now) {
        s_conn_t *c = list->head;
        s_state_t was = c->state;
        s_end (self, c);
        if (self->m_timed_out [was])
            mt_metric_add (self->m_timed_out [was], 1);
        self->timed_out++;
        mt_debug ("connection-timeout phase=%s peer=%s reserve=%d", s_phase [was], c->peer,
                  c->reserve);
    }
}

void
gw_front_tick (gw_front_t *self, uint64_t now)
{
    s_expire (self, &self->header, now);
    s_expire (self, &self->body, now);
    s_expire (self, &self->idle, now);
    s_expire (self, &self->reserve, now);
    if (now < self->next_second)
        return;
    self->next_second = now + 1000;
    gw_throttle_sweep (self->throttle, mt_mono_ms ());
    if (self->refused_limit || self->refused_client || self->timed_out)
        mt_log ("front-door open=%zu refused-limit=%llu refused-per-client=%llu timed-out=%llu "
                "(last second)", self->open, (unsigned long long) self->refused_limit,
                (unsigned long long) self->refused_client, (unsigned long long) self->timed_out);
    self->refused_limit = self->refused_client = self->timed_out = 0;
}
