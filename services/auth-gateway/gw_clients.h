//  auth-gateway: who the client is, and how many connections each client
//  address holds. Pure: no sockets, no clock.
//
//  A peer listed as a trusted proxy (an ingress, a load balancer) is not the
//  client: the client is taken from the X-Forwarded-For the proxy appended,
//  walked from the right past every trusted address (nginx's real_ip with
//  real_ip_recursive on).
#ifndef GW_CLIENTS_H_INCLUDED
#define GW_CLIENTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Longest address text kept (an IPv6 address with its zone fits).
#define GW_ADDR_MAX 64

typedef struct _gw_proxies_t gw_proxies_t;

//  Parse "10.0.0.0/8, 192.168.1.7" (IPv4 and IPv6 addresses or CIDR
//  blocks, comma-separated; "" for none). Returns NULL and writes why into
//  err on a bad entry. Caller owns; destroy with gw_proxies_destroy.
gw_proxies_t *gw_proxies_new (const char *spec, char *err, size_t err_size);
void gw_proxies_destroy (gw_proxies_t **self_p);

//  True when addr (text) is inside one of the trusted blocks.
bool gw_proxies_trusted (const gw_proxies_t *self, const char *addr);

//  Number of blocks listed.
size_t gw_proxies_size (const gw_proxies_t *self);

//  The client of a request from `peer` carrying X-Forwarded-For `xff`
//  (NULL when absent; several headers joined with ','): `peer` itself when
//  it is not trusted or no usable address follows; else the rightmost
//  untrusted address of xff, or its leftmost when every one is trusted. An
//  entry that is not an address ends the walk. Writes the address, in the
//  canonical text form, into out.
void gw_client_address (const gw_proxies_t *self, const char *peer, const char *xff,
                        char *out, size_t out_size);

//  Counts per client address, capped.
typedef struct _gw_counts_t gw_counts_t;

//  Caller owns; destroy with gw_counts_destroy.
gw_counts_t *gw_counts_new (void);
void gw_counts_destroy (gw_counts_t **self_p);

//  Add one to addr's count unless it is already at cap (0 = no cap).
//  Returns true when counted.
bool gw_counts_take (gw_counts_t *self, const char *addr, uint32_t cap);

//  Take one off addr's count (forgets the address at zero).
void gw_counts_give (gw_counts_t *self, const char *addr);

//  addr's count now; the number of addresses counted.
uint32_t gw_counts_get (gw_counts_t *self, const char *addr);
size_t gw_counts_size (gw_counts_t *self);

#endif
