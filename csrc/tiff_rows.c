/*
 * TIFF chunks through the system libtiff (the library OpenCV's imgcodecs links):
 *
 * - tr_*: reads one strip or tile of a file, decoded (decompressed, predictor undone, 16-bit
 *   samples in host byte order), into the caller's buffer. Which files to accept and how the
 *   samples become OpenCV's rows is decided in src/rows/tiff.rs.
 *
 * libtiff reports errors through handlers; every handle here gets its own (TIFFOpenOptions), which
 * keep the first message of a call for the caller, so nothing is printed and the process-wide
 * handlers OpenCV relies on are left alone. Warnings are dropped.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#define T_MSG_LEN 512

/* Keeps the first error of a call in `user_data` (a T_MSG_LEN buffer, emptied before each call),
 * after the libtiff function that reports it; not after the file name, which the caller adds. */
static int t_error(TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap) {
  char *msg = user_data;
  if (msg[0] == '\0') {
    int named = module && !(tif && strcmp(module, TIFFFileName(tif)) == 0);
    int n = named ? snprintf(msg, T_MSG_LEN, "%s: ", module) : 0;
    if (n < 0 || n >= T_MSG_LEN) n = 0;
    vsnprintf(msg + n, (size_t)(T_MSG_LEN - n), fmt, ap);
  }
  return 1;
}

static int t_warning(TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap) {
  (void)tif, (void)user_data, (void)module, (void)fmt, (void)ap;
  return 1;
}

/* Options whose handlers write into `msg`; NULL when out of memory. */
static TIFFOpenOptions *t_options(char *msg) {
  TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
  if (!opts) return NULL;
  TIFFOpenOptionsSetErrorHandlerExtR(opts, t_error, msg);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, t_warning, msg);
  return opts;
}

/* Copies the kept message (or `fallback` when libtiff gave none) to the caller's buffer. */
static void t_report(const char *kept, const char *fallback, char *msg, size_t msg_len) {
  snprintf(msg, msg_len, "%s", kept[0] ? kept : fallback);
}

/* ---- Reading ---- */

struct tr_file {
  TIFF *tif;
  char msg[T_MSG_LEN];
};

/* Opens the file at `path`: 0, *out, whether it is tiled and how many strips or tiles it has
 * (all planes); or -1 with a message. */
int tr_open(const char *path, struct tr_file **out, int *tiled, uint32_t *chunks, char *msg, size_t msg_len) {
  struct tr_file *f = calloc(1, sizeof *f);
  if (!f) {
    snprintf(msg, msg_len, "out of memory");
    return -1;
  }
  TIFFOpenOptions *opts = t_options(f->msg);
  if (!opts) {
    snprintf(msg, msg_len, "out of memory");
    free(f);
    return -1;
  }
  /* "c": the file's own strips, even a single uncompressed one (which libtiff would otherwise
   * present as many smaller strips), as src/rows/tiff.rs counted them. */
  f->tif = TIFFOpenExt(path, "rc", opts);
  TIFFOpenOptionsFree(opts);
  if (!f->tif) {
    t_report(f->msg, "libtiff cannot open the file", msg, msg_len);
    free(f);
    return -1;
  }
  *tiled = TIFFIsTiled(f->tif);
  *chunks = *tiled ? TIFFNumberOfTiles(f->tif) : TIFFNumberOfStrips(f->tif);
  *out = f;
  return 0;
}

/* Decodes strip or tile `chunk` into `buf` (`len` bytes at most): the bytes decoded (a strip's
 * rows only, a whole tile with its padding), or -1 with a message. */
int64_t tr_read(struct tr_file *f, uint32_t chunk, void *buf, size_t len, char *msg, size_t msg_len) {
  f->msg[0] = '\0';
  tmsize_t got = TIFFIsTiled(f->tif) ? TIFFReadEncodedTile(f->tif, chunk, buf, (tmsize_t)len)
                                     : TIFFReadEncodedStrip(f->tif, chunk, buf, (tmsize_t)len);
  if (got < 0) {
    t_report(f->msg, "libtiff cannot decode it", msg, msg_len);
    return -1;
  }
  return (int64_t)got;
}

void tr_close(struct tr_file *f) {
  if (!f) return;
  TIFFClose(f->tif);
  free(f);
}
