/* Access policy; see policy.h. */
#include "policy.h"

#include <string.h>
#include <strings.h>

#include "addr.h"

int policy_client_allowed(const struct conf_node *cn, const struct sockaddr *sa)
{
    if (cn->nclient_allow == 0)
        return 1;
    for (int i = 0; i < cn->nclient_allow; i++)
        if (addr_cidr_match(&cn->client_allow[i], sa))
            return 1;
    return 0;
}

int policy_dest_allowed(const struct conf_node *cn, const struct sockaddr *sa)
{
    if (addr_classify(sa) == ADDR_PUBLIC || cn->is_private_dest_allowed)
        return 1;
    for (int i = 0; i < cn->ndest_allow; i++)
        if (addr_cidr_match(&cn->dest_allow[i], sa))
            return 1;
    return 0;
}

int policy_connect_port_allowed(const struct conf_node *cn, uint16_t port)
{
    if (cn->nconnect_ports == 0)
        return 1;
    for (int i = 0; i < cn->nconnect_ports; i++)
        if (cn->connect_ports[i] == port)
            return 1;
    return 0;
}

static int is_localhost_name(const char *host)
{
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '.')
        n--;   /* "localhost." */
    return (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0);
}

int policy_host_denied(const struct conf_node *cn, const char *host)
{
    struct sockaddr_storage ss;
    if (is_localhost_name(host))
        host = "127.0.0.1";
    if (addr_ip_to_sockaddr(host, 0, &ss, NULL) != PF_OK)
        return 0;
    return !policy_dest_allowed(cn, (const struct sockaddr *)&ss);
}

int policy_check_open_proxy(const struct conf_node *cn, struct pf_err *err)
{
    const char *addrs[2] = { cn->listen, cn->socks5_listen };
    const char *names[2] = { "node.listen", "node.socks5_listen" };
    if (cn->nusers > 0 || cn->is_redis_users || cn->is_anonymous_allowed)
        return PF_OK;
    for (int i = 0; i < 2; i++) {
        char host[UPSTREAM_HOST_MAX];
        uint16_t port;
        struct pf_err perr;
        if (addrs[i][0] == '\0' || addr_parse_hostport(addrs[i], host, sizeof(host), &port, &perr) != PF_OK)
            continue;
        struct sockaddr_storage ss;
        if (addr_ip_to_sockaddr(host, port, &ss, NULL) != PF_OK ||
            addr_classify((const struct sockaddr *)&ss) != ADDR_LOOPBACK)
            return pf_err_set(err, PF_EDENIED, "%s %s is not on loopback: configure node.users "
                              "or set node.allow_anonymous: true (an open proxy)", names[i], addrs[i]);
    }
    return PF_OK;
}
