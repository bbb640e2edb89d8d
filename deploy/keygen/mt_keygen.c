//  mt-keygen: make one service instance's CURVE keypair.
//
//    mt-keygen DIR ROLE NAME
//
//  writes DIR/secret/NAME.key_secret (the instance's secret certificate,
//  mode 0600: give it to that instance alone, as MT_CURVE_CERT) and
//  DIR/keys/ROLE/NAME.key (its public certificate: the folder DIR/keys is
//  every service's MT_CURVE_KEYS). A keypair that exists already is kept, so
//  the command can run at every start; its public file is written again.
#include "mt_curve.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int
s_mkdirs (const char *path)
{
    char buf [1024];
    snprintf (buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (buf, 0755) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir (buf, 0755) && errno != EEXIST? -1: 0;
}

int
main (int argc, char **argv)
{
    static const char *roles [] = {
        MT_ROLE_GATEWAY, MT_ROLE_SCHEDULER, MT_ROLE_WORKER, MT_ROLE_QUOTA, MT_ROLE_METERING, NULL
    };
    if (argc != 4) {
        fprintf (stderr, "usage: mt-keygen DIR ROLE NAME\n");
        return 2;
    }
    const char *dir = argv [1], *role = argv [2], *name = argv [3];
    bool role_ok = false;
    for (const char **r = roles; *r; r++)
        role_ok |= streq (*r, role);
    if (!role_ok || !*name || strchr (name, '/') || name [0] == '.') {
        fprintf (stderr, "mt-keygen: role must be one of gateway, scheduler, worker, "
                 "quota-enforcer, metering; name a plain file name\n");
        return 2;
    }
    char secret_dir [1024], public_dir [1024], secret [1200], public [1200];
    snprintf (secret_dir, sizeof secret_dir, "%s/secret", dir);
    snprintf (public_dir, sizeof public_dir, "%s/keys/%s", dir, role);
    snprintf (secret, sizeof secret, "%s/%s.key", secret_dir, name);   //  + "_secret"
    snprintf (public, sizeof public, "%s/%s.key", public_dir, name);
    if (s_mkdirs (secret_dir) || s_mkdirs (public_dir)) {
        fprintf (stderr, "mt-keygen: cannot make %s: %s\n", dir, strerror (errno));
        return 1;
    }
    chmod (secret_dir, 0700);
    char secret_file [1300];
    snprintf (secret_file, sizeof secret_file, "%s_secret", secret);
    zcert_t *cert = zsys_file_exists (secret_file)? zcert_load (secret_file): NULL;
    if (!cert) {
        cert = zcert_new ();
        zcert_set_meta (cert, "role", "%s", role);
        zcert_set_meta (cert, "name", "%s", name);
        //  zcert_save writes the public file beside the secret one; only the
        //  secret one stays in secret/.
        mode_t old = umask (0077);
        int rc = zcert_save_secret (cert, secret_file);
        umask (old);
        if (rc) {
            fprintf (stderr, "mt-keygen: cannot write %s\n", secret_file);
            zcert_destroy (&cert);
            return 1;
        }
    }
    if (zcert_save_public (cert, public)) {
        fprintf (stderr, "mt-keygen: cannot write %s\n", public);
        zcert_destroy (&cert);
        return 1;
    }
    printf ("%s %s %s\n", role, name, zcert_public_txt (cert));
    zcert_destroy (&cert);
    return 0;
}
