/* Unit tests for common/pwhash.c: the scrypt hash string, its strict
 * parser, and hashes that agree with another implementation (Python's
 * hashlib.scrypt wrote KNOWN). */
#include <criterion/criterion.h>
#include <string.h>

#include "pwhash.h"

/* hashlib.scrypt(b"secret-pw", salt=bytes(range(16)), n=16, r=8, p=1, dklen=32) */
#define KNOWN "$scrypt$ln=4,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo"

static const uint8_t salt16[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

Test(pwhash, encode_matches_python_hashlib)
{
    char out[PWHASH_TEXT_MAX];
    struct pf_err err = { 0 };
    cr_assert_eq(pwhash_encode("secret-pw", 9, 4, 8, 1, salt16, 16, out, sizeof(out), &err), PF_OK,
                 "%s", err.msg);
    cr_assert_str_eq(out, KNOWN);
}

Test(pwhash, parse_and_verify)
{
    struct pwhash h;
    struct pf_err err = { 0 };
    cr_assert_eq(pwhash_parse(KNOWN, strlen(KNOWN), &h, &err), PF_OK, "%s", err.msg);
    cr_assert_eq(h.ln, 4);
    cr_assert_eq(h.r, 8);
    cr_assert_eq(h.p, 1);
    cr_assert_eq(h.salt_len, 16);
    cr_assert_eq(h.hash_len, 32);
    cr_assert_eq(memcmp(h.salt, salt16, 16), 0);
    cr_assert_eq(pwhash_verify(&h, "secret-pw", 9), 1);
    cr_assert_eq(pwhash_verify(&h, "secret-pX", 9), 0);
    cr_assert_eq(pwhash_verify(&h, "secret-p", 8), 0);
    cr_assert_eq(pwhash_verify(&h, "", 0), 0);
}

Test(pwhash, round_trip_with_other_costs)
{
    char out[PWHASH_TEXT_MAX];
    struct pwhash h;
    static const uint8_t salt8[8] = { 9, 9, 9, 9, 1, 2, 3, 4 };
    cr_assert_eq(pwhash_encode("p\0w", 3, 6, 2, 3, salt8, 8, out, sizeof(out), NULL), PF_OK);
    cr_assert_eq(pwhash_parse(out, strlen(out), &h, NULL), PF_OK, "%s", out);
    cr_assert_eq(h.ln, 6);
    cr_assert_eq(h.r, 2);
    cr_assert_eq(h.p, 3);
    cr_assert_eq(pwhash_verify(&h, "p\0w", 3), 1);
    cr_assert_eq(pwhash_verify(&h, "p", 1), 0);
    cr_assert_eq(pwhash_mem_bytes(&h), 128u * 2 * 64 + 128u * 2 * 3);
}

Test(pwhash, encode_refuses_bad_cost_salt_and_short_buffer)
{
    char out[PWHASH_TEXT_MAX];
    struct pf_err err = { 0 };
    cr_assert_eq(pwhash_encode("x", 1, 0, 8, 1, salt16, 16, out, sizeof(out), &err), PF_EINVAL);
    cr_assert_eq(pwhash_encode("x", 1, PWHASH_LN_MAX + 1, 8, 1, salt16, 16, out, sizeof(out), NULL),
                 PF_EINVAL);
    cr_assert_eq(pwhash_encode("x", 1, 4, 0, 1, salt16, 16, out, sizeof(out), NULL), PF_EINVAL);
    cr_assert_eq(pwhash_encode("x", 1, 4, 8, 17, salt16, 16, out, sizeof(out), NULL), PF_EINVAL);
    cr_assert_eq(pwhash_encode("x", 1, 4, 8, 1, salt16, 7, out, sizeof(out), NULL), PF_EINVAL);
    cr_assert_eq(pwhash_encode("x", 1, 4, 8, 1, salt16, 16, out, 20, NULL), PF_ERANGE);
    cr_assert_str_eq(out, "");
}

struct bad_case {
    char text[200];
    char why[48];
};

Test(pwhash, parse_is_strict)
{
    static const struct bad_case cases[] = {
        { "", "prefix" },
        { "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "prefix" },
        { "$scrypt$ln=0,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "ln" },
        { "$scrypt$ln=21,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "ln" },
        { "$scrypt$ln=04,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "ln" },
        { "$scrypt$ln=4,r=8$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "p" },
        { "$scrypt$ln=4,p=1,r=8$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "order" },
        { "$scrypt$ln=4,r=33,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "r" },
        { "$scrypt$ln=4,r=8,p=1$AAECAwQFBgcICQoLDA0ODw", "no hash" },
        { "$scrypt$ln=4,r=8,p=1$AAECAwQF$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "salt short" },
        { "$scrypt$ln=4,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "padding" },
        { "$scrypt$ln=4,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc+ouAiU4Nbo51fbs/SfVjXgCK8aI_733Nwr5Oo", "alphabet" },
        { "$scrypt$ln=4,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo$", "trailing" },
        { "$scrypt$ln=4,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo", "hash short" },
        { "$scrypt$ln=4, r=8,p=1$AAECAwQFBgcICQoLDA0ODw$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "blank" },
        { "$scrypt$ln=4,r=8,p=1$$WPLQrc-ouAiU4Nbo51fbs-SfVjXgCK8aI_733Nwr5Oo", "empty salt" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pwhash h;
        struct pf_err err = { 0 };
        cr_expect_eq(pwhash_parse(cases[i].text, strlen(cases[i].text), &h, &err), PF_EINVAL,
                     "case %zu (%s)", i, cases[i].why);
        cr_expect_neq(err.msg[0], '\0', "case %zu has a reason", i);
        /* the reason never quotes the input */
        cr_expect_null(strstr(err.msg, "AAECAw"), "case %zu quotes the salt", i);
        cr_expect_eq(h.ln, 0, "case %zu leaves nothing behind", i);
    }
}

Test(pwhash, parse_reads_only_len_bytes)
{
    char buf[sizeof(KNOWN) + 8];
    memcpy(buf, KNOWN, sizeof(KNOWN) - 1);
    memcpy(buf + sizeof(KNOWN) - 1, "garbage!", 8);
    struct pwhash h;
    cr_assert_eq(pwhash_parse(buf, sizeof(KNOWN) - 1, &h, NULL), PF_OK);
    cr_assert_eq(pwhash_parse(buf, sizeof(buf), &h, NULL), PF_EINVAL);
}
