/* The Redis and Sentinel replies both binaries act on, read from bytes:
 * the class of an error reply (AUTH refused, READONLY), the role in a ROLE
 * reply, the master address a sentinel answers to
 * SENTINEL get-master-addr-by-name, and the "+switch-master" notice.
 * Everything here parses untrusted bytes from the network: lengths are
 * explicit, nothing is assumed NUL-terminated, and no error message quotes
 * the input. Pure: no I/O (fuzz/fuzz_redis_proto.c drives it). */
#ifndef PF_REDIS_PROTO_H
#define PF_REDIS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The Sentinel channel that announces a failover (Sentinel's own name, not
 * one of the fleet's keys: docs/redis-keys.md lists it). */
#define REDIS_PROTO_SWITCH_CHANNEL "+switch-master"

#define REDIS_PROTO_MASTER_NAME_MAX 64   /* redis.master_name, with the NUL */

enum redis_proto_error {
    REDIS_PROTO_ERR_OTHER = 0,
    REDIS_PROTO_ERR_AUTH,        /* WRONGPASS, NOAUTH, "ERR invalid password", AUTH without requirepass */
    REDIS_PROTO_ERR_READONLY,    /* READONLY: the server is a replica now */
};

enum redis_proto_role {
    REDIS_PROTO_ROLE_UNKNOWN = 0,
    REDIS_PROTO_ROLE_MASTER,
    REDIS_PROTO_ROLE_REPLICA,    /* "slave" on the wire */
    REDIS_PROTO_ROLE_SENTINEL,
};

/* The class of error reply text <s> of <len> bytes (without the '-'). */
enum redis_proto_error redis_proto_error_class(const char *s, size_t len);

/* The role named by the first element of a ROLE reply, <s> of <len> bytes
 * (NULL = not a string: UNKNOWN). */
enum redis_proto_role redis_proto_role(const char *s, size_t len);

/* "master", "replica", "sentinel" or "unknown", for log lines. */
const char *redis_proto_role_name(enum redis_proto_role role);

/* Validates the two strings of a sentinel's answer to SENTINEL
 * get-master-addr-by-name: <host> (<hlen> bytes: a host name or an IPv4 or
 * IPv6 address, no brackets) and <port> (<plen> decimal digits, 1..65535).
 * Fills <out_host> (<out_len> bytes) and <*out_port>. Returns PF_OK or
 * PF_EINVAL with a reason in <err>. */
int redis_proto_master_addr(const char *host, size_t hlen, const char *port, size_t plen,
                            char *out_host, size_t out_len, uint16_t *out_port,
                            struct pf_err *err) PF_MUSTCHECK;

/* Parses a "+switch-master" message, "<name> <old-ip> <old-port> <new-ip>
 * <new-port>" (<len> bytes at <payload>). For master <master_name> fills
 * <host>/<*port> with the new master and returns PF_OK; returns PF_ENOENT
 * when the message is about another master, PF_EINVAL (reason in <err>)
 * when it is malformed. */
int redis_proto_switch_master(const char *payload, size_t len, const char *master_name,
                              char *host, size_t host_len, uint16_t *port,
                              struct pf_err *err) PF_MUSTCHECK;

#endif
