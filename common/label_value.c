/* The label values of a pool record; see label_value.h. */
#include "label_value.h"

#include <stdio.h>
#include <string.h>

#include "str.h"

char *label_value_field(struct upstream_labels *l, enum user_label lab)
{
    switch (lab) {
    case USER_LABEL_COUNTRY: return l->country;
    case USER_LABEL_REGION:  return l->region;
    case USER_LABEL_CITY:    return l->city;
    case USER_LABEL_ISP:     return l->isp;
    case USER_LABEL_ASN:     return l->asn;
    default:                 return NULL;
    }
}

int label_value_check(enum user_label lab, const char *v, size_t len, struct pf_err *err)
{
    if (len == 0)
        return pf_err_set(err, PF_EINVAL, "empty");
    if (len >= UPSTREAM_LABEL_MAX)
        return pf_err_set(err, PF_EINVAL, "longer than %d bytes", UPSTREAM_LABEL_MAX - 1);
    if (str_has_nul(v, len) || !str_is_clean_text(v, len))
        return pf_err_set(err, PF_EINVAL, "not clean UTF-8 text");
    if (lab == USER_LABEL_ASN) {
        size_t i = (len > 2 && (v[0] == 'A' || v[0] == 'a') && (v[1] == 'S' || v[1] == 's')) ? 2 : 0;
        size_t digits = len - i;
        if (digits == 0 || digits > 10)
            return pf_err_set(err, PF_EINVAL, "an asn is 1..10 digits, optionally after AS");
        for (; i < len; i++)
            if (v[i] < '0' || v[i] > '9')
                return pf_err_set(err, PF_EINVAL, "an asn is 1..10 digits, optionally after AS");
    }
    return PF_OK;
}

int label_value_set(struct upstream_labels *l, enum user_label lab, const char *v, size_t len,
                    struct pf_err *err)
{
    char *dst = label_value_field(l, lab);
    if (dst == NULL)
        return pf_err_set(err, PF_EINVAL, "%s is not a record label", user_label_name(lab));
    dst[0] = '\0';
    int rc = label_value_check(lab, v, len, err);
    if (rc != PF_OK)
        return rc;
    memcpy(dst, v, len);
    dst[len] = '\0';
    return PF_OK;
}

static void merge_one(char *to, const char *from)
{
    if (to[0] == '\0' && from[0] != '\0')
        snprintf(to, UPSTREAM_LABEL_MAX, "%s", from);
}

void label_value_merge(struct upstream_labels *dst, const struct upstream_labels *defaults)
{
    merge_one(dst->country, defaults->country);
    merge_one(dst->region, defaults->region);
    merge_one(dst->city, defaults->city);
    merge_one(dst->isp, defaults->isp);
    merge_one(dst->asn, defaults->asn);
}
