//  Unit tests of gw_clients.c: trusted proxies, the client address behind
//  them (X-Forwarded-For), and counts per address under a cap.
#include "mt_test.h"
#include "gw_clients.h"

#include <stdlib.h>

static void
test_proxies_parse (void)
{
    struct { const char *spec; bool ok; size_t count; } table [] = {
        { "", true, 0 },
        { NULL, true, 0 },
        { "10.0.0.1", true, 1 },
        { " 10.0.0.0/8 , 192.168.1.7,", true, 2 },
        { "::1, fd00::/8", true, 2 },
        { "10.0.0.0/33", false, 0 },
        { "10.0.0.0/", false, 0 },
        { "10.0.0.0/x", false, 0 },
        { "fd00::/129", false, 0 },
        { "proxy.local", false, 0 },
        { "10.0.0.1, 300.1.1.1", false, 0 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        char err [200] = "unset";
        gw_proxies_t *p = gw_proxies_new (table [i].spec, err, sizeof err);
        CHECK_MSG ((p != NULL) == table [i].ok, "spec \"%s\"", table [i].spec? table [i].spec: "(null)");
        if (p)
            CHECK_INT (gw_proxies_size (p), table [i].count);
        else
            CHECK_MSG (strstr (err, "not an address") != NULL, "error text: %s", err);
        gw_proxies_destroy (&p);
        CHECK (p == NULL);
    }
}

static void
test_trusted (void)
{
    gw_proxies_t *p = gw_proxies_new ("10.0.0.0/8, 192.168.1.7, 172.16.0.0/12, fd00::/8, 0.0.0.0/32",
                                      NULL, 0);
    CHECK (p != NULL);
    struct { const char *addr; bool trusted; } table [] = {
        { "10.0.0.1", true },
        { "10.255.255.255", true },
        { "11.0.0.1", false },
        { "192.168.1.7", true },
        { "192.168.1.8", false },
        { "172.31.255.1", true },
        { "172.32.0.1", false },
        { "fd12::1", true },
        { "fe80::1", false },
        { "::ffff:10.1.2.3", true },        //  IPv4-mapped: the same address
        { "0.0.0.0", true },
        { "0.0.0.1", false },
        { "garbage", false },
        { "", false },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++)
        CHECK_MSG (gw_proxies_trusted (p, table [i].addr) == table [i].trusted, "%s", table [i].addr);
    CHECK (!gw_proxies_trusted (NULL, "10.0.0.1"));
    CHECK (!gw_proxies_trusted (p, NULL));
    gw_proxies_destroy (&p);
}

static void
test_client_address (void)
{
    gw_proxies_t *p = gw_proxies_new ("10.0.0.0/8", NULL, 0);
    struct { const char *peer, *xff, *want; } table [] = {
        //  A direct client: its headers are not believed
        { "203.0.113.5", "198.51.100.1", "203.0.113.5" },
        { "203.0.113.5", NULL, "203.0.113.5" },
        //  Behind a trusted proxy: the rightmost untrusted address
        { "10.0.0.2", "198.51.100.1", "198.51.100.1" },
        { "10.0.0.2", "198.51.100.9, 198.51.100.1", "198.51.100.1" },
        { "10.0.0.2", "198.51.100.1, 10.1.1.1", "198.51.100.1" },
        { "10.0.0.2", "198.51.100.1,10.1.1.1 , 10.2.2.2", "198.51.100.1" },
        //  Every hop trusted: the leftmost
        { "10.0.0.2", "10.9.9.9, 10.1.1.1", "10.9.9.9" },
        //  No header, or an empty one: the proxy itself
        { "10.0.0.2", NULL, "10.0.0.2" },
        { "10.0.0.2", "", "10.0.0.2" },
        //  Not an address: the walk stops at the last good one
        { "10.0.0.2", "198.51.100.1, unknown", "10.0.0.2" },
        { "10.0.0.2", "unknown, 10.1.1.1", "10.1.1.1" },
        { "10.0.0.2", "198.51.100.1:4711", "10.0.0.2" },
        //  IPv6 written canonically
        { "10.0.0.2", "2001:DB8:0:0::1", "2001:db8::1" },
        //  A spoofed left part does not matter
        { "10.0.0.2", "1.2.3.4, 198.51.100.1", "198.51.100.1" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        char out [GW_ADDR_MAX];
        gw_client_address (p, table [i].peer, table [i].xff, out, sizeof out);
        CHECK_MSG (!strcmp (out, table [i].want), "peer %s xff \"%s\": got %s want %s", table [i].peer,
                   table [i].xff? table [i].xff: "(none)", out, table [i].want);
    }
    //  No trusted proxies at all: always the peer
    char out [GW_ADDR_MAX];
    gw_client_address (NULL, "10.0.0.2", "198.51.100.1", out, sizeof out);
    CHECK_STR (out, "10.0.0.2");
    gw_proxies_destroy (&p);
}

static void
test_counts (void)
{
    gw_counts_t *c = gw_counts_new ();
    CHECK (c != NULL);
    //  op: '+' take (expect result), '-' give; then the count expected
    struct { char op; const char *addr; uint32_t cap; bool ok; uint32_t count; size_t size; } table [] = {
        { '+', "a", 2, true, 1, 1 },
        { '+', "a", 2, true, 2, 1 },
        { '+', "a", 2, false, 2, 1 },       //  at the cap
        { '+', "b", 2, true, 1, 2 },        //  another address is free
        { '+', "a", 0, true, 3, 2 },        //  cap 0: no cap
        { '-', "a", 0, true, 2, 2 },
        { '-', "a", 0, true, 1, 2 },
        { '-', "a", 0, true, 0, 1 },        //  forgotten at zero
        { '-', "a", 0, true, 0, 1 },        //  giving what is not held: no-op
        { '+', "a", 1, true, 1, 2 },
        { '-', "b", 0, true, 0, 1 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        if (table [i].op == '+')
            CHECK_MSG (gw_counts_take (c, table [i].addr, table [i].cap) == table [i].ok, "row %zu", i);
        else
            gw_counts_give (c, table [i].addr);
        CHECK_MSG (gw_counts_get (c, table [i].addr) == table [i].count, "row %zu count", i);
        CHECK_MSG (gw_counts_size (c) == table [i].size, "row %zu size", i);
    }
    gw_counts_destroy (&c);
    CHECK (c == NULL);
    gw_counts_destroy (NULL);
}

int
main (void)
{
    MT_RUN (test_proxies_parse);
    MT_RUN (test_trusted);
    MT_RUN (test_client_address);
    MT_RUN (test_counts);
    return mt_test_done ("test_gw_clients");
}
