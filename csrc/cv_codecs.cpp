// OpenCV's image codecs (imgcodecs) behind a C interface, built by build.rs into a shared object
// that the program loads only when it first encodes or decodes through OpenCV (src/cvio). Debian's
// libopencv_imgcodecs pulls GDAL and about 130 more libraries; linked into the program, loading
// them cost every start (`imgproc --version`, every rank of every job) about 100 ms.
//
// Mats and byte vectors cross as the pointers the opencv crate boxes them in (`cv::Mat*`,
// `std::vector<uchar>*`, allocated with new): the program links the same libopencv_core and
// libstdc++, and the crate deletes them as its own. Every call is `guarded` (cv_guarded.hpp): what
// OpenCV throws comes back as a message.
#include "cv_guarded.hpp"

#include <opencv2/imgcodecs.hpp>

#include <memory>
#include <string>
#include <vector>

// The flag values src/cvio/imgcodecs.rs names: checked here against OpenCV's own headers.
static_assert(cv::IMREAD_UNCHANGED == -1, "IMREAD_UNCHANGED");
static_assert(cv::IMREAD_ANYCOLOR == 4, "IMREAD_ANYCOLOR");
static_assert(cv::IMWRITE_JPEG_QUALITY == 1, "IMWRITE_JPEG_QUALITY");
static_assert(cv::IMWRITE_JPEG_PROGRESSIVE == 2, "IMWRITE_JPEG_PROGRESSIVE");
static_assert(cv::IMWRITE_JPEG_OPTIMIZE == 3, "IMWRITE_JPEG_OPTIMIZE");
static_assert(cv::IMWRITE_JPEG_RST_INTERVAL == 4, "IMWRITE_JPEG_RST_INTERVAL");
static_assert(cv::IMWRITE_JPEG_LUMA_QUALITY == 5, "IMWRITE_JPEG_LUMA_QUALITY");
static_assert(cv::IMWRITE_JPEG_CHROMA_QUALITY == 6, "IMWRITE_JPEG_CHROMA_QUALITY");
static_assert(cv::IMWRITE_PNG_COMPRESSION == 16, "IMWRITE_PNG_COMPRESSION");
static_assert(cv::IMWRITE_PXM_BINARY == 32, "IMWRITE_PXM_BINARY");
static_assert(cv::IMWRITE_TIFF_COMPRESSION == 259, "IMWRITE_TIFF_COMPRESSION");

extern "C" {

// cv::imdecode(buf, flags) into a new Mat (*out).
int imgproc_imdecode(const cv::Mat *buf, int flags, cv::Mat **out, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { *out = new cv::Mat(cv::imdecode(*buf, flags)); });
}

// cv::imdecode(buf, flags, dst): into dst's own pixels when its size and type fit.
int imgproc_imdecode_to(const cv::Mat *buf, int flags, cv::Mat *dst, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { cv::imdecode(*buf, flags, dst); });
}

// cv::imread(path, flags) into a new Mat (*out).
int imgproc_imread(const char *path, int flags, cv::Mat **out, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { *out = new cv::Mat(cv::imread(path, flags)); });
}

// cv::imencode(ext, img, *out, params) into a new vector (*out); *ok is imencode's answer.
int imgproc_imencode(const char *ext, const cv::Mat *img, const int *params, size_t nparams,
                     std::vector<uchar> **out, int *ok, char *err, size_t errlen) {
    return guarded(err, errlen, [&] {
        std::vector<int> p(params, params + nparams);
        auto buf = std::make_unique<std::vector<uchar>>();
        *ok = cv::imencode(ext, *img, *buf, p) ? 1 : 0;
        *out = buf.release();
    });
}

// cv::imwrite(path, img, params); *ok is imwrite's answer.
int imgproc_imwrite(const char *path, const cv::Mat *img, const int *params, size_t nparams, int *ok,
                    char *err, size_t errlen) {
    return guarded(err, errlen, [&] {
        std::vector<int> p(params, params + nparams);
        *ok = cv::imwrite(path, *img, p) ? 1 : 0;
    });
}

// cv::haveImageWriter(name) into *ok.
int imgproc_have_image_writer(const char *name, int *ok, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { *ok = cv::haveImageWriter(name) ? 1 : 0; });
}

}  // extern "C"
