//  CURVE keys and the ZAP handler. See mt_curve.h.
//
//  The keys (this instance's certificate, every role's public keys) are
//  loaded by mt_curve_start on the main thread and only read afterwards.
//  The ZAP handler is an actor of its own: it owns the ZAP socket, the table
//  of which role each server socket (ZAP domain) admits, the monitor pipes of
//  those sockets, and the memory of peers already logged.
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_util.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_LOGGED_MAX 4096           //  peers remembered as logged, then forgotten at once
#define S_PROTO_LOG_MS 10000        //  one summary line per socket this often, at most
#define S_RELOAD_MS 5000            //  the keys folder is read again this often

static const char *s_roles [] = {
    MT_ROLE_GATEWAY, MT_ROLE_SCHEDULER, MT_ROLE_WORKER, MT_ROLE_QUOTA, MT_ROLE_METERING, NULL
};

static struct {
    bool on;
    zcert_t *cert;                  //  this instance's keypair, owned
    char *keys_dir;                 //  the keys folder, owned
    pthread_mutex_t lock;           //  guards keys: the ZAP actor swaps it on reload
    zhashx_t *keys;                 //  Z85 public key -> role name (static string)
    zactor_t *zap;                  //  the ZAP handler
    int monitors;                   //  monitor endpoints made so far
    atomic_uint_fast64_t refused;
    mt_metric_t *m_refused;
} s_curve = { .lock = PTHREAD_MUTEX_INITIALIZER };

//  The role of a public key, or NULL. Returns a static string.
static const char *
s_role_of (const char *key)
{
    pthread_mutex_lock (&s_curve.lock);
    const char *role = s_curve.keys && key? (const char *) zhashx_lookup (s_curve.keys, key): NULL;
    pthread_mutex_unlock (&s_curve.lock);
    return role;
}

static zhashx_t *s_load_all (const char *keys, int *total, bool quiet);

//  --------------------------------------------------------------------------
//  ZAP handler actor

typedef struct {
    zsock_t *pipe;                  //  borrowed from zactor
    zsock_t *zap;                   //  REP on S_ZAP_ENDPOINT, owned
    zpoller_t *poller;
    zhashx_t *domains;              //  ZAP domain -> admitted role (owned copy)
    zlistx_t *monitors;             //  s_monitor_t, owned
    zhashx_t *logged;               //  "domain key peer" already logged, no value
    zhashx_t *proto_last;           //  domain -> s_proto_t, owned
} s_zap_t;

typedef struct {
    zsock_t *pair;                  //  PAIR on a server socket's monitor, owned
    char *domain;                   //  that socket's ZAP domain, owned
} s_monitor_t;

typedef struct {
    uint64_t last_ms;               //  when its last line was written
    uint64_t unlogged;              //  failures since that line
} s_proto_t;

static void
s_refused_inc (void)
{
    atomic_fetch_add (&s_curve.refused, 1);
    if (s_curve.m_refused)
        mt_metric_add (s_curve.m_refused, 1);
}

//  One refusal line per (domain, key, peer); the memory is bounded.
static void
s_log_refused (s_zap_t *self, const char *domain, const char *peer, const char *key,
               const char *reason)
{
    char what [256];
    snprintf (what, sizeof what, "%s %s %s", domain, key, peer);
    if (zhashx_lookup (self->logged, what))
        return;
    if (zhashx_size (self->logged) >= S_LOGGED_MAX)
        zhashx_purge (self->logged);
    zhashx_insert (self->logged, what, (void *) "");
    mt_log ("curve-refused domain=%s peer=%s key=%s reason=\"%s\"", domain, peer, key, reason);
}

//  Answer one ZAP request: 200 for a key of the socket's admitted role,
//  400 for anything else.
static void
s_zap_handle (s_zap_t *self)
{
    zmsg_t *req = zmsg_recv (self->zap);
    if (!req)
        return;
    char *version = zmsg_popstr (req);
    char *request_id = zmsg_popstr (req);
    char *domain = zmsg_popstr (req);
    char *address = zmsg_popstr (req);
    zframe_t *identity = zmsg_pop (req);
    char *mechanism = zmsg_popstr (req);
    zframe_t *credential = zmsg_pop (req);

    const char *status = "400";
    const char *text = "refused";
    const char *role_ok = "";
    char key [41] = "-";
    if (credential && zframe_size (credential) == 32)
        zmq_z85_encode (key, zframe_data (credential), 32);
    const char *want = domain? (const char *) zhashx_lookup (self->domains, domain): NULL;
    const char *role = strcmp (key, "-")? s_role_of (key): NULL;
    if (!mechanism || strcmp (mechanism, "CURVE"))
        text = "not CURVE";
    else
    if (!want)
        text = "unknown ZAP domain";
    else
    if (!role)
        text = "unknown key";
    else
    if (strcmp (role, want))
        text = "wrong role";
    else {
        status = "200";
        text = "OK";
        role_ok = role;
    }
    if (*status != '2') {
        char reason [96];
        snprintf (reason, sizeof reason, "%s%s%s%s%s", text, role? ": key of ": "",
                  role? role: "", want? ", socket admits ": "", want? want: "");
        s_refused_inc ();
        s_log_refused (self, domain? domain: "-", address? address: "-", key, reason);
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, request_id? request_id: "");
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, text);
    zmsg_addstr (reply, role_ok);     //  user id: the peer's role
    zmsg_addmem (reply, "", 0);       //  no metadata
    zmsg_send (&reply, self->zap);

    free (version);
    free (request_id);
    free (domain);
    free (address);
    free (mechanism);
    zframe_destroy (&identity);
    zframe_destroy (&credential);
    zmsg_destroy (&req);
}

//  A monitor event of a server socket: count peers that failed the
//  handshake before ZAP (no CURVE, garbage); one line per socket per
//  S_PROTO_LOG_MS with the count since the last line.
static void
s_monitor_handle (s_zap_t *self, zsock_t *mon)
{
    const char *domain = "-";
    s_monitor_t *m;
    for (m = (s_monitor_t *) zlistx_first (self->monitors); m;
         m = (s_monitor_t *) zlistx_next (self->monitors))
        if (m->pair == mon)
            domain = m->domain;
    zmsg_t *msg = zmsg_recv (mon);
    if (!msg)
        return;
    zframe_t *head = zmsg_first (msg);
    if (!head || zframe_size (head) < 6) {
        zmsg_destroy (&msg);
        return;
    }
    uint16_t event;
    memcpy (&event, zframe_data (head), 2);
    zmsg_destroy (&msg);
    if (!(event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)))
        return;
    s_refused_inc ();
    s_proto_t *p = (s_proto_t *) zhashx_lookup (self->proto_last, domain);
    if (!p) {
        p = (s_proto_t *) zmalloc (sizeof (s_proto_t));
        zhashx_insert (self->proto_last, domain, p);
        p->last_ms = 0;
    }
    p->unlogged++;
    uint64_t now = mt_mono_ms ();
    if (p->last_ms && now - p->last_ms < S_PROTO_LOG_MS)
        return;
    mt_log ("curve-handshake-failed domain=%s peers=%" PRIu64
            " reason=\"not CURVE, no key or garbage\"", domain, p->unlogged);
    p->last_ms = now;
    p->unlogged = 0;
}

//  Pipe commands: ALLOW domain role | MONITOR endpoint domain | $TERM.
//  Each command but $TERM is answered with a signal (0 ok, 1 failed).
static bool
s_pipe_handle (s_zap_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg)
        return false;
    char *command = zmsg_popstr (msg);
    bool go_on = true;
    if (!command || streq (command, "$TERM"))
        go_on = false;
    else
    if (streq (command, "ALLOW")) {
        char *domain = zmsg_popstr (msg);
        char *role = zmsg_popstr (msg);
        int rc = domain && role? 0: 1;
        if (!rc) {
            zhashx_update (self->domains, domain, role);
            role = NULL;                //  the table owns it now
        }
        free (domain);
        free (role);
        zsock_signal (self->pipe, (byte) rc);
    }
    else
    if (streq (command, "MONITOR")) {
        char *endpoint = zmsg_popstr (msg);
        char *domain = zmsg_popstr (msg);
        zsock_t *pair = endpoint? zsock_new_pair (endpoint): NULL;   //  connects
        int rc = 1;
        if (pair && domain) {
            s_monitor_t *m = (s_monitor_t *) zmalloc (sizeof (s_monitor_t));
            m->pair = pair;
            m->domain = domain;
            domain = NULL;
            zlistx_add_end (self->monitors, m);
            zpoller_add (self->poller, pair);
            rc = 0;
        }
        else
            zsock_destroy (&pair);
        free (endpoint);
        free (domain);
        zsock_signal (self->pipe, (byte) rc);
    }
    free (command);
    zmsg_destroy (&msg);
    return go_on;
}

static void
s_monitor_destroy (void **item)
{
    s_monitor_t *m = (s_monitor_t *) *item;
    if (m) {
        zsock_destroy (&m->pair);
        free (m->domain);
        free (m);
        *item = NULL;
    }
}

static void
s_zap_actor (zsock_t *pipe, void *args)
{
    s_zap_t self = { .pipe = pipe };
    self.zap = zsock_new_rep ("@" S_ZAP_ENDPOINT);
    if (!self.zap) {
        mt_log ("curve-error reason=\"cannot bind the ZAP handler\"");
        zsock_signal (pipe, 1);
        return;
    }
    self.poller = zpoller_new (pipe, self.zap, NULL);
    self.domains = zhashx_new ();
    zhashx_set_destructor (self.domains, (zhashx_destructor_fn *) zstr_free);
    self.monitors = zlistx_new ();
    zlistx_set_destructor (self.monitors, s_monitor_destroy);
    self.logged = zhashx_new ();
    self.proto_last = zhashx_new ();
    zhashx_set_destructor (self.proto_last, (zhashx_destructor_fn *) zstr_free);
    zsock_signal (pipe, 0);

    uint64_t next_reload = mt_mono_ms () + S_RELOAD_MS;
    while (true) {
        uint64_t now = mt_mono_ms ();
        if (now >= next_reload) {
            mt_curve_reload ();
            next_reload = now + S_RELOAD_MS;
        }
        zsock_t *which = (zsock_t *) zpoller_wait (self.poller, (int) (next_reload - now));
        if (!which) {
            if (zpoller_terminated (self.poller))
                break;                  //  interrupted
            continue;                   //  time to reload
        }
        if (which == pipe) {
            if (!s_pipe_handle (&self))
                break;
        }
        else
        if (which == self.zap)
            s_zap_handle (&self);
        else
            s_monitor_handle (&self, which);
    }
    zpoller_destroy (&self.poller);
    zlistx_destroy (&self.monitors);
    zhashx_destroy (&self.domains);
    zhashx_destroy (&self.logged);
    zhashx_destroy (&self.proto_last);
    zsock_destroy (&self.zap);
}

//  --------------------------------------------------------------------------
//  Keys

//  Load every public certificate "*.key" of keys/role into map (key ->
//  role). Returns the number loaded, or -1 (logged unless quiet).
static int
s_load_role (zhashx_t *map, const char *keys, const char *role, bool quiet)
{
    char dir [1024];
    snprintf (dir, sizeof dir, "%s/%s", keys, role);
    DIR *d = opendir (dir);
    if (!d)
        return 0;                       //  a role nobody holds yet
    int count = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        size_t len = strlen (e->d_name);
        if (e->d_name [0] == '.')
            continue;
        if (len > 7 && streq (e->d_name + len - 7, "_secret")) {
            if (!quiet)
                mt_log ("config-error option=curve-keys reason=\"%s/%s is a secret certificate: "
                        "the keys folder holds public certificates only\"", dir, e->d_name);
            closedir (d);
            return -1;
        }
        if (len < 5 || !streq (e->d_name + len - 4, ".key"))
            continue;
        char path [1300];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        zcert_t *cert = zcert_load (path);
        if (!cert) {
            if (!quiet)
                mt_log ("config-error option=curve-keys reason=\"%s is not a certificate\"", path);
            closedir (d);
            return -1;
        }
        const char *prior = (const char *) zhashx_lookup (map, zcert_public_txt (cert));
        if (prior && !streq (prior, role)) {
            if (!quiet)
                mt_log ("config-error option=curve-keys reason=\"%s: one key in two roles "
                        "(%s, %s)\"", path, prior, role);
            zcert_destroy (&cert);
            closedir (d);
            return -1;
        }
        zhashx_update (map, zcert_public_txt (cert), (void *) role);
        zcert_destroy (&cert);
        count++;
    }
    closedir (d);
    return count;
}

//  Every role's public keys under keys, as a new map (caller owns), or NULL
//  (logged unless quiet).
static zhashx_t *
s_load_all (const char *keys, int *total, bool quiet)
{
    zhashx_t *map = zhashx_new ();
    *total = 0;
    for (const char **r = s_roles; *r; r++) {
        int n = s_load_role (map, keys, *r, quiet);
        if (n < 0) {
            zhashx_destroy (&map);
            return NULL;
        }
        *total += n;
    }
    if (*total == 0) {
        if (!quiet)
            mt_log ("config-error option=curve-keys reason=\"%s holds no public certificate "
                    "(expected %s/<role>/*.key)\"", keys, keys);
        zhashx_destroy (&map);
    }
    return map;
}

void
mt_curve_reload (void)
{
    static atomic_bool failed = false;
    int total = 0;
    zhashx_t *map = s_load_all (s_curve.keys_dir, &total, true);
    if (!map) {
        if (!failed)
            mt_log ("curve-keys-unchanged reason=\"%s is unreadable, empty or holds a secret "
                    "certificate; keeping the keys loaded before\"", s_curve.keys_dir);
        failed = true;
        return;
    }
    failed = false;
    pthread_mutex_lock (&s_curve.lock);
    bool same = zhashx_size (map) == zhashx_size (s_curve.keys);
    const char *role;
    for (role = (const char *) zhashx_first (map); same && role;
         role = (const char *) zhashx_next (map)) {
        const char *was = (const char *) zhashx_lookup (s_curve.keys, zhashx_cursor (map));
        same = was && streq (was, role);
    }
    zhashx_t *old = s_curve.keys;
    s_curve.keys = map;
    pthread_mutex_unlock (&s_curve.lock);
    zhashx_destroy (&old);
    if (!same)
        mt_log ("curve-keys-reloaded keys=%d", total);
}

int
mt_curve_start (mt_opt_t *opts)
{
    assert (!s_curve.zap && !s_curve.cert);
    if (!mt_config_int (opts, "curve")) {
        s_curve.on = false;
        mt_log ("curve-off reason=\"curve=0: ZeroMQ traffic is neither encrypted nor "
                "authenticated; for local debugging only\"");
        return 0;
    }
    const char *cert_path = mt_config_str (opts, "curve-cert");
    const char *keys = mt_config_str (opts, "curve-keys");
    if (!*cert_path) {
        mt_log ("config-error option=curve-cert reason=\"required while curve=1 "
                "(set MT_CURVE_CERT, or MT_CURVE=0 for local debugging)\"");
        return -1;
    }
    if (!*keys) {
        mt_log ("config-error option=curve-keys reason=\"required while curve=1 "
                "(set MT_CURVE_KEYS, or MT_CURVE=0 for local debugging)\"");
        return -1;
    }
    s_curve.cert = zcert_load (cert_path);
    if (!s_curve.cert || streq (zcert_secret_txt (s_curve.cert),
                                "0000000000000000000000000000000000000000")) {
        mt_log ("config-error option=curve-cert reason=\"%s: no secret certificate there\"",
                cert_path);
        zcert_destroy (&s_curve.cert);
        return -1;
    }
    int total = 0;
    zhashx_t *map = s_load_all (keys, &total, false);
    if (!map) {
        mt_curve_stop ();
        return -1;
    }
    pthread_mutex_lock (&s_curve.lock);
    s_curve.keys = map;
    pthread_mutex_unlock (&s_curve.lock);
    s_curve.keys_dir = strdup (keys);
    if (!s_curve.m_refused)
        s_curve.m_refused = mt_metric_counter ("mt_curve_refused_total",
                                               "ZeroMQ handshakes refused (no, unknown or "
                                               "wrong-role key, not CURVE)");
    s_curve.zap = zactor_new (s_zap_actor, NULL);
    if (!s_curve.zap) {
        mt_curve_stop ();
        return -1;
    }
    //  A service that gives up after this point (a port taken, the database
    //  gone) returns from main without mt_curve_stop: czmq's own exit handler
    //  would then end the context under the running ZAP actor, which aborts
    //  on libzmq's ETERM. Ours, registered after czmq's, runs before it.
    static bool s_at_exit;
    if (!s_at_exit) {
        atexit (mt_curve_stop);
        s_at_exit = true;
    }
    s_curve.on = true;
    mt_log ("curve-on public=%s keys=%d", zcert_public_txt (s_curve.cert), total);
    return 0;
}

void
mt_curve_stop (void)
{
    zactor_destroy (&s_curve.zap);
    zcert_destroy (&s_curve.cert);
    pthread_mutex_lock (&s_curve.lock);
    zhashx_destroy (&s_curve.keys);
    pthread_mutex_unlock (&s_curve.lock);
    free (s_curve.keys_dir);
    s_curve.keys_dir = NULL;
    s_curve.on = false;
}

bool
mt_curve_on (void)
{
    return s_curve.on;
}

const char *
mt_curve_public_key (void)
{
    return s_curve.on? zcert_public_txt (s_curve.cert): "";
}

bool
mt_curve_known (const char *role, const char *key)
{
    if (!s_curve.on)
        return true;
    const char *r = s_role_of (key);
    return r && streq (r, role);
}

uint64_t
mt_curve_refused (void)
{
    return atomic_load (&s_curve.refused);
}

int
mt_curve_server (zsock_t *sock, const char *domain, const char *client_role)
{
    if (!s_curve.on)
        return 0;
    zstr_sendx (s_curve.zap, "ALLOW", domain, client_role, NULL);
    if (zsock_wait (s_curve.zap) != 0)
        return -1;
    zcert_apply (s_curve.cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, domain);
    //  Watch the handshakes that fail before ZAP is asked (no CURVE, garbage).
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://mt-curve-monitor-%d", s_curve.monitors++);
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint,
                            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                            | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) == 0) {
        zstr_sendx (s_curve.zap, "MONITOR", endpoint, domain, NULL);
        zsock_wait (s_curve.zap);
    }
    return 0;
}

int
mt_curve_client_to (zsock_t *sock, const char *server_key, const char *server_role)
{
    if (!s_curve.on)
        return 0;
    if (!mt_curve_known (server_role, server_key)) {
        mt_log ("curve-unknown-server role=%s key=%.40s", server_role,
                server_key && *server_key? server_key: "-");
        return -1;
    }
    zcert_apply (s_curve.cert, sock);
    zsock_set_curve_serverkey (sock, server_key);
    return 0;
}

int
mt_curve_client (zsock_t *sock, const char *server_role)
{
    if (!s_curve.on)
        return 0;
    char found [41] = "";
    int count = 0;
    const char *role;
    pthread_mutex_lock (&s_curve.lock);
    for (role = (const char *) zhashx_first (s_curve.keys); role;
         role = (const char *) zhashx_next (s_curve.keys))
        if (streq (role, server_role)) {
            snprintf (found, sizeof found, "%s", (const char *) zhashx_cursor (s_curve.keys));
            count++;
        }
    pthread_mutex_unlock (&s_curve.lock);
    if (count != 1) {
        mt_log ("config-error option=curve-keys reason=\"%s/ must hold exactly one "
                "certificate, holds %d\"", server_role, count);
        return -1;
    }
    return mt_curve_client_to (sock, found, server_role);
}
