/* Requests and bytes per provider; see provider_stats.h. */
#include "provider_stats.h"

#include <stdio.h>
#include <string.h>

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot holding <name>, or the empty slot where it would go. */
static size_t find_slot(const struct provider_stats *ps, const char *name)
{
    size_t i = name_hash(name) & (PROVIDER_STATS_SLOTS - 1);
    while (ps->slot[i] != 0 && strcmp(ps->rows[ps->slot[i] - 1].name, name) != 0)
        i = (i + 1) & (PROVIDER_STATS_SLOTS - 1);
    return i;
}

const struct provider_stats_row *provider_stats_find(const struct provider_stats *ps,
                                                     const char *name)
{
    size_t i = find_slot(ps, name);
    return ps->slot[i] != 0 ? &ps->rows[ps->slot[i] - 1] : NULL;
}

void provider_stats_add(struct provider_stats *ps, const char *name, uint64_t bytes_in,
                        uint64_t bytes_out)
{
    struct provider_stats_row *r;
    if (name == NULL || name[0] == '\0')
        return;
    size_t i = find_slot(ps, name);
    if (ps->slot[i] != 0) {
        r = &ps->rows[ps->slot[i] - 1];
    } else if (ps->n < PROVIDER_STATS_MAX) {
        r = &ps->rows[ps->n++];
        snprintf(r->name, sizeof(r->name), "%s", name);
        ps->slot[i] = (uint16_t)ps->n;
    } else {
        r = &ps->other;
        snprintf(r->name, sizeof(r->name), "%s", PROVIDER_STATS_OTHER);
    }
    r->requests++;
    r->bytes_in += bytes_in;
    r->bytes_out += bytes_out;
}
