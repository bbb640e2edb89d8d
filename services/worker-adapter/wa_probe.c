//  The engine health probe thread. See wa_probe.h.
#include "wa_probe.h"
#include "mt_log.h"
#include "mt_util.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *url;                      //  owned
    int interval_ms;
    int timeout_ms;
} s_args_t;

char *
wa_probe_default_url (const char *engine_url, char *out, size_t size)
{
    size_t len = strlen (engine_url);
    while (len && engine_url [len - 1] == '/')
        len--;
    if (len >= 3 && !strncmp (engine_url + len - 3, "/v1", 3))
        len -= 3;
    snprintf (out, size, "%.*s/health", (int) len, engine_url);
    return out;
}

static size_t
s_discard (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void) ptr;
    (void) userdata;
    return size * nmemb;
}

static bool
s_probe (CURL *easy)
{
    long status = 0;
    CURLcode rc = curl_easy_perform (easy);
    if (rc == CURLE_OK)
        curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &status);
    return rc == CURLE_OK && status > 0 && status < 500;
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    s_args_t *self = (s_args_t *) arg;
    CURL *easy = curl_easy_init ();
    zsock_signal (pipe, 0);
    if (easy) {
        curl_easy_setopt (easy, CURLOPT_URL, self->url);
        curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
        curl_easy_setopt (easy, CURLOPT_CONNECTTIMEOUT_MS, (long) self->timeout_ms);
        curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_discard);
    }
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (poller && easy) {
        uint64_t started = mt_mono_ms ();
        bool ok = s_probe (easy);
        char at [24];
        snprintf (at, sizeof at, "%" PRIu64, started);
        zstr_sendx (pipe, "PROBE", ok? "1": "0", at, NULL);
        //  Wait out the interval, or end on $TERM
        int64_t left = (int64_t) self->interval_ms - (int64_t) (mt_mono_ms () - started);
        if (zpoller_wait (poller, left > 0? (int) left: 0)) {
            char *cmd = zstr_recv (pipe);
            bool term = !cmd || !strcmp (cmd, "$TERM");
            zstr_free (&cmd);
            if (term)
                break;
        }
        else
        if (zpoller_terminated (poller))
            break;
    }
    if (!easy) {
        //  Nothing to probe with: wait for the end
        char *cmd = zstr_recv (pipe);
        zstr_free (&cmd);
    }
    zpoller_destroy (&poller);
    curl_easy_cleanup (easy);
    free (self->url);
    free (self);
}

zactor_t *
wa_probe_new (const char *url, int interval_ms, int timeout_ms)
{
    s_args_t *args = (s_args_t *) calloc (1, sizeof *args);
    if (!args || !(args->url = strdup (url))) {
        free (args);
        return NULL;
    }
    args->interval_ms = interval_ms > 0? interval_ms: 1000;
    args->timeout_ms = timeout_ms > 0? timeout_ms: 1000;
    return zactor_new (s_actor, args);
}
