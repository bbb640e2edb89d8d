//  mt_curve in-process: a CURVE server socket admits only its client role;
//  no key, an unknown key and another role's key are refused and counted;
//  bad configurations stop the start with the option named.
#include "mt_curve.h"
#include "mt_test.h"

#include <czmq.h>
#include <stdlib.h>
#include <unistd.h>

static char s_dir [256];

//  A keypair for role/name under s_dir: secret/<name>.key_secret and
//  keys/<role>/<name>.key. Returns the public key (static buffer).
static const char *
s_keygen (const char *role, const char *name, bool publish)
{
    static char pub [41];
    char path [512];
    snprintf (path, sizeof path, "%s/secret", s_dir);
    zsys_dir_create ("%s", path);
    snprintf (path, sizeof path, "%s/keys/%s", s_dir, role);
    zsys_dir_create ("%s", path);
    zcert_t *cert = zcert_new ();
    snprintf (path, sizeof path, "%s/secret/%s.key_secret", s_dir, name);
    zcert_save_secret (cert, path);
    if (publish) {
        snprintf (path, sizeof path, "%s/keys/%s/%s.key", s_dir, role, name);
        zcert_save_public (cert, path);
    }
    snprintf (pub, sizeof pub, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return pub;
}

static int
s_start (const char *curve, const char *cert_name, const char *keys)
{
    char cert [512] = "";
    if (cert_name)
        snprintf (cert, sizeof cert, "%s/secret/%s.key_secret", s_dir, cert_name);
    mt_opt_t opts [] = { MT_CURVE_OPTIONS, { NULL } };
    char *argv [4];
    char a1 [64], a2 [600], a3 [600];
    snprintf (a1, sizeof a1, "--curve=%s", curve);
    snprintf (a2, sizeof a2, "--curve-cert=%s", cert);
    snprintf (a3, sizeof a3, "--curve-keys=%s", keys? keys: "");
    argv [0] = "test";
    argv [1] = a1;
    argv [2] = a2;
    argv [3] = a3;
    if (mt_config_load (opts, 4, argv))
        return -2;
    return mt_curve_start (opts);
}

//  A client of the given identity (cert name, or NULL: no CURVE) sends one
//  frame; returns true when the server received it within 1.5 s.
static bool
s_reaches (zsock_t *server, const char *endpoint, const char *cert_name, const char *server_key)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    zsock_set_linger (client, 0);
    if (cert_name) {
        char path [512];
        snprintf (path, sizeof path, "%s/secret/%s.key_secret", s_dir, cert_name);
        zcert_t *cert = zcert_load (path);
        zcert_apply (cert, client);
        zsock_set_curve_serverkey (client, server_key);
        zcert_destroy (&cert);
    }
    zsock_connect (client, "%s", endpoint);
    zstr_send (client, "hello");
    zpoller_t *poller = zpoller_new (server, NULL);
    bool got = zpoller_wait (poller, 1500) == server;
    if (got) {
        zmsg_t *msg = zmsg_recv (server);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&client);
    return got;
}

static void
test_roles (void)
{
    const char *sched = s_keygen ("scheduler", "sched", true);
    char sched_key [41];
    snprintf (sched_key, sizeof sched_key, "%s", sched);
    s_keygen ("worker", "worker-1", true);
    s_keygen ("gateway", "gw-1", true);
    s_keygen ("worker", "stranger", false);       //  a key nobody published
    char keys [300];
    snprintf (keys, sizeof keys, "%s/keys", s_dir);
    CHECK_INT (s_start ("1", "sched", keys), 0);
    CHECK (mt_curve_on ());
    CHECK_STR (mt_curve_public_key (), sched_key);
    CHECK (mt_curve_known ("gateway", NULL) == false);

    zsock_t *server = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (server, 0);
    CHECK_INT (mt_curve_server (server, "test-workers", MT_ROLE_WORKER), 0);
    int port = zsock_bind (server, "tcp://127.0.0.1:*");
    CHECK (port > 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);

    uint64_t refused = mt_curve_refused ();
    CHECK_MSG (s_reaches (server, endpoint, "worker-1", sched_key), "worker key refused");
    CHECK_INT (mt_curve_refused (), refused);
    CHECK_MSG (!s_reaches (server, endpoint, "gw-1", sched_key), "gateway key admitted");
    CHECK_MSG (!s_reaches (server, endpoint, "stranger", sched_key), "unknown key admitted");
    CHECK_MSG (!s_reaches (server, endpoint, NULL, NULL), "plain client admitted");
    //  Refusals counted (the monitor's count for the plain client may land late).
    for (int i = 0; i < 50 && mt_curve_refused () < refused + 3; i++)
        zclock_sleep (20);
    CHECK_MSG (mt_curve_refused () >= refused + 3, "refused %" PRIu64 " -> %" PRIu64,
               refused, mt_curve_refused ());
    //  A worker published while we run is admitted after a reload.
    s_keygen ("worker", "worker-2", false);
    CHECK_MSG (!s_reaches (server, endpoint, "worker-2", sched_key), "unpublished key admitted");
    char path [512];
    snprintf (path, sizeof path, "%s/secret/worker-2.key_secret", s_dir);
    zcert_t *w2 = zcert_load (path);
    snprintf (path, sizeof path, "%s/keys/worker/worker-2.key", s_dir);
    zcert_save_public (w2, path);
    zcert_destroy (&w2);
    mt_curve_reload ();
    CHECK_MSG (s_reaches (server, endpoint, "worker-2", sched_key), "published key refused");
    //  The one server of a role, and a key that arrived in a message.
    zsock_t *client = zsock_new (ZMQ_DEALER);
    CHECK_INT (mt_curve_client (client, MT_ROLE_SCHEDULER), 0);
    CHECK_INT (mt_curve_client_to (client, sched_key, MT_ROLE_SCHEDULER), 0);
    CHECK_INT (mt_curve_client_to (client, sched_key, MT_ROLE_GATEWAY), -1);
    CHECK_INT (mt_curve_client_to (client, "", MT_ROLE_GATEWAY), -1);
    CHECK_INT (mt_curve_client (client, MT_ROLE_METERING), -1);   //  none published
    zsock_destroy (&client);
    zsock_destroy (&server);
    mt_curve_stop ();
    CHECK (!mt_curve_on ());
}

static void
test_config (void)
{
    char keys [300];
    snprintf (keys, sizeof keys, "%s/keys", s_dir);
    //  Off: every call is a no-op.
    CHECK_INT (s_start ("0", NULL, NULL), 0);
    CHECK (!mt_curve_on ());
    CHECK_STR (mt_curve_public_key (), "");
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    CHECK_INT (mt_curve_server (sock, "x", MT_ROLE_GATEWAY), 0);
    CHECK_INT (zsock_curve_server (sock), 0);
    zsock_destroy (&sock);
    mt_curve_stop ();
    //  On: certificate and keys folder required, a secret in the keys folder refused.
    CHECK_INT (s_start ("1", NULL, keys), -1);
    CHECK_INT (s_start ("1", "sched", NULL), -1);
    CHECK_INT (s_start ("1", "no-such-cert", keys), -1);
    char empty [300];
    snprintf (empty, sizeof empty, "%s/empty", s_dir);
    zsys_dir_create ("%s", empty);
    CHECK_INT (s_start ("1", "sched", empty), -1);
    char path [512];
    snprintf (path, sizeof path, "%s/keys/worker/leak.key_secret", s_dir);
    FILE *f = fopen (path, "w");
    CHECK (f != NULL);
    if (f)
        fclose (f);
    CHECK_INT (s_start ("1", "sched", keys), -1);
    unlink (path);
    CHECK_INT (s_start ("1", "sched", keys), 0);
    mt_curve_stop ();
}

int
main (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/mt-curve-test.%d", (int) getpid ());
    zsys_dir_create ("%s", s_dir);
    zsys_set_logstream (NULL);
    MT_RUN (test_roles);
    MT_RUN (test_config);
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_dir);
    return mt_test_done ("test_mt_curve");
}
