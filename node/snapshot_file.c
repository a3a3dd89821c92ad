/* Local pool snapshot file; see snapshot_file.h. */
#include "snapshot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "snapshot.h"

/* A growing output buffer; <failed> sticks after the first ENOMEM. */
struct sf_buf {
    char  *data;                    /* owned */
    size_t len;
    size_t cap;
    int    failed;
};

static void sf_buf_append(struct sf_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sf_buf_puts(struct sf_buf *b, const char *s)
{
    sf_buf_append(b, s, strlen(s));
}

/* Builds the whole file in <b>. Returns PF_OK or PF_ENOMEM. */
static int sf_build(struct sf_buf *b, const struct pool_cache *pc, const struct seal_key *key,
                    int64_t now_wall_ms)
{
    char head[96];
    /* the epoch comes from Redis: escaped by cJSON rather than trusted */
    cJSON *epoch = cJSON_CreateString(pc->epoch);
    char *epoch_json = epoch != NULL ? cJSON_PrintUnformatted(epoch) : NULL;
    cJSON_Delete(epoch);
    if (epoch_json == NULL)
        return PF_ENOMEM;
    snprintf(head, sizeof(head), "{\"version\":%" PRId64 ",\"epoch\":", pc->version);
    sf_buf_puts(b, head);
    sf_buf_puts(b, epoch_json);
    cJSON_free(epoch_json);
    snprintf(head, sizeof(head), ",\"saved_at_ms\":%" PRId64 ",\"upstreams\":[", now_wall_ms);
    sf_buf_puts(b, head);
    for (size_t i = 0; i < pc->count; i++) {
        char *rec = snapshot_record_encode(&pc->items[i], key);
        if (rec == NULL)
            return PF_ENOMEM;
        sf_buf_puts(b, i == 0 ? "\n" : ",\n");
        sf_buf_puts(b, rec);
        snapshot_record_free(rec);
    }
    sf_buf_puts(b, "\n]}\n");
    return b->failed ? PF_ENOMEM : PF_OK;
}

static int sf_write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync of the directory holding <path>, so the rename itself is durable.
 * Best effort: some file systems refuse it. */
static void sf_sync_dir(const char *path)
{
    char dir[CONF_FILE_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == path) {
        snprintf(dir, sizeof(dir), "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir))
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

int snapshot_file_save(const char *path, const struct pool_cache *pc, const struct seal_key *key,
                       int64_t now_wall_ms, struct pf_err *err)
{
    if (path == NULL || path[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "snapshot file: empty path");
    if (pc->version <= 0)
        return pf_err_set(err, PF_EINVAL, "snapshot file %s: pool never loaded, nothing to save",
                          path);
    struct sf_buf b = { 0 };
    char *tmp = NULL;
    int fd = -1;
    int rc = sf_build(&b, pc, key, now_wall_ms);
    if (rc != PF_OK) {
        pf_err_set(err, rc, "snapshot file %s: out of memory or sealing failed", path);
        goto fail;
    }
    size_t tlen = strlen(path) + sizeof(".tmp");
    tmp = malloc(tlen);
    if (tmp == NULL) {
        rc = pf_err_set(err, PF_ENOMEM, "snapshot file %s: out of memory", path);
        goto fail;
    }
    snprintf(tmp, tlen, "%s.tmp", path);
    /* a leftover from a crash is replaced; O_EXCL never follows a planted link */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        rc = pf_err_set(err, PF_EIO, "snapshot file: unlink %s failed: %s", tmp, strerror(errno));
        goto fail_free;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = pf_err_set(err, PF_EIO, "snapshot file: open %s failed: %s", tmp, strerror(errno));
        goto fail_free;
    }
    if (fchmod(fd, 0600) != 0) {     /* the umask could only remove bits; be explicit */
        rc = pf_err_set(err, PF_EIO, "snapshot file: chmod %s failed: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (sf_write_all(fd, b.data, b.len) != 0) {
        rc = pf_err_set(err, PF_EIO, "snapshot file: write %s failed: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (fsync(fd) != 0) {
        rc = pf_err_set(err, PF_EIO, "snapshot file: fsync %s failed: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    int crc = close(fd);
    fd = -1;
    if (crc != 0) {
        rc = pf_err_set(err, PF_EIO, "snapshot file: close %s failed: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (rename(tmp, path) != 0) {
        rc = pf_err_set(err, PF_EIO, "snapshot file: rename %s to %s failed: %s", tmp, path,
                        strerror(errno));
        goto fail_unlink;
    }
    sf_sync_dir(path);
    free(tmp);
    free(b.data);
    return PF_OK;

fail_unlink:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
fail_free:
    free(tmp);
fail:
    free(b.data);
    return rc;
}

/* Reads the whole of <path> into a malloc'd NUL-terminated <*out>. */
static int sf_read(const char *path, char **out, size_t *out_len, struct pf_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return pf_err_set(err, PF_ENOENT, "snapshot file %s: not found", path);
        return pf_err_set(err, PF_EIO, "snapshot file %s: open failed: %s", path, strerror(errno));
    }
    int rc;
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = pf_err_set(err, PF_EIO, "snapshot file %s: stat failed: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = pf_err_set(err, PF_EINVAL, "snapshot file %s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > SNAPSHOT_FILE_MAX_BYTES) {
        rc = pf_err_set(err, PF_ERANGE, "snapshot file %s: %" PRIu64 " bytes, more than %zu",
                        path, (uint64_t)st.st_size, SNAPSHOT_FILE_MAX_BYTES);
        goto fail;
    }
    size_t cap = (size_t)st.st_size;
    buf = malloc(cap + 1);
    if (buf == NULL) {
        rc = pf_err_set(err, PF_ENOMEM, "snapshot file %s: out of memory", path);
        goto fail;
    }
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            char probe;
            ssize_t extra = read(fd, &probe, 1);   /* the file grew since fstat */
            if (extra == 0)
                break;
            if (extra < 0 && errno == EINTR)
                continue;
            rc = extra < 0
                ? pf_err_set(err, PF_EIO, "snapshot file %s: read failed: %s", path, strerror(errno))
                : pf_err_set(err, PF_EINVAL, "snapshot file %s: changed while read", path);
            goto fail;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = pf_err_set(err, PF_EIO, "snapshot file %s: read failed: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    *out = buf;
    *out_len = len;
    return PF_OK;
fail:
    free(buf);
    close(fd);
    return rc;
}

/* An epoch as the cache holds it: 1..POOL_EPOCH_MAX-1 printable ASCII, no space. */
static int sf_epoch_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= POOL_EPOCH_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return 0;
    return 1;
}

/* Reads integral number <name> of <root> into <*out>. */
static int sf_get_int(const cJSON *root, const char *name, int is_required, int64_t min,
                      int64_t *out, const char *path, struct pf_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, name);
    if (it == NULL) {
        if (!is_required)
            return PF_OK;
        return pf_err_set(err, PF_EINVAL, "snapshot file %s: \"%s\" missing", path, name);
    }
    double d = it->valuedouble;
    /* 2^53: beyond it a double no longer holds every integer */
    if (!cJSON_IsNumber(it) || !isfinite(d) || d != floor(d) || d < (double)min ||
        d > 9007199254740992.0)
        return pf_err_set(err, PF_EINVAL, "snapshot file %s: \"%s\" must be an integer >= %" PRId64,
                          path, name, min);
    *out = (int64_t)d;
    return PF_OK;
}

/* Decodes the records of <arr> into a malloc'd <*out_items> (NULL when none). */
static int sf_decode_records(const cJSON *arr, const struct seal_key *key,
                             struct upstream **out_items, struct snapshot_file_info *info)
{
    int n = cJSON_GetArraySize(arr);
    struct upstream *items = NULL;
    if (n > 0) {
        items = calloc((size_t)n, sizeof(*items));
        if (items == NULL)
            return PF_ENOMEM;
    }
    size_t count = 0;
    int idx = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, arr) {
        struct pf_err rerr;
        pf_err_clear(&rerr);
        int rc;
        if (!cJSON_IsObject(rec)) {
            rc = pf_err_set(&rerr, PF_EINVAL, "not an object");
        } else {
            /* back to text: one decoder, the same checks as records from Redis */
            char *json = cJSON_PrintUnformatted(rec);
            if (json == NULL) {
                free(items);
                return PF_ENOMEM;
            }
            rc = snapshot_record_decode(json, strlen(json), key, &items[count], &rerr);
            cJSON_free(json);
        }
        if (rc == PF_OK) {
            count++;
        } else if (info->nbad++ == 0) {
            snprintf(info->first_bad, sizeof(info->first_bad), "upstreams[%d]: %s", idx, rerr.msg);
        }
        idx++;
    }
    if (count == 0) {
        free(items);
        items = NULL;
    }
    info->count = count;
    *out_items = items;
    return PF_OK;
}

int snapshot_file_load(const char *path, const struct seal_key *key, struct pool_cache *pc,
                       int64_t now_mono_ms, struct snapshot_file_info *info,
                       struct pf_err *err)
{
    struct snapshot_file_info local;
    if (info == NULL)
        info = &local;
    memset(info, 0, sizeof(*info));
    if (path == NULL || path[0] == '\0')
        return pf_err_set(err, PF_EINVAL, "snapshot file: empty path");
    char *buf = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    struct upstream *items = NULL;
    int rc = sf_read(path, &buf, &len, err);
    if (rc != PF_OK)
        return rc;
    if (memchr(buf, '\0', len) != NULL) {
        rc = pf_err_set(err, PF_EINVAL, "snapshot file %s: NUL byte at offset %zu", path,
                        (size_t)((const char *)memchr(buf, '\0', len) - buf));
        goto out;
    }
    const char *end = NULL;
    root = cJSON_ParseWithOpts(buf, &end, 1);
    if (root == NULL) {
        size_t off = end != NULL && end >= buf && end <= buf + len ? (size_t)(end - buf) : len;
        rc = pf_err_set(err, PF_EINVAL, "snapshot file %s: bad JSON at byte %zu of %zu "
                        "(corrupt or truncated)", path, off, len);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = pf_err_set(err, PF_EINVAL, "snapshot file %s: not a JSON object", path);
        goto out;
    }
    rc = sf_get_int(root, "version", 1, 1, &info->version, path, err);
    if (rc == PF_OK)
        rc = sf_get_int(root, "saved_at_ms", 0, 0, &info->saved_at_ms, path, err);
    if (rc != PF_OK)
        goto out;
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(root, "epoch");
    if (!cJSON_IsString(ep) || !sf_epoch_ok(ep->valuestring)) {
        rc = pf_err_set(err, PF_EINVAL, "snapshot file %s: \"epoch\" must be a string of 1..%d "
                        "printable characters", path, POOL_EPOCH_MAX - 1);
        goto out;
    }
    snprintf(info->epoch, sizeof(info->epoch), "%s", ep->valuestring);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "upstreams");
    if (!cJSON_IsArray(arr)) {
        rc = pf_err_set(err, PF_EINVAL, "snapshot file %s: \"upstreams\" must be an array", path);
        goto out;
    }
    rc = sf_decode_records(arr, key, &items, info);
    if (rc != PF_OK) {
        pf_err_set(err, rc, "snapshot file %s: out of memory", path);
        goto out;
    }
    /* takes ownership of items */
    pool_cache_replace(pc, items, info->count, info->version, info->epoch, now_mono_ms);
    items = NULL;
    if (pc->version != info->version)
        rc = pf_err_set(err, PF_ENOMEM, "snapshot file %s: out of memory", path);
out:
    free(items);
    cJSON_Delete(root);
    free(buf);
    return rc;
}
