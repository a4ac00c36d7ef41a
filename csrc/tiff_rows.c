/*
 * TIFF chunks through the system libtiff (the library OpenCV's imgcodecs links), both ways:
 *
 * - tr_*: reads one strip or tile of a file, decoded (decompressed, predictor undone, 16-bit
 *   samples in host byte order), into the caller's buffer. Which files to accept and how the
 *   samples become OpenCV's rows is decided in src/rows/tiff.rs.
 * - tw_*: compresses a piece's strips (LZW + horizontal predictor, as OpenCV writes TIFF) into an
 *   in-memory TIFF and hands out each strip's bytes; src/pieces/tiff.rs joins them into one file.
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
   * present as many smaller strips), as src/rows/tiff.rs counted them. "m": read each strip into
   * libtiff's buffer rather than map the whole file, whose pages would count as the rank's memory
   * (a rank reads only its own rows; tests/stream_memory.rs bounds what it holds). */
  f->tif = TIFFOpenExt(path, "rcm", opts);
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

/* ---- Writing a piece ---- */

/* The in-memory file libtiff writes to. */
struct tw_piece {
  TIFF *tif;
  unsigned char *data;
  size_t len, cap, pos;
  char msg[T_MSG_LEN];
};

static tmsize_t tw_read_proc(thandle_t h, void *buf, tmsize_t n) {
  struct tw_piece *p = h;
  size_t left = p->pos < p->len ? p->len - p->pos : 0;
  size_t take = (size_t)n < left ? (size_t)n : left;
  memcpy(buf, p->data + p->pos, take);
  p->pos += take;
  return (tmsize_t)take;
}

static tmsize_t tw_write_proc(thandle_t h, void *buf, tmsize_t n) {
  struct tw_piece *p = h;
  size_t end = p->pos + (size_t)n;
  if (end > p->cap) {
    size_t cap = p->cap ? p->cap : 1 << 16;
    while (cap < end) cap *= 2;
    unsigned char *grown = realloc(p->data, cap);
    if (!grown) return -1;
    p->data = grown;
    p->cap = cap;
  }
  /* A seek past the end leaves a gap: zeros, as in a file. */
  if (p->pos > p->len) memset(p->data + p->len, 0, p->pos - p->len);
  memcpy(p->data + p->pos, buf, (size_t)n);
  p->pos = end;
  if (end > p->len) p->len = end;
  return n;
}

static toff_t tw_seek_proc(thandle_t h, toff_t off, int whence) {
  struct tw_piece *p = h;
  size_t base = whence == SEEK_CUR ? p->pos : whence == SEEK_END ? p->len : 0;
  p->pos = base + (size_t)off;
  return (toff_t)p->pos;
}

static int tw_close_proc(thandle_t h) {
  (void)h;
  return 0;
}

static toff_t tw_size_proc(thandle_t h) { return (toff_t)((struct tw_piece *)h)->len; }

static int tw_map_proc(thandle_t h, void **base, toff_t *size) {
  (void)h, (void)base, (void)size;
  return 0;
}

static void tw_unmap_proc(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

void tw_close(struct tw_piece *p);

/* Starts an in-memory TIFF of `width` x `height` pixels of `spp` (1 or 3) 8-bit samples, in LZW
 * strips of `rows_per_strip` rows with the horizontal predictor, its buffer first `reserve` bytes
 * (it grows as needed): 0 and *out, or -1 with a message. */
int tw_open(uint32_t width, uint32_t height, int spp, uint32_t rows_per_strip, size_t reserve, struct tw_piece **out,
            char *msg, size_t msg_len) {
  struct tw_piece *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(msg, msg_len, "out of memory");
    return -1;
  }
  p->data = malloc(reserve ? reserve : 1);
  TIFFOpenOptions *opts = p->data ? t_options(p->msg) : NULL;
  if (!opts) {
    snprintf(msg, msg_len, "out of memory");
    free(p->data);
    free(p);
    return -1;
  }
  p->cap = reserve ? reserve : 1;
  p->tif = TIFFClientOpenExt("piece", "wl", p, tw_read_proc, tw_write_proc, tw_seek_proc, tw_close_proc, tw_size_proc,
                             tw_map_proc, tw_unmap_proc, opts);
  TIFFOpenOptionsFree(opts);
  if (!p->tif) {
    t_report(p->msg, "libtiff cannot start a TIFF in memory", msg, msg_len);
    tw_close(p);
    return -1;
  }
  int ok = TIFFSetField(p->tif, TIFFTAG_IMAGEWIDTH, width) && TIFFSetField(p->tif, TIFFTAG_IMAGELENGTH, height) &&
           TIFFSetField(p->tif, TIFFTAG_BITSPERSAMPLE, 8) && TIFFSetField(p->tif, TIFFTAG_SAMPLESPERPIXEL, spp) &&
           TIFFSetField(p->tif, TIFFTAG_PHOTOMETRIC, spp == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK) &&
           TIFFSetField(p->tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
           TIFFSetField(p->tif, TIFFTAG_COMPRESSION, COMPRESSION_LZW) &&
           TIFFSetField(p->tif, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL) &&
           TIFFSetField(p->tif, TIFFTAG_ROWSPERSTRIP, rows_per_strip);
  if (!ok) {
    t_report(p->msg, "libtiff refuses the piece's tags", msg, msg_len);
    tw_close(p);
    return -1;
  }
  *out = p;
  return 0;
}

/* Compresses strip `strip` from `len` bytes of RGB or gray rows: 0, or -1 with a message. */
int tw_write(struct tw_piece *p, uint32_t strip, void *rows, size_t len, char *msg, size_t msg_len) {
  p->msg[0] = '\0';
  if (TIFFWriteEncodedStrip(p->tif, strip, rows, (tmsize_t)len) < 0) {
    t_report(p->msg, "libtiff cannot compress the strip", msg, msg_len);
    return -1;
  }
  return 0;
}

/* Where strip `strip`'s compressed bytes are (valid until the next tw_write or tw_close): 0, or -1
 * with a message. */
int tw_strip(struct tw_piece *p, uint32_t strip, const unsigned char **at, size_t *len, char *msg, size_t msg_len) {
  p->msg[0] = '\0';
  int err = 0;
  uint64_t offset = TIFFGetStrileOffsetWithErr(p->tif, strip, &err);
  uint64_t count = err ? 0 : TIFFGetStrileByteCountWithErr(p->tif, strip, &err);
  if (err || offset > p->len || count > p->len - offset) {
    t_report(p->msg, "libtiff lost track of the strip", msg, msg_len);
    return -1;
  }
  *at = p->data + offset;
  *len = (size_t)count;
  return 0;
}

/* Frees the piece (libtiff first writes its small directory into the buffer; only the strips are
 * used). */
void tw_close(struct tw_piece *p) {
  if (!p) return;
  if (p->tif) TIFFClose(p->tif);
  free(p->data);
  free(p);
}
