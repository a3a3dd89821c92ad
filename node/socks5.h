/* SOCKS5 wire format (RFC 1928) and username/password sub-negotiation
 * (RFC 1929), both sides: parsers for what a client sends to us (greeting,
 * credentials, request) and for what an upstream SOCKS5 proxy answers
 * (method choice, auth status, reply), and encoders for the other
 * direction. Pure: no libevent, no sockets, no logging, so it is
 * unit-tested and fuzzed on its own.
 *
 * Every parser takes the accumulated input <buf> of <len> bytes and returns
 * PF_OK (one message parsed; <*used> says how many bytes it took), PF_EAGAIN
 * (the message is incomplete: call again with more bytes), or an error.
 * Parsers never read past <len> and never keep pointers into <buf>. */
#ifndef PF_NODE_SOCKS5_H
#define PF_NODE_SOCKS5_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"

struct sockaddr;

#define SOCKS5_VERSION          0x05
#define SOCKS5_AUTH_VERSION     0x01   /* RFC 1929 sub-negotiation version */

#define SOCKS5_METHOD_NONE      0x00
#define SOCKS5_METHOD_USERPASS  0x02
#define SOCKS5_METHOD_NO_ACCEPTABLE 0xff

#define SOCKS5_CMD_CONNECT      0x01
#define SOCKS5_CMD_BIND         0x02
#define SOCKS5_CMD_UDP          0x03

#define SOCKS5_ATYP_IPV4        0x01
#define SOCKS5_ATYP_NAME        0x03
#define SOCKS5_ATYP_IPV6        0x04

enum socks5_rep {
    SOCKS5_REP_SUCCEEDED = 0x00,
    SOCKS5_REP_GENERAL = 0x01,          /* general SOCKS server failure */
    SOCKS5_REP_NOT_ALLOWED = 0x02,      /* connection not allowed by ruleset */
    SOCKS5_REP_NET_UNREACHABLE = 0x03,
    SOCKS5_REP_HOST_UNREACHABLE = 0x04,
    SOCKS5_REP_REFUSED = 0x05,
    SOCKS5_REP_TTL_EXPIRED = 0x06,
    SOCKS5_REP_CMD_UNSUPPORTED = 0x07,
    SOCKS5_REP_ATYP_UNSUPPORTED = 0x08,
};

#define SOCKS5_NAME_MAX   255     /* domain name length limit of the wire format */
#define SOCKS5_CRED_MAX   255     /* RFC 1929 ULEN/PLEN limit */
/* Longest request/reply: VER CMD RSV ATYP LEN name[255] PORT[2]. */
#define SOCKS5_REQUEST_MAX (4 + 1 + SOCKS5_NAME_MAX + 2)
/* Longest client greeting: VER NMETHODS METHODS[255]. */
#define SOCKS5_GREETING_MAX (2 + 255)
/* Longest RFC 1929 request: VER ULEN UNAME[255] PLEN PASSWD[255]. */
#define SOCKS5_USERPASS_MAX (3 + 2 * SOCKS5_CRED_MAX)

/* --- server side: what a client sends ----------------------------------- */

struct socks5_greeting {
    uint8_t methods[255];
    size_t  nmethods;           /* 1..255 */
};

/* Parses a client greeting (VER NMETHODS METHODS). Returns PF_OK, PF_EAGAIN,
 * or PF_EPROTO when VER is not 5 or NMETHODS is 0. */
int socks5_parse_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *out,
                          size_t *used) PF_MUSTCHECK;

/* Returns 1 when <g> offers <method>. */
int socks5_greeting_has(const struct socks5_greeting *g, uint8_t method);

struct socks5_userpass {
    char   user[SOCKS5_CRED_MAX + 1];   /* NUL-terminated; may hold NUL bytes: use user_len */
    size_t user_len;                    /* 1..255 */
    char   pass[SOCKS5_CRED_MAX + 1];   /* never logged */
    size_t pass_len;                    /* 1..255 */
};

/* Parses an RFC 1929 request (VER ULEN UNAME PLEN PASSWD). Returns PF_OK,
 * PF_EAGAIN, or PF_EPROTO when VER is not 1 or a length is 0. The caller
 * should wipe <out> after use. */
int socks5_parse_userpass(const uint8_t *buf, size_t len, struct socks5_userpass *out,
                          size_t *used) PF_MUSTCHECK;

struct socks5_request {
    uint8_t  cmd;                        /* any value: the caller decides what it supports */
    uint8_t  atyp;                       /* SOCKS5_ATYP_* */
    char     host[SOCKS5_NAME_MAX + 1];  /* dotted IPv4, IPv6 text (no brackets) or name */
    uint16_t port;                       /* host order, 1..65535 */
    uint8_t  err_rep;                    /* on PF_EINVAL/PF_EPROTO: the reply code to send */
};

/* Parses a request (VER CMD RSV ATYP DST.ADDR DST.PORT). Returns PF_OK,
 * PF_EAGAIN, PF_EPROTO (VER not 5 or RSV not 0; err_rep GENERAL), or
 * PF_EINVAL: unknown ATYP (err_rep ATYP_UNSUPPORTED), or an empty name, a
 * name with bytes outside [A-Za-z0-9._-], or port 0 (err_rep GENERAL). */
int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *out,
                         size_t *used) PF_MUSTCHECK;

/* Writes a reply VER REP RSV ATYP BND.ADDR BND.PORT into <buf> of <len>
 * bytes: BND is <bound> (AF_INET or AF_INET6) or 0.0.0.0:0 when NULL.
 * Returns the byte count (10 or 22), or PF_ERANGE when <len> is too small. */
int socks5_encode_reply(uint8_t rep, const struct sockaddr *bound, uint8_t *buf, size_t len);

/* --- client side: talking to an upstream SOCKS5 proxy ------------------- */

/* Writes a greeting offering "no auth" and, when <has_credentials>, also
 * username/password. Returns the byte count or PF_ERANGE. */
int socks5_encode_greeting(int has_credentials, uint8_t *buf, size_t len);

/* Parses the server's method choice (VER METHOD). Returns PF_OK (method in
 * <*method>, may be 0xff), PF_EAGAIN, or PF_EPROTO when VER is not 5. */
int socks5_parse_method(const uint8_t *buf, size_t len, uint8_t *method,
                        size_t *used) PF_MUSTCHECK;

/* Writes an RFC 1929 request for <user>/<pass> (NUL-terminated). Returns
 * the byte count, PF_EINVAL when either is empty or longer than 255 bytes,
 * or PF_ERANGE when <len> is too small. The caller should wipe <buf>. */
int socks5_encode_userpass(const char *user, const char *pass, uint8_t *buf, size_t len);

/* Parses the RFC 1929 status (VER STATUS). Returns PF_OK (<*status>, 0 =
 * success), PF_EAGAIN, or PF_EPROTO when VER is not 1. */
int socks5_parse_auth_status(const uint8_t *buf, size_t len, uint8_t *status,
                             size_t *used) PF_MUSTCHECK;

/* Writes a request for <cmd> to <host>:<port>: an IPv4 or IPv6 literal
 * (no brackets) goes as an address, anything else as a domain name.
 * Returns the byte count, PF_EINVAL for an empty or over-long name, or
 * PF_ERANGE when <len> is too small. */
int socks5_encode_request(uint8_t cmd, const char *host, uint16_t port, uint8_t *buf, size_t len);

/* Parses a server reply (VER REP RSV ATYP BND.ADDR BND.PORT). Returns PF_OK
 * (<*rep> set; the bound address is skipped), PF_EAGAIN, or PF_EPROTO when
 * VER is not 5, RSV is not 0 or ATYP is unknown. */
int socks5_parse_reply(const uint8_t *buf, size_t len, uint8_t *rep, size_t *used) PF_MUSTCHECK;

/* Short name of reply code <rep> for logs, e.g. "connection refused". */
const char *socks5_rep_name(uint8_t rep);

#endif
