/* The fake environment and file system of fuzz/fuzz_conf.c, shared with the
 * corpus replay (tests/unit/test_corpus_common.c) so that a replayed input
 * reads exactly what the fuzzer gave it. Header-only: static functions. */
#ifndef PF_FUZZ_CONF_FAKE_IO_H
#define PF_FUZZ_CONF_FAKE_IO_H

#include <string.h>

#include "conf.h"

/* PF_FUZZ_URL, PF_FUZZ_PASS, PF_FUZZ_REDIS and PF_FUZZ_EMPTY are set. */
static char *fuzz_getenv(const char *name)
{
    static char url[] = "https://api.example/list?key=FUZZKEY";
    static char pass[] = "fuzz-pass";
    static char redis[] = "redis://:FUZZPW@127.0.0.1:6379/1";
    static char empty[] = "";
    if (strcmp(name, "PF_FUZZ_URL") == 0)
        return url;
    if (strcmp(name, "PF_FUZZ_PASS") == 0)
        return pass;
    if (strcmp(name, "PF_FUZZ_REDIS") == 0)
        return redis;
    if (strcmp(name, "PF_FUZZ_EMPTY") == 0)
        return empty;
    return NULL;
}

/* /s/<x>: the file holds <x> and a newline; /loose/<x>: the same, readable
 * by others; /big: larger than <cap>; anything else is missing. */
static int fuzz_read_file(void *arg, const char *path, char *buf, size_t cap, size_t *len,
                          int *is_loose, struct pf_err *err)
{
    (void)arg;
    if (strcmp(path, "/big") == 0)
        return pf_err_set(err, PF_ERANGE, "larger than %zu bytes", cap);
    const char *body = NULL;
    if (strncmp(path, "/s/", 3) == 0)
        body = path + 3;
    else if (strncmp(path, "/loose/", 7) == 0)
        body = path + 7;
    if (body == NULL)
        return pf_err_set(err, PF_EIO, "No such file or directory");
    size_t n = strlen(body);
    if (n + 1 > cap)
        return pf_err_set(err, PF_ERANGE, "larger than %zu bytes", cap);
    memcpy(buf, body, n);
    buf[n] = '\n';
    *len = n + 1;
    *is_loose = body != path + 3;
    return PF_OK;
}

static const struct conf_io conf_fake_io = { fuzz_getenv, fuzz_read_file, NULL };

#endif
