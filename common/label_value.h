/* The label values of a pool record (struct upstream_labels): which label
 * of the targeting vocabulary (common/user_params.h, enum user_label) each
 * field holds, what a valid value is, and how a provider's static labels
 * combine with those of its entries.
 *
 * A value is 1..UPSTREAM_LABEL_MAX-1 bytes of clean UTF-8 (no control
 * character, no invalid sequence); an asn is 1..10 digits, optionally
 * after "AS" (any case). Values are kept as the provider spells them;
 * matching normalises both sides (user_params_norm()).
 *
 * Where both give a label, the entry's own field (json.labels) wins over
 * the provider's static "labels": the static ones are defaults for what
 * the provider's API does not say.
 *
 * Pure (tests/unit/test_label_value.c). Reasons never quote the value. */
#ifndef PF_LABEL_VALUE_H
#define PF_LABEL_VALUE_H

#include <stddef.h>

#include "err.h"
#include "pf.h"
#include "upstream-t.h"
#include "user_params.h"

/* The field of <l> that holds label <lab>, or NULL for the labels a record
 * carries elsewhere (provider, tier). */
char *label_value_field(struct upstream_labels *l, enum user_label lab);

/* Checks value <v> of <len> bytes for label <lab>. Returns PF_OK, or
 * PF_EINVAL with the reason in <err> ("empty", "longer than 63 bytes",
 * "not clean UTF-8 text", "an asn is digits, optionally after AS"). */
int label_value_check(enum user_label lab, const char *v, size_t len,
                      struct pf_err *err) PF_MUSTCHECK;

/* Sets label <lab> of <l> to <v> of <len> bytes when it passes
 * label_value_check(); else leaves it "" and returns PF_EINVAL. */
int label_value_set(struct upstream_labels *l, enum user_label lab, const char *v, size_t len,
                    struct pf_err *err) PF_MUSTCHECK;

/* Fills every empty label of <dst> from <defaults> (the entry's own
 * values win). */
void label_value_merge(struct upstream_labels *dst, const struct upstream_labels *defaults);

#endif
