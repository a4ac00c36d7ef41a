//! What the paths the user names open as — one image, a batch, or a video — whether they come
//! from the command line, a drop, or the recent list. Pure: decided from the paths' kinds and
//! extensions, so it is tested without a window. Reading the files is the app's job.

use std::path::{Path, PathBuf};

/// Extensions of the video files the GUI opens as a video (`imgproc video` takes any file
/// ffprobe reads; these are the ones a name alone says is a video).
pub const VIDEO_EXTENSIONS: [&str; 14] =
    ["mp4", "m4v", "mkv", "avi", "webm", "mov", "mpg", "mpeg", "ts", "mts", "wmv", "flv", "ogv", "y4m"];

/// What opening some paths does.
#[derive(Clone, Debug, PartialEq)]
pub enum Opening {
    Nothing,
    Image(PathBuf),
    Batch(Vec<PathBuf>),
    /// A video file, scrubbed and processed frame by frame.
    Video(PathBuf),
    /// A folder of frames (natural order) opened as a video.
    Frames(PathBuf),
}

/// Whether `path`'s extension names a video container.
pub fn is_video(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// One video file opens as a video; one folder opens as a batch of its images, unless the user
/// opened it as frames before (`frame_folders`, from File ▸ Open frame folder…): a folder alone
/// cannot say whether it holds photos or the frames of a clip, and a batch is what a folder has
/// always opened as. One other file opens as an image; several paths as a batch.
pub fn route(paths: &[PathBuf], frame_folders: &[PathBuf]) -> Opening {
    match paths {
        [] => Opening::Nothing,
        [one] if one.is_dir() && frame_folders.contains(one) => Opening::Frames(one.clone()),
        [one] if one.is_dir() => Opening::Batch(paths.to_vec()),
        [one] if is_video(one) => Opening::Video(one.clone()),
        [one] => Opening::Image(one.clone()),
        _ => Opening::Batch(paths.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_video_file_opens_as_a_video_and_a_folder_as_frames_only_when_opened_so_before() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_path_buf();
        let clip = folder.join("Clip.MKV");
        let photo = folder.join("a.png");
        assert_eq!(route(&[], &[]), Opening::Nothing);
        assert_eq!(route(std::slice::from_ref(&clip), &[]), Opening::Video(clip.clone()));
        assert_eq!(route(std::slice::from_ref(&photo), &[]), Opening::Image(photo.clone()));
        assert_eq!(route(std::slice::from_ref(&folder), &[]), Opening::Batch(vec![folder.clone()]));
        assert_eq!(
            route(std::slice::from_ref(&folder), std::slice::from_ref(&folder)),
            Opening::Frames(folder.clone())
        );
        // Several paths are a batch, whatever they are.
        let both = vec![clip.clone(), photo.clone()];
        assert_eq!(route(&both, &[]), Opening::Batch(both.clone()));
        // A file is never taken for a frame folder.
        assert_eq!(route(std::slice::from_ref(&clip), std::slice::from_ref(&clip)), Opening::Video(clip));
    }
}
