/* Address types shared by the config (which parses them) and the modules
 * that match addresses against them (addr, policy, pool_cache,
 * provider_intake). Types only; the functions are in addr.h. */
#ifndef PF_ADDR_T_H
#define PF_ADDR_T_H

#include <stdint.h>

#define CONF_CIDRS_MAX    64     /* entries of one CIDR list */

/* One network: "10.0.0.0/8", "fd00::/8", or a host route. */
struct conf_cidr {
    int     family;            /* AF_INET or AF_INET6 */
    uint8_t addr[16];          /* network order, masked */
    int     prefix_len;
};

/* Which non-public upstream addresses are accepted: a provider's
 * "allow_private" and the node's "upstream_allow_private" (false, true or a
 * list of CIDRs). Public addresses always pass. Cloud metadata addresses
 * (169.254.169.254, 169.254.170.2, fd00:ec2::254, 100.100.100.200,
 * 168.63.129.16) pass only when a CIDR of the list names exactly that
 * address (a /32 or /128), never through true or a wider range. See
 * addr_policy_allows(). */
struct conf_upstream_policy {
    int      is_private_allowed;        /* true: every non-public class but metadata */
    struct conf_cidr allow[CONF_CIDRS_MAX]; /* CIDR list form, else empty */
    int      nallow;
};

#endif
