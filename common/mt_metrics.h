//  Prometheus metrics: a registry of counters, gauges and histograms updated
//  from any thread (atomics), rendered as text; and the small HTTP server that
//  serves /metrics and /healthz on a service's own port.
#ifndef MT_METRICS_H_INCLUDED
#define MT_METRICS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { MT_METRIC_COUNTER, MT_METRIC_GAUGE, MT_METRIC_HISTOGRAM } mt_metric_kind_t;

typedef struct _mt_metric_t mt_metric_t;

//  Register a metric; name may carry labels: "mt_requests_total{code=\"429\"}".
//  Returns a handle valid for the life of the process (borrowed).
mt_metric_t *mt_metric_counter (const char *name, const char *help);
mt_metric_t *mt_metric_gauge (const char *name, const char *help);
//  Histogram of milliseconds with fixed buckets.
mt_metric_t *mt_metric_histogram (const char *name, const char *help);

void mt_metric_add (mt_metric_t *m, int64_t delta);
void mt_metric_set (mt_metric_t *m, int64_t value);
void mt_metric_observe (mt_metric_t *m, double ms);
int64_t mt_metric_value (mt_metric_t *m);

//  Render every metric in Prometheus text format. Caller owns; free().
char *mt_metrics_render (size_t *len);

//  A health probe: returns true while the service is healthy, and may write
//  a short reason into why.
typedef bool (mt_health_fn) (char *why, size_t size);

//  Serve /metrics, /healthz (liveness) and /readyz (readiness) on
//  127.0.0.1-or-any:port in a thread of its own. bind_addr NULL = all
//  interfaces. Returns 0 or -1.
int mt_metrics_serve (const char *bind_addr, int port, mt_health_fn *health);
//  The readiness probe of /readyz; without one /readyz answers as /healthz.
//  Called from the server's thread: it must be thread-safe and quick.
void mt_metrics_set_ready (mt_health_fn *ready);
void mt_metrics_stop (void);

#endif
