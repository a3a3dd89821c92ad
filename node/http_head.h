/* Strict, incremental HTTP/1.x message head parser (requests and responses)
 * and body framing decoders. Pure: no libevent, no sockets, no logging, so
 * it is unit-tested and fuzzed on its own.
 *
 * Strictness (request smuggling defence, RFC 9112): CRLF line endings only
 * (a bare LF or bare CR is an error), no obs-fold, no control characters,
 * no space before the colon, tokens for methods and header names, exactly
 * HTTP/1.0 or HTTP/1.1, Content-Length digits only and never two different
 * values, never both Content-Length and Transfer-Encoding, and a
 * Transfer-Encoding must end with a single "chunked". */
#ifndef PF_NODE_HTTP_HEAD_H
#define PF_NODE_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pf.h"

#define HTTP_HEAD_MAX_HEADERS 128
#define HTTP_METHOD_MAX       32
#define HTTP_CHUNK_TRAILER_MAX 32768

enum http_head_kind {
    HTTP_HEAD_REQUEST = 0,
    HTTP_HEAD_RESPONSE,
};

enum http_framing {
    HTTP_FRAMING_NONE = 0,      /* no body */
    HTTP_FRAMING_LENGTH,        /* Content-Length bytes */
    HTTP_FRAMING_CHUNKED,       /* chunked transfer coding, up to the trailers */
    HTTP_FRAMING_UNTIL_CLOSE,   /* response body ends at EOF */
};

struct http_header {
    const char *name;           /* NUL-terminated, inside http_head.raw */
    size_t      name_len;
    const char *value;          /* NUL-terminated, OWS trimmed */
    size_t      value_len;
};

struct http_head {
    enum http_head_kind kind;
    size_t   max_bytes;         /* whole head including the final CRLF */
    /* parse progress (offsets into the caller's buffer) */
    size_t   line_start;        /* first byte of the current line */
    size_t   scan;              /* next byte to examine */
    int      nlines;            /* complete non-empty lines so far */
    uint32_t sl[3][2];          /* (off, len) of the start line's three parts */
    uint32_t hf[HTTP_HEAD_MAX_HEADERS][4]; /* (name off, len, value off, len) */
    int      is_complete;
    /* results, valid once http_head_parse() returned PF_OK */
    char    *raw;               /* owned: NUL-split copy of the head */
    size_t   head_len;          /* bytes of the head in the input, final CRLF included */
    const char *method;         /* request: e.g. "GET" */
    const char *target;         /* request: as sent */
    int      version_minor;     /* 0 or 1 */
    int      status;            /* response: 100..999 */
    const char *reason;         /* response: may be "" */
    struct http_header headers[HTTP_HEAD_MAX_HEADERS];
    size_t   nheaders;
    int64_t  content_length;    /* -1 when absent */
    int      is_chunked;        /* Transfer-Encoding ends with chunked */
    int      is_conn_close;     /* Connection: close */
    int      is_conn_keep_alive;/* Connection: keep-alive */
    int      nhost;             /* Host headers seen */
    struct pf_err err;          /* why parsing failed */
};

/* Prepares <h> to parse one head of <kind>, at most <max_bytes> long. */
void http_head_init(struct http_head *h, enum http_head_kind kind, size_t max_bytes);

/* Frees what <h> owns (accepts NULL); http_head_init() may follow. */
void http_head_deinit(struct http_head *h);

/* Allocates a head ready to parse one head of <kind> (http_head_init()), so
 * that idle connections and tunnels hold none. Returns it or NULL. */
struct http_head *http_head_create(enum http_head_kind kind, size_t max_bytes);

/* http_head_deinit() and frees <h> (accepts NULL). */
void http_head_destroy(struct http_head *h);

/* Parses the accumulated input <buf> of <len> bytes. Each call must present
 * the same bytes as the previous call plus possibly more (the parser keeps
 * offsets, not pointers, so <buf> may move). Returns:
 *   PF_OK      the head is complete: results are filled in and copied, and
 *              <h>->head_len says how many bytes of <buf> it used;
 *   PF_EAGAIN  need more bytes;
 *   PF_ERANGE  the head is longer than max_bytes or has too many headers;
 *   PF_EINVAL  syntax or framing error (reason in <h>->err).
 * After an error or PF_OK, further calls return the same status. */
int http_head_parse(struct http_head *h, const char *buf, size_t len) PF_MUSTCHECK;

/* Returns the value of the first header named <name> (case-insensitive), or NULL. */
const char *http_head_get(const struct http_head *h, const char *name);

/* Returns 1 when the comma-separated list in header value <value> contains
 * <token> (case-insensitive). */
int http_list_has_token(const char *value, const char *token);

/* Returns 1 when header <idx> of <h> is hop-by-hop: Connection, Keep-Alive,
 * Proxy-Connection, Proxy-Authorization, Proxy-Authenticate, TE, Trailer,
 * Upgrade, or a name listed in a Connection header. Transfer-Encoding is
 * kept: bodies are relayed with their coding unchanged. */
int http_head_is_hop_by_hop(const struct http_head *h, size_t idx);

/* 1 when request method <method> is idempotent (RFC 9110 9.2.2: GET, HEAD,
 * OPTIONS, TRACE, PUT, DELETE), so a proxy may send it again after a
 * failure; 0 for any other method, which a proxy must not replay. */
int http_method_is_idempotent(const char *method);

/* Request body framing of a complete request head. */
enum http_framing http_head_request_framing(const struct http_head *req);

/* Response body framing of a complete response head, given whether the
 * request was HEAD (<is_head_request>): none for HEAD, 1xx, 204 and 304. */
enum http_framing http_head_response_framing(const struct http_head *resp, int is_head_request);

/* Parsed request target. */
struct http_target {
    char     host[256];         /* name or IP literal, IPv6 without brackets */
    uint16_t port;
    int      is_ipv6;
    char    *path;              /* owned: origin-form path+query, "/" at least; NULL for CONNECT */
};

/* Parses <target>: authority-form host:port when <is_connect>, else
 * absolute-form http://host[:port][/path]. Rejects origin-form, https://,
 * userinfo, empty host and bad ports. Returns PF_OK or PF_EINVAL (reason in
 * <err>). Free with http_target_deinit(). */
int http_target_parse(const char *target, int is_connect, struct http_target *out,
                      struct pf_err *err) PF_MUSTCHECK;
void http_target_deinit(struct http_target *t);

/* Chunked transfer-coding decoder: tracks where the body ends while the
 * bytes are streamed through unchanged. */
struct http_chunked {
    int      state;
    uint64_t remaining;         /* bytes left in the current chunk */
    int      ndigits;
    size_t   trailer_bytes;
};

/* Body framing tracker for one message. */
struct http_body {
    enum http_framing framing;
    uint64_t remaining;         /* LENGTH: bytes left */
    struct http_chunked ch;     /* CHUNKED */
    int      is_done;
};

/* Starts tracking a body of <framing> and <content_length> (LENGTH only). */
void http_body_init(struct http_body *b, enum http_framing framing, int64_t content_length);

/* Feeds <len> bytes of body at <buf>; sets <consumed> to how many belong to
 * this body (the rest belongs to the next message). Returns PF_OK when the
 * body is complete, PF_EAGAIN when more is expected (UNTIL_CLOSE always),
 * PF_EPROTO on a malformed chunked coding. */
int http_body_feed(struct http_body *b, const char *buf, size_t len, size_t *consumed) PF_MUSTCHECK;

/* http_body_feed() that also copies the payload among the bytes consumed
 * (a chunked body without its sizes, extensions and trailers) to <out>,
 * up to <cap> bytes in all: <*out_len> grows by what was copied. For
 * reading the start of a body without moving it (ban_rule.h). */
int http_body_feed_payload(struct http_body *b, const char *buf, size_t len, size_t *consumed,
                           char *out, size_t cap, size_t *out_len) PF_MUSTCHECK;

#endif
