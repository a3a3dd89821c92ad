/* proxyfleet-ctl's text view of the fleet model (pure: writes to a FILE):
 * the one-screen status and the lists. Colours (ANSI) only when asked
 * (the caller decides: a TTY, --color). */
#ifndef PF_CTL_TEXT_H
#define PF_CTL_TEXT_H

#include <stdio.h>

#include "fleet-t.h"

struct ctl_upstream_filter {
    const char *provider;          /* NULL = any */
    const char *label_key;         /* "country", "city", "isp"; NULL = any */
    const char *label_value;
    int         has_state;
    enum fleet_health state;
};

/* 1 when <u> passes <flt>. */
int ctl_upstream_match(const struct fleet_upstream *u, const struct ctl_upstream_filter *flt);

#define CTL_TEXT_BANS_RECENT 5   /* bans `status` lists (the newest) */

/* The newest <limit> active bans of <f>, a table (and what was skipped). */
void ctl_text_bans(FILE *out, const struct fleet *f, size_t limit);

void ctl_text_status(FILE *out, const struct fleet *f, int is_color);
void ctl_text_providers(FILE *out, const struct fleet *f, int is_color);
void ctl_text_nodes(FILE *out, const struct fleet *f, int is_color);
void ctl_text_upstreams(FILE *out, const struct fleet *f, const struct ctl_upstream_filter *flt,
                        int is_color);

#endif
