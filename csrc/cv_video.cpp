// OpenCV's video capture (videoio) behind a C interface, built by build.rs into a shared object
// that the program loads only when it first opens a video (src/cvio). Debian's libopencv_videoio
// pulls FFmpeg, GStreamer and, through imgcodecs, GDAL: about 240 libraries, which cost every
// start of the program (and of every rank) more than 150 ms when they were linked into it.
//
// A capture crosses as an opaque `cv::VideoCapture*`; frames as the `cv::Mat*` the opencv crate
// boxes a Mat in. Every call is `guarded` (cv_guarded.hpp): what OpenCV throws comes back
// as a message.
#include "cv_guarded.hpp"

#include <opencv2/videoio.hpp>

// The values src/cvio/videoio.rs names: checked here against OpenCV's own headers.
static_assert(cv::CAP_FFMPEG == 1900, "CAP_FFMPEG");
static_assert(cv::CAP_PROP_POS_MSEC == 0, "CAP_PROP_POS_MSEC");
static_assert(cv::CAP_PROP_POS_FRAMES == 1, "CAP_PROP_POS_FRAMES");

extern "C" {

// A new cv::VideoCapture(path, api) in *out (opened or not: see imgproc_capture_is_opened).
int imgproc_capture_open(const char *path, int api, cv::VideoCapture **out, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { *out = new cv::VideoCapture(path, api); });
}

void imgproc_capture_free(cv::VideoCapture *capture) { delete capture; }

int imgproc_capture_is_opened(const cv::VideoCapture *capture, int *ok, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { *ok = capture->isOpened() ? 1 : 0; });
}

// capture->read(*frame) into *ok.
int imgproc_capture_read(cv::VideoCapture *capture, cv::Mat *frame, int *ok, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { *ok = capture->read(*frame) ? 1 : 0; });
}

// capture->grab() into *ok.
int imgproc_capture_grab(cv::VideoCapture *capture, int *ok, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { *ok = capture->grab() ? 1 : 0; });
}

int imgproc_capture_get(const cv::VideoCapture *capture, int prop, double *value, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { *value = capture->get(prop); });
}

int imgproc_capture_set(cv::VideoCapture *capture, int prop, double value, int *ok, char *err, size_t errlen) {
    return guarded(err, errlen, [&] { *ok = capture->set(prop, value) ? 1 : 0; });
}

}  // extern "C"
