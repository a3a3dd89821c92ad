/* Leveled, line-oriented logging for the node and controller shells.
 * common/ library modules never call these; they fill a struct pf_err. */
#ifndef PF_LOG_H
#define PF_LOG_H

#include "pf.h"

enum pf_log_level {
    PF_LOG_ERROR = 0,
    PF_LOG_WARN  = 1,
    PF_LOG_INFO  = 2,
    PF_LOG_DEBUG = 3,
};

/* Sets the threshold; messages above <level> are dropped. */
void log_set_level(enum pf_log_level level);
enum pf_log_level log_get_level(void);

/* Parses "error", "warn", "info" or "debug" into <out>. Returns PF_OK or PF_EINVAL. */
int log_parse_level(const char *name, enum pf_log_level *out) PF_MUSTCHECK;

/* Sets the program name printed on every line (borrowed, must outlive logging). */
void log_set_ident(const char *ident);

/* Writes one line to stderr: "2026-11-21T23:40:01.123Z node INFO file.c:42 msg".
 * Never pass credentials: format addresses with addr_format_safe(). */
void log_write(enum pf_log_level level, const char *file, int line,
               const char *fmt, ...) PF_PRINTF(4, 5);

#define log_at(lvl, ...) \
    do { if ((lvl) <= log_get_level()) log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define log_error(...) log_at(PF_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(PF_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(PF_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(PF_LOG_DEBUG, __VA_ARGS__)

#endif
