/* Node outcome counters -> deltas. See passive.h. */
#include "passive.h"

#include <stdlib.h>
#include <string.h>

void passive_init(struct passive *ps)
{
    memset(ps, 0, sizeof(*ps));
}

void passive_deinit(struct passive *ps)
{
    if (ps == NULL)
        return;
    for (size_t i = 0; i < ps->n; i++)
        free(ps->nodes[i].counts);
    free(ps->nodes);
    memset(ps, 0, sizeof(*ps));
}

void passive_round_begin(struct passive *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        ps->nodes[i].is_seen = 0;
    ps->is_in_round = 1;
}

void passive_round_end(struct passive *ps)
{
    size_t k = 0;

    for (size_t i = 0; i < ps->n; i++) {
        if (ps->nodes[i].is_seen)
            ps->nodes[k++] = ps->nodes[i];
        else
            free(ps->nodes[i].counts);
    }
    ps->n = k;
    ps->has_baseline = 1;
    ps->is_in_round = 0;
}

static int passive_count_cmp(const void *a, const void *b)
{
    return strcmp(((const struct passive_count *)a)->id, ((const struct passive_count *)b)->id);
}

static struct passive_node *passive_find_node(struct passive *ps, const char *node_id)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->nodes[i].id, node_id) == 0)
            return &ps->nodes[i];
    return NULL;
}

/* 1 when <cur> cannot follow <prev>: a counter went down or an upstream
 * the node had reported is gone. Both sorted by id. */
static int passive_is_restart(const struct passive_count *prev, size_t nprev,
                              const struct passive_count *cur, size_t ncur)
{
    size_t j = 0;

    for (size_t i = 0; i < nprev; i++) {
        while (j < ncur && strcmp(cur[j].id, prev[i].id) < 0)
            j++;
        if (j == ncur || strcmp(cur[j].id, prev[i].id) != 0)
            return 1;
        if (cur[j].attempts < prev[i].attempts || cur[j].failures < prev[i].failures)
            return 1;
    }
    return 0;
}

int passive_node_update(struct passive *ps, const char *node_id, struct passive_count *cur,
                        size_t n, passive_delta_fn fn, void *arg)
{
    struct passive_node *node;
    size_t len = strlen(node_id);

    if (len == 0 || len >= PASSIVE_NODE_ID_MAX) {
        free(cur);
        return PF_EINVAL;
    }
    if (n > 1)
        qsort(cur, n, sizeof(*cur), passive_count_cmp);
    /* Duplicates cannot come from a Redis hash; drop them if a caller sends any. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && strcmp(cur[m - 1].id, cur[i].id) == 0)
            continue;
        if (cur[i].failures > cur[i].attempts)
            cur[i].failures = cur[i].attempts;
        cur[m++] = cur[i];
    }
    n = m;

    node = passive_find_node(ps, node_id);
    if (node == NULL) {
        if (ps->n == ps->cap) {
            size_t cap = ps->cap ? ps->cap * 2 : 8;
            struct passive_node *p = realloc(ps->nodes, cap * sizeof(*p));
            if (p == NULL) {
                free(cur);
                return PF_ENOMEM;
            }
            ps->nodes = p;
            ps->cap = cap;
        }
        node = &ps->nodes[ps->n++];
        memset(node, 0, sizeof(*node));
        memcpy(node->id, node_id, len + 1);
        /* In the first round every node is a baseline. */
        if (ps->has_baseline)
            for (size_t i = 0; i < n; i++)
                if (cur[i].attempts > 0)
                    fn(cur[i].id, cur[i].attempts, cur[i].failures, arg);
    } else if (passive_is_restart(node->counts, node->n, cur, n)) {
        for (size_t i = 0; i < n; i++)
            if (cur[i].attempts > 0)
                fn(cur[i].id, cur[i].attempts, cur[i].failures, arg);
    } else {
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            while (j < node->n && strcmp(node->counts[j].id, cur[i].id) < 0)
                j++;
            uint64_t a = cur[i].attempts, f = cur[i].failures;
            if (j < node->n && strcmp(node->counts[j].id, cur[i].id) == 0) {
                a -= node->counts[j].attempts;
                f -= node->counts[j].failures;
            }
            if (a > 0 || f > 0)
                fn(cur[i].id, a, f, arg);
        }
    }
    free(node->counts);
    node->counts = cur;
    node->n = n;
    node->is_seen = 1;
    return PF_OK;
}

int passive_parse_value(const char *s, size_t len, uint64_t *attempts, uint64_t *failures)
{
    uint64_t v[2] = { 0, 0 };
    size_t i = 0;

    *attempts = 0;
    *failures = 0;
    for (int k = 0; k < 2; k++) {
        size_t digits = 0;
        if (k == 1) {
            if (i >= len || s[i] != ' ')
                return PF_EINVAL;
            i++;
        }
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (digits >= 19)
                return PF_EINVAL;   /* keeps v below 10^19 < 2^64 */
            v[k] = v[k] * 10 + (uint64_t)(s[i] - '0');
        }
        if (digits == 0)
            return PF_EINVAL;
    }
    if (i != len)
        return PF_EINVAL;
    *attempts = v[0];
    *failures = v[1] > v[0] ? v[0] : v[1];
    return PF_OK;
}
