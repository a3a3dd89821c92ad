/* Per-connection log lines (STYLE rule 21): every line about a client
 * connection starts "c<id> <peer>: " (in JSON: the fields "conn" and
 * "peer", log_write_conn()). <c> is anything with a uint64_t id
 * and a peer string: a struct conn, or the tunnel relaying for it. Never
 * pass credentials; format upstreams with addr_format_safe(). */
#ifndef PF_NODE_CLOG_H
#define PF_NODE_CLOG_H

#include "log.h"

#define clog_at(lvl, c, fmt, ...) \
    do { \
        if ((lvl) <= log_get_level()) \
            log_write_conn((lvl), __FILE__, __LINE__, (c)->id, (c)->peer, fmt, __VA_ARGS__); \
    } while (0)
#define clog_error(c, fmt, ...) clog_at(PF_LOG_ERROR, (c), fmt, __VA_ARGS__)
#define clog_warn(c, fmt, ...)  clog_at(PF_LOG_WARN, (c), fmt, __VA_ARGS__)
#define clog_info(c, fmt, ...)  clog_at(PF_LOG_INFO, (c), fmt, __VA_ARGS__)
#define clog_debug(c, fmt, ...) clog_at(PF_LOG_DEBUG, (c), fmt, __VA_ARGS__)

#endif
