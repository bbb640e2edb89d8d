//  libFuzzer target: the gateway's client addresses from outside bytes:
//  a trusted-proxies option, a peer and an X-Forwarded-For header (the
//  input split at its first two newlines), gw_proxies_new, _trusted and
//  gw_client_address.
#include "gw_clients.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = (char *) malloc (size + 1);
    if (!text)
        abort ();
    memcpy (text, data, size);
    text [size] = 0;
    char *spec = text;
    char *peer = strchr (spec, '\n');
    char *xff = NULL;
    if (peer) {
        *peer++ = 0;
        xff = strchr (peer, '\n');
        if (xff)
            *xff++ = 0;
    }
    else
        peer = (char *) "10.0.0.1";
    char err [200];
    gw_proxies_t *proxies = gw_proxies_new (spec, err, sizeof err);
    if (!proxies && !*err)
        abort ();                   //  a refusal always says why
    char out [GW_ADDR_MAX];
    gw_client_address (proxies, peer, xff, out, sizeof out);
    if (strnlen (out, sizeof out) == sizeof out)
        abort ();                   //  always terminated
    //  The client is the peer, or an address the walk took from the header
    if (strncmp (out, peer, sizeof out - 1)) {
        unsigned char buf [16];
        if (inet_pton (AF_INET, out, buf) != 1 && inet_pton (AF_INET6, out, buf) != 1)
            abort ();
        if (!gw_proxies_trusted (proxies, peer))
            abort ();               //  an untrusted peer's header is never believed
    }
    gw_proxies_trusted (proxies, xff? xff: "");
    gw_proxies_destroy (&proxies);
    free (text);
    return 0;
}
