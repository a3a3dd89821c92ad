/* Unit tests for node/policy.c: client allow, destination policy, CONNECT
 * ports, the early host check and the open-proxy guard. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "policy.h"

static struct conf_node cn;

static void setup(void)
{
    memset(&cn, 0, sizeof(cn));
    snprintf(cn.listen, sizeof(cn.listen), "127.0.0.1:3128");
}

TestSuite(policy, .init = setup);

static const struct sockaddr *sa_of(const char *ip)
{
    static struct sockaddr_storage ss;
    cr_assert_eq(addr_ip_to_sockaddr(ip, 80, &ss, NULL), PF_OK, "bad test address %s", ip);
    return (const struct sockaddr *)&ss;
}

static void add_cidr(struct conf_cidr *v, int *n, const char *s)
{
    struct pf_err err;
    cr_assert_eq(addr_cidr_parse(s, &v[*n], &err), PF_OK, "%s", s);
    (*n)++;
}

Test(policy, client_allow_empty_admits_everyone)
{
    cr_expect(policy_client_allowed(&cn, sa_of("203.0.113.9")));
    cr_expect(policy_client_allowed(&cn, sa_of("::1")));
}

Test(policy, client_allow_lists)
{
    add_cidr(cn.client_allow, &cn.nclient_allow, "10.0.0.0/8");
    add_cidr(cn.client_allow, &cn.nclient_allow, "2001:db8::/32");
    cr_expect(policy_client_allowed(&cn, sa_of("10.9.8.7")));
    cr_expect(policy_client_allowed(&cn, sa_of("2001:db8::42")));
    cr_expect_not(policy_client_allowed(&cn, sa_of("11.0.0.1")));
    cr_expect_not(policy_client_allowed(&cn, sa_of("127.0.0.1")));
    cr_expect_not(policy_client_allowed(&cn, sa_of("2001:db9::1")));
}

Test(policy, dest_public_only_by_default)
{
    static const char *const denied[] = {
        "127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.1", "169.254.169.254", "0.0.0.0",
        "224.0.0.1", "::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "100.64.0.1",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(denied); i++)
        cr_expect_not(policy_dest_allowed(&cn, sa_of(denied[i])), "%s", denied[i]);
    cr_expect(policy_dest_allowed(&cn, sa_of("93.184.216.34")));
    cr_expect(policy_dest_allowed(&cn, sa_of("2606:2800:220:1::1")));
}

Test(policy, dest_private_allowed_or_listed)
{
    add_cidr(cn.dest_allow, &cn.ndest_allow, "10.1.0.0/16");
    cr_expect(policy_dest_allowed(&cn, sa_of("10.1.2.3")));
    cr_expect_not(policy_dest_allowed(&cn, sa_of("10.2.0.1")));
    cn.is_private_dest_allowed = 1;
    cr_expect(policy_dest_allowed(&cn, sa_of("10.2.0.1")));
    cr_expect(policy_dest_allowed(&cn, sa_of("169.254.169.254")));
}

Test(policy, connect_ports)
{
    cr_expect(policy_connect_port_allowed(&cn, 22));   /* none listed: any */
    cn.connect_ports[cn.nconnect_ports++] = 443;
    cn.connect_ports[cn.nconnect_ports++] = 8443;
    cr_expect(policy_connect_port_allowed(&cn, 443));
    cr_expect(policy_connect_port_allowed(&cn, 8443));
    cr_expect_not(policy_connect_port_allowed(&cn, 22));
    cr_expect_not(policy_connect_port_allowed(&cn, 80));
}

Test(policy, host_denied_before_resolution)
{
    static const char *const denied[] = {
        "127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "localhost", "LocalHost.",
        "a.localhost", "b.LOCALHOST.",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(denied); i++)
        cr_expect(policy_host_denied(&cn, denied[i]), "%s", denied[i]);
    /* names are left to resolution; public literals pass */
    static const char *const passed[] = {
        "example.com", "localhost.example.com", "notlocalhost", "93.184.216.34", "2606:2800:220:1::1",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(passed); i++)
        cr_expect_not(policy_host_denied(&cn, passed[i]), "%s", passed[i]);
    cn.is_private_dest_allowed = 1;
    cr_expect_not(policy_host_denied(&cn, "localhost"));
    cr_expect_not(policy_host_denied(&cn, "10.0.0.1"));
}

Test(policy, open_proxy_guard)
{
    struct pf_err err;
    pf_err_clear(&err);
    cr_expect_eq(policy_check_open_proxy(&cn, &err), PF_OK);       /* loopback */
    snprintf(cn.listen, sizeof(cn.listen), "[::1]:3128");
    cr_expect_eq(policy_check_open_proxy(&cn, &err), PF_OK);
    snprintf(cn.socks5_listen, sizeof(cn.socks5_listen), "0.0.0.0:1080");
    cr_expect_eq(policy_check_open_proxy(&cn, &err), PF_EDENIED);
    cr_expect(strstr(err.msg, "node.socks5_listen 0.0.0.0:1080 is not on loopback") != NULL, "%s", err.msg);
    cn.is_anonymous_allowed = 1;
    cr_expect_eq(policy_check_open_proxy(&cn, &err), PF_OK);
    cn.is_anonymous_allowed = 0;
    struct conf_user u = { .user = "alice", .pass = "secret" };
    cn.users = &u;
    cn.nusers = 1;
    cr_expect_eq(policy_check_open_proxy(&cn, &err), PF_OK);
    cn.users = NULL;
    cn.nusers = 0;
    cn.is_redis_users = 1;          /* users from Redis: authentication is on */
    cr_expect_eq(policy_check_open_proxy(&cn, &err), PF_OK);
    cn.is_redis_users = 0;
    cn.nusers = 0;
    cn.socks5_listen[0] = '\0';
    snprintf(cn.listen, sizeof(cn.listen), "10.0.0.5:3128");
    pf_err_clear(&err);
    cr_expect_eq(policy_check_open_proxy(&cn, &err), PF_EDENIED);
    cr_expect(strstr(err.msg, "node.listen 10.0.0.5:3128") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "secret") == NULL);
}
