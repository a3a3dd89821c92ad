/* The `file` provider's source: a local file re-read only when its size or
 * mtime changes (an operator or a sidecar rewrites it). Blocking stat/read
 * on the loop is fine: files are small (max_body_bytes) and local. */
#ifndef PF_SOURCE_FILE_H
#define PF_SOURCE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct source_file;

/* Creates the source of <path> (copied); nothing is read yet. Files over
 * <max_bytes> are refused. Returns NULL on allocation failure. */
struct source_file *source_file_create(const char *path, int64_t max_bytes);

/* Frees <sf> and its cached contents (accepts NULL). */
void source_file_destroy(struct source_file *sf);

/* Stats the file and reads it again when its size or mtime changed since
 * the last good read (or on the first call). Sets <*body>/<*len> to the
 * cached contents (owned by <sf>, valid until the next call) and
 * <*is_changed> (may be NULL) to whether they were just read.
 * Returns PF_OK, PF_EIO ("cannot read: No such file or directory") or
 * PF_ERANGE ("file over N bytes") with the reason in <err>; the path is
 * not in the reason. The cache is dropped on error. */
int source_file_poll(struct source_file *sf, const char **body, size_t *len, int *is_changed,
                     struct pf_err *err) PF_MUSTCHECK;

#endif
