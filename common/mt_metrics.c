//  Metric registry and /metrics, /healthz server.
#include "mt_metrics.h"
#include "mt_log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_METRICS 256
#define S_BUCKETS 12

//  Bucket bounds in seconds (Prometheus base units); observations come in ms.
static const double s_bounds [S_BUCKETS] = {
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};

struct _mt_metric_t {
    mt_metric_kind_t kind;
    char name [160];            //  with labels, if any
    char help [160];
    _Atomic int64_t value;      //  counter/gauge value; histogram count
    _Atomic int64_t sum_us;     //  histogram: sum in microseconds
    _Atomic int64_t buckets [S_BUCKETS];
};

static mt_metric_t s_metrics [S_MAX_METRICS];
static _Atomic int s_count = 0;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *s_daemon = NULL;
static mt_health_fn *s_health = NULL;
static mt_health_fn *_Atomic s_ready;     //  NULL (static); clang refuses NULL as an _Atomic initializer

static mt_metric_t *
s_register (mt_metric_kind_t kind, const char *name, const char *help)
{
    pthread_mutex_lock (&s_lock);
    mt_metric_t *m = NULL;
    int n = atomic_load (&s_count);
    for (int i = 0; i < n; i++)
        if (!strcmp (s_metrics [i].name, name)) {
            m = &s_metrics [i];
            break;
        }
    if (!m && n < S_MAX_METRICS) {
        m = &s_metrics [n];
        m->kind = kind;
        snprintf (m->name, sizeof m->name, "%s", name);
        snprintf (m->help, sizeof m->help, "%s", help? help: "");
        atomic_store (&s_count, n + 1);
    }
    pthread_mutex_unlock (&s_lock);
    if (!m) {
        static mt_metric_t overflow;   //  registry full: count into a sink
        return &overflow;
    }
    return m;
}

mt_metric_t *
mt_metric_counter (const char *name, const char *help)
{
    return s_register (MT_METRIC_COUNTER, name, help);
}

mt_metric_t *
mt_metric_gauge (const char *name, const char *help)
{
    return s_register (MT_METRIC_GAUGE, name, help);
}

mt_metric_t *
mt_metric_histogram (const char *name, const char *help)
{
    return s_register (MT_METRIC_HISTOGRAM, name, help);
}

void
mt_metric_add (mt_metric_t *m, int64_t delta)
{
    atomic_fetch_add_explicit (&m->value, delta, memory_order_relaxed);
}

void
mt_metric_set (mt_metric_t *m, int64_t value)
{
    atomic_store_explicit (&m->value, value, memory_order_relaxed);
}

int64_t
mt_metric_value (mt_metric_t *m)
{
    return atomic_load_explicit (&m->value, memory_order_relaxed);
}

void
mt_metric_observe (mt_metric_t *m, double ms)
{
    for (int i = 0; i < S_BUCKETS; i++)
        if (ms / 1000.0 <= s_bounds [i]) {
            atomic_fetch_add_explicit (&m->buckets [i], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit (&m->sum_us, (int64_t) (ms * 1000.0), memory_order_relaxed);
    atomic_fetch_add_explicit (&m->value, 1, memory_order_relaxed);
}

//  Base name without labels, and the label text without braces.
static void
s_split (const char *name, char *base, size_t bsize, const char **labels)
{
    const char *brace = strchr (name, '{');
    size_t len = brace? (size_t) (brace - name): strlen (name);
    if (len >= bsize)
        len = bsize - 1;
    memcpy (base, name, len);
    base [len] = 0;
    *labels = brace? brace + 1: NULL;     //  still ends in '}'
}

char *
mt_metrics_render (size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&buf, &size);
    if (!f)
        return NULL;
    int n = atomic_load (&s_count);
    char last [160] = "";
    for (int i = 0; i < n; i++) {
        mt_metric_t *m = &s_metrics [i];
        char base [160];
        const char *labels;
        s_split (m->name, base, sizeof base, &labels);
        if (strcmp (base, last)) {
            static const char *types [] = { "counter", "gauge", "histogram" };
            fprintf (f, "# HELP %s %s\n# TYPE %s %s\n", base, m->help, base, types [m->kind]);
            snprintf (last, sizeof last, "%s", base);
        }
        if (m->kind != MT_METRIC_HISTOGRAM) {
            fprintf (f, "%s %lld\n", m->name, (long long) mt_metric_value (m));
            continue;
        }
        //  labels: "a=\"b\"}" -> we print base_bucket{a="b",le="x"}
        int lablen = labels? (int) strlen (labels) - 1: 0;
        int64_t cum = 0;
        for (int b = 0; b < S_BUCKETS; b++) {
            cum += atomic_load (&m->buckets [b]);
            fprintf (f, "%s_bucket{%.*s%sle=\"%g\"} %lld\n", base, lablen, labels? labels: "",
                     lablen? ",": "", s_bounds [b], (long long) cum);
        }
        fprintf (f, "%s_bucket{%.*s%sle=\"+Inf\"} %lld\n", base, lablen, labels? labels: "",
                 lablen? ",": "", (long long) mt_metric_value (m));
        fprintf (f, "%s_sum%s%.*s%s %.6f\n", base, lablen? "{": "", lablen, labels? labels: "",
                 lablen? "}": "", (double) atomic_load (&m->sum_us) / 1e6);
        fprintf (f, "%s_count%s%.*s%s %lld\n", base, lablen? "{": "", lablen,
                 labels? labels: "", lablen? "}": "", (long long) mt_metric_value (m));
    }
    fclose (f);
    if (len)
        *len = size;
    return buf;
}

static enum MHD_Result
s_handler (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **con_cls)
{
    (void) cls; (void) version; (void) upload_data; (void) con_cls;
    if (*upload_data_size) {
        *upload_data_size = 0;          //  bodies are ignored
        return MHD_YES;
    }
    struct MHD_Response *resp = NULL;
    unsigned int status = 200;
    const char *ctype = "text/plain; version=0.0.4";
    if (strcmp (method, "GET") && strcmp (method, "HEAD")) {
        status = 405;
        resp = MHD_create_response_from_buffer (19, (void *) "method not allowed\n",
                                                MHD_RESPMEM_PERSISTENT);
    }
    else
    if (!strcmp (url, "/metrics")) {
        size_t len = 0;
        char *text = mt_metrics_render (&len);
        resp = MHD_create_response_from_buffer (len, text? text: (char *) "",
                                                text? MHD_RESPMEM_MUST_FREE: MHD_RESPMEM_PERSISTENT);
    }
    else
    if (!strcmp (url, "/healthz") || !strcmp (url, "/readyz")) {
        char why [200] = "ok";
        mt_health_fn *ready = atomic_load (&s_ready);
        mt_health_fn *probe = url [1] == 'r' && ready? ready: s_health;
        bool ok = probe? probe (why, sizeof why): true;
        status = ok? 200: 503;
        char body [256];
        int n = snprintf (body, sizeof body, "%s\n", why);
        resp = MHD_create_response_from_buffer ((size_t) n, body, MHD_RESPMEM_MUST_COPY);
    }
    else {
        status = 404;
        resp = MHD_create_response_from_buffer (10, (void *) "not found\n", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;                  //  out of memory: MHD closes the connection
    MHD_add_response_header (resp, "Content-Type", ctype);
    enum MHD_Result rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

int
mt_metrics_serve (const char *bind_addr, int port, mt_health_fn *health)
{
    s_health = health;
    struct sockaddr_in sa;
    memset (&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons ((uint16_t) port);
    sa.sin_addr.s_addr = htonl (INADDR_ANY);
    if (bind_addr && *bind_addr && inet_pton (AF_INET, bind_addr, &sa.sin_addr) != 1) {
        mt_log ("metrics-error reason=\"bad bind address %s\"", bind_addr);
        return -1;
    }
    s_daemon = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
                                 (uint16_t) port, NULL, NULL, s_handler, NULL,
                                 MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 64,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
                                 MHD_OPTION_END);
    if (!s_daemon) {
        mt_log ("metrics-error reason=\"cannot listen on port %d\"", port);
        return -1;
    }
    mt_log ("metrics-listening port=%d", port);
    return 0;
}

void
mt_metrics_set_ready (mt_health_fn *ready)
{
    atomic_store (&s_ready, ready);
}

void
mt_metrics_stop (void)
{
    if (s_daemon) {
        MHD_stop_daemon (s_daemon);
        s_daemon = NULL;
    }
}
