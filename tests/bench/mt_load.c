#include "mt_load.h"
#include "mt_curve.h"

#include <stdio.h>

int
mt_load_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y? -1: x > y;
}

int
mt_load_prepare (zsock_t *sock, const char *who, const char *cert_file)
{
    if (mt_curve_on () && cert_file && *cert_file) {
        zcert_t *cert = zcert_load (cert_file);
        if (!cert) {
            fprintf (stderr, "%s: cannot load %s\n", who, cert_file);
            return -1;
        }
        zcert_apply (cert, sock);
        zcert_destroy (&cert);
    }
    zsock_set_sndhwm (sock, 1000000);
    zsock_set_rcvhwm (sock, 1000000);
    return 0;
}
