/*
 * JPEG scanlines through the system libjpeg (the library OpenCV's imgcodecs links), set up exactly
 * as OpenCV 4.6's JpegDecoder does for IMREAD_ANYCOLOR from a memory buffer: default DCT method
 * and upsampling, gray kept gray, colour converted to BGR, and a source that suspends the decoder
 * where the data ends. The differences: rows are handed out a few at a time instead of into one
 * whole Mat, and the file is read in blocks as libjpeg asks (the same bytes, and the same
 * suspension at the file's end, as OpenCV's source over the whole file in memory), so the
 * encoded file is not held either.
 *
 * libjpeg reports fatal errors through error_exit, which by default calls exit(); here it jumps
 * back to the entry point and the message goes to the caller. C is needed for that setjmp/longjmp;
 * everything else (which variants to accept, EXIF, errors with file names) is in src/rows/jpeg.rs.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

struct jr_error {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
};

/* Bytes read from the file per refill. */
#define JR_BLOCK 65536

struct jr_state {
  struct jpeg_decompress_struct cinfo;
  struct jr_error err;
  struct jpeg_source_mgr src;
  FILE *file;
  JOCTET block[JR_BLOCK];
};

/* What the caller needs to decide whether OpenCV's handling is reproduced. */
struct jr_info {
  unsigned int width;
  unsigned int height;
  int components;
  int has_huffman_tables;
  const unsigned char *app1;
  size_t app1_len;
};

static void jr_error_exit(j_common_ptr cinfo) {
  struct jr_error *err = (struct jr_error *)cinfo->err;
  longjmp(err->jump, 1);
}

static void jr_message(struct jr_state *s, char *msg, size_t len) {
  char buf[JMSG_LENGTH_MAX];
  s->err.pub.format_message((j_common_ptr)&s->cinfo, buf);
  snprintf(msg, len, "%s", buf);
}

static struct jr_state *jr_of(j_decompress_ptr cinfo) {
  return (struct jr_state *)((char *)cinfo - offsetof(struct jr_state, cinfo));
}

static void jr_stub(j_decompress_ptr cinfo) { (void)cinfo; }

/* The next block of the file; at its end (or on a read error) FALSE, which suspends the decoder
 * exactly where OpenCV's memory source runs out of bytes. */
static boolean jr_fill(j_decompress_ptr cinfo) {
  struct jr_state *s = jr_of(cinfo);
  size_t n = fread(s->block, 1, JR_BLOCK, s->file);
  if (n == 0) return FALSE;
  s->src.next_input_byte = s->block;
  s->src.bytes_in_buffer = n;
  return TRUE;
}

/* Skips within the block, or seeks on past it: as OpenCV's source skips within the whole file. */
static void jr_skip(j_decompress_ptr cinfo, long n) {
  struct jr_state *s = jr_of(cinfo);
  if (n <= 0) return;
  if ((size_t)n <= s->src.bytes_in_buffer) {
    s->src.next_input_byte += n;
    s->src.bytes_in_buffer -= (size_t)n;
    return;
  }
  long beyond = n - (long)s->src.bytes_in_buffer;
  s->src.next_input_byte += s->src.bytes_in_buffer;
  s->src.bytes_in_buffer = 0;
  /* Past the end, the next fill finds nothing and suspends, as OpenCV's source does. */
  if (fseek(s->file, beyond, SEEK_CUR) != 0) fseek(s->file, 0, SEEK_END);
}

/* Reads the header of the file at `path`. 0 and *out on success; -1 with a message. */
int jr_open(const char *path, struct jr_state **out, struct jr_info *info, char *msg, size_t msg_len) {
  struct jr_state *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(msg, msg_len, "out of memory");
    return -1;
  }
  s->file = fopen(path, "rb");
  if (!s->file) {
    snprintf(msg, msg_len, "cannot open the file");
    free(s);
    return -1;
  }
  s->cinfo.err = jpeg_std_error(&s->err.pub);
  s->err.pub.error_exit = jr_error_exit;
  if (setjmp(s->err.jump)) {
    jr_message(s, msg, msg_len);
    jpeg_destroy_decompress(&s->cinfo);
    fclose(s->file);
    free(s);
    return -1;
  }
  jpeg_create_decompress(&s->cinfo);
  s->src.init_source = jr_stub;
  s->src.fill_input_buffer = jr_fill;
  s->src.skip_input_data = jr_skip;
  s->src.resync_to_restart = jpeg_resync_to_restart;
  s->src.term_source = jr_stub;
  s->src.next_input_byte = NULL;
  s->src.bytes_in_buffer = 0;
  s->cinfo.src = &s->src;
  /* OpenCV 4.6 keeps APP1 to read the EXIF orientation it applies after decoding. */
  jpeg_save_markers(&s->cinfo, JPEG_APP0 + 1, 0xffff);
  if (jpeg_read_header(&s->cinfo, TRUE) != JPEG_HEADER_OK) {
    snprintf(msg, msg_len, "no image in the JPEG data");
    jpeg_destroy_decompress(&s->cinfo);
    fclose(s->file);
    free(s);
    return -1;
  }
  jpeg_calc_output_dimensions(&s->cinfo);
  info->width = s->cinfo.output_width;
  info->height = s->cinfo.output_height;
  info->components = s->cinfo.num_components;
  info->has_huffman_tables = !(s->cinfo.ac_huff_tbl_ptrs[0] == NULL && s->cinfo.ac_huff_tbl_ptrs[1] == NULL &&
                               s->cinfo.dc_huff_tbl_ptrs[0] == NULL && s->cinfo.dc_huff_tbl_ptrs[1] == NULL);
  info->app1 = NULL;
  info->app1_len = 0;
  for (jpeg_saved_marker_ptr m = s->cinfo.marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1) {
      info->app1 = m->data;
      info->app1_len = m->data_length;
      break;
    }
  }
  *out = s;
  return 0;
}

/* Starts decompressing to BGR (`color`) or gray. 0, or -1 with a message. */
int jr_start(struct jr_state *s, int color, char *msg, size_t msg_len) {
  if (setjmp(s->err.jump)) {
    jr_message(s, msg, msg_len);
    return -1;
  }
  s->cinfo.out_color_space = color ? JCS_EXT_BGR : JCS_GRAYSCALE;
  s->cinfo.out_color_components = color ? 3 : 1;
  if (!jpeg_start_decompress(&s->cinfo)) {
    snprintf(msg, msg_len, "JPEG data ends before the first row");
    return -1;
  }
  return 0;
}

/* Decodes `rows` rows into `buf` (row after row, `stride` bytes each). The number of rows decoded
 * (fewer when the data ran out: OpenCV leaves such rows undecoded), or -1 with a message. */
long jr_read(struct jr_state *s, unsigned char *buf, size_t rows, size_t stride, char *msg, size_t msg_len) {
  volatile size_t done = 0;
  if (setjmp(s->err.jump)) {
    jr_message(s, msg, msg_len);
    return -1;
  }
  while (done < rows) {
    JSAMPROW ptrs[16];
    size_t want = rows - done;
    if (want > 16) want = 16;
    for (size_t i = 0; i < want; i++) ptrs[i] = buf + (done + i) * stride;
    JDIMENSION got = jpeg_read_scanlines(&s->cinfo, ptrs, (JDIMENSION)want);
    if (got == 0) break;
    done += got;
  }
  return (long)done;
}

/* Reads on to the end of the image, as OpenCV does after the last row. 0, or -1 with a message. */
int jr_finish(struct jr_state *s, char *msg, size_t msg_len) {
  if (setjmp(s->err.jump)) {
    jr_message(s, msg, msg_len);
    return -1;
  }
  jpeg_finish_decompress(&s->cinfo);
  return 0;
}

void jr_close(struct jr_state *s) {
  if (!s) return;
  jpeg_destroy_decompress(&s->cinfo);
  fclose(s->file);
  free(s);
}
