// What both OpenCV shims (cv_codecs.cpp, cv_video.cpp) share: a call that catches whatever
// OpenCV throws and writes its message into the caller's buffer (`err`, `errlen` bytes), so no
// C++ exception crosses into Rust. 0 is success, 1 an error.
#pragma once

#include <cstddef>
#include <cstdio>
#include <exception>

template <class F>
int guarded(char *err, size_t errlen, F body) {
    try {
        body();
        return 0;
    } catch (const std::exception &e) {
        std::snprintf(err, errlen, "%s", e.what());
    } catch (...) {
        std::snprintf(err, errlen, "unknown C++ exception");
    }
    return 1;
}
