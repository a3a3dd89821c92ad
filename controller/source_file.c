/* File provider source: stat, compare, re-read. */
#include "source_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct source_file {
    char     *path;                 /* owned */
    int64_t   max_bytes;
    char     *body;                 /* owned: last contents, NUL-terminated; NULL = none */
    size_t    len;
    int64_t   size;                 /* st_size of the cached read */
    int64_t   mtime_ns;             /* st_mtim of the cached read */
};

struct source_file *source_file_create(const char *path, int64_t max_bytes)
{
    struct source_file *sf = calloc(1, sizeof(*sf));

    if (sf == NULL)
        return NULL;
    sf->path = strdup(path);
    if (sf->path == NULL) {
        free(sf);
        return NULL;
    }
    sf->max_bytes = max_bytes > 0 ? max_bytes : 1048576;
    return sf;
}

void source_file_destroy(struct source_file *sf)
{
    if (sf == NULL)
        return;
    free(sf->body);
    free(sf->path);
    free(sf);
}

static void source_file_drop(struct source_file *sf)
{
    free(sf->body);
    sf->body = NULL;
    sf->len = 0;
}

int source_file_poll(struct source_file *sf, const char **body, size_t *len, int *is_changed,
                     struct pf_err *err)
{
    struct stat st;
    FILE *f = NULL;
    char *buf = NULL;
    size_t n;
    int rc;

    *body = NULL;
    *len = 0;
    if (is_changed != NULL)
        *is_changed = 0;
    if (stat(sf->path, &st) != 0) {
        rc = pf_err_set(err, PF_EIO, "cannot stat file: %s", strerror(errno));
        goto fail;
    }
    int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (sf->body != NULL && (int64_t)st.st_size == sf->size && mtime_ns == sf->mtime_ns) {
        *body = sf->body;
        *len = sf->len;
        return PF_OK;
    }
    if ((int64_t)st.st_size > sf->max_bytes) {
        rc = pf_err_set(err, PF_ERANGE, "file over %lld bytes", (long long)sf->max_bytes);
        goto fail;
    }
    f = fopen(sf->path, "rb");
    if (f == NULL) {
        rc = pf_err_set(err, PF_EIO, "cannot open file: %s", strerror(errno));
        goto fail;
    }
    buf = malloc((size_t)sf->max_bytes + 1);
    if (buf == NULL) {
        rc = pf_err_set(err, PF_ENOMEM, "out of memory reading file");
        goto fail;
    }
    /* Read one byte past the cap: the file may have grown since stat(). */
    n = fread(buf, 1, (size_t)sf->max_bytes + 1, f);
    if (ferror(f)) {
        rc = pf_err_set(err, PF_EIO, "cannot read file: %s", strerror(errno));
        goto fail;
    }
    if ((int64_t)n > sf->max_bytes) {
        rc = pf_err_set(err, PF_ERANGE, "file over %lld bytes", (long long)sf->max_bytes);
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    source_file_drop(sf);
    sf->body = buf;
    sf->len = n;
    sf->size = (int64_t)st.st_size;
    sf->mtime_ns = mtime_ns;
    *body = sf->body;
    *len = sf->len;
    if (is_changed != NULL)
        *is_changed = 1;
    return PF_OK;

fail:
    free(buf);
    if (f != NULL)
        fclose(f);
    source_file_drop(sf);
    return rc;
}
