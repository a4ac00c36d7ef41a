//! The live view's progress, fed with events as the master sends them.

use super::*;

#[test]
fn time_left_follows_the_pace_so_far_and_shows_once_it_means_something() {
    let mut p = JobProgress::new(&ranks(1));
    p.apply(&Progress::RowsAssigned { rank: 0, start: 0, end: 100 });
    p.apply(&Progress::StripProgress { rank: 0, fraction: 0.25 });
    assert_eq!(p.eta(), None, "too early to tell");
    p.started -= Duration::from_secs(3);
    let left = p.eta().unwrap().as_secs_f64();
    assert!((8.9..9.2).contains(&left), "3 s for 25 %: about 9 s left, not {left}");
    assert!(p.summary(false).starts_with("25 % · 0/1 strips · 3.0 s · about 9 s left"), "{}", p.summary(false));
    assert_eq!(p.ranks[0].describe(), "rows 0..100: 25 done · 0.0 s");
    p.end(false);
    assert_eq!(p.eta(), None);
}

fn ranks(n: usize) -> Vec<RankInfo> {
    (0..n).map(|rank| RankInfo { rank, host: format!("h{rank}"), cores: 2 }).collect()
}

#[test]
fn image_progress_counts_assigned_strips_and_tracks_each_rank() {
    let mut p = JobProgress::new(&ranks(2));
    p.apply(&Progress::RowsAssigned { rank: 0, start: 0, end: 50 });
    p.apply(&Progress::RowsAssigned { rank: 1, start: 50, end: 100 });
    assert_eq!((p.total, p.fraction()), (2, 0.0));
    assert_eq!(p.ranks[1].work, "rows 50..100");
    assert!(p.ranks[1].busy_since.is_some());
    p.apply(&Progress::RowsDone { rank: 1, secs: 0.25, error: None });
    assert_eq!(p.fraction(), 0.5);
    assert_eq!((p.ranks[1].last_secs, p.ranks[1].busy_since), (Some(0.25), None));
}

#[test]
fn strip_progress_moves_the_bar_inside_one_image_and_is_forgotten_when_the_strip_ends() {
    let mut p = JobProgress::new(&ranks(2));
    p.apply(&Progress::RowsAssigned { rank: 0, start: 0, end: 100 });
    p.apply(&Progress::RowsAssigned { rank: 1, start: 100, end: 300 });
    p.apply(&Progress::StripProgress { rank: 1, fraction: 0.5 });
    assert_eq!(p.ranks[1].strip_fraction, Some(0.5));
    assert_eq!(p.ranks[0].strip_fraction, None, "no report yet: unknown, not 0 %");
    assert_eq!(p.fraction(), 100.0 / 300.0);
    p.apply(&Progress::RowsDone { rank: 0, secs: 0.1, error: None });
    assert_eq!(p.fraction(), 200.0 / 300.0);
    p.apply(&Progress::RowsDone { rank: 1, secs: 0.2, error: None });
    assert_eq!((p.fraction(), p.ranks[1].strip_fraction), (RUNNING_CAP, None), "not 100 % before the end");
    // A late report after the strip was delivered changes nothing.
    p.apply(&Progress::StripProgress { rank: 1, fraction: 0.9 });
    assert_eq!((p.fraction(), p.ranks[1].strip_fraction), (RUNNING_CAP, None));
}

#[test]
fn video_progress_counts_frames_of_running_and_finished_chunks_with_rate_and_time_left() {
    use crate::video::Chunk;
    let mut p = JobProgress::new(&ranks(2));
    p.video_planned(20);
    let (a, b) = (Chunk { index: 0, start: 0, frames: 10 }, Chunk { index: 1, start: 10, frames: 10 });
    p.apply_video(&VideoEvent::ChunkAssigned { rank: 0, chunk: a });
    p.apply_video(&VideoEvent::ChunkAssigned { rank: 1, chunk: b });
    p.apply_video(&VideoEvent::Frames { rank: 1, index: 1, frames: 4 });
    assert_eq!(p.fraction(), 0.2);
    assert_eq!(p.ranks[1].describe(), "frames 11–20: 4 done · 0.0 s");
    p.started -= Duration::from_secs(2);
    assert_eq!(p.summary(false), "4/20 frames · 2.0 frames/s · 8 s left");
    p.apply_video(&VideoEvent::ChunkDone { rank: 0, chunk: a, secs: 2.0, error: None });
    p.apply_video(&VideoEvent::ChunkDone {
        rank: 1,
        chunk: b,
        secs: 2.0,
        error: Some("v.mp4 (frame 13): corrupt".into()),
    });
    assert_eq!((p.fraction(), p.failed), (0.5, 1), "a failed chunk's frames are not done");
    assert_eq!(p.ranks[1].work, "failed: v.mp4 (frame 13): corrupt");
    p.end_video(false, 5.5, 1.8);
    assert_eq!(p.summary(false), "10/20 frames, 1 chunk(s) failed · 5.5 frames/s, in 1.80 s", "the summary's pace");
}

#[test]
fn batch_progress_skips_already_done_items_and_lists_failures() {
    let mut p = JobProgress::new(&ranks(2));
    p.planned(&[true, false, false]);
    assert_eq!(p.total, 2);
    p.apply(&Progress::ItemAssigned { rank: 1, index: 1 });
    assert_eq!(p.items[1], ItemState::Running { rank: 1 });
    p.apply(&Progress::ItemDone { rank: 1, index: 1, secs: 1.0, error: None });
    p.apply(&Progress::ItemDone { rank: 0, index: 2, secs: 0.1, error: Some("b.png: corrupt".into()) });
    assert_eq!(p.items[0], ItemState::AlreadyDone);
    assert_eq!((p.fraction(), p.failed), (RUNNING_CAP, 1));
    p.end(false);
    assert_eq!(p.fraction(), 1.0);
    assert_eq!(p.summary(true), format!("2/2 images, 1 failed, in {:.2} s", p.elapsed.unwrap().as_secs_f64()));
    assert_eq!(p.ranks[1].finished, 1);
}

#[test]
fn a_late_frame_report_after_its_chunk_ended_is_not_counted_twice() {
    use crate::video::Chunk;
    let mut p = JobProgress::new(&ranks(1));
    p.video_planned(20);
    let chunk = Chunk { index: 0, start: 0, frames: 20 };
    p.apply_video(&VideoEvent::ChunkAssigned { rank: 0, chunk });
    p.apply_video(&VideoEvent::Frames { rank: 0, index: 0, frames: 18 });
    p.apply_video(&VideoEvent::ChunkDone { rank: 0, chunk, secs: 1.0, error: None });
    p.apply_video(&VideoEvent::Frames { rank: 0, index: 0, frames: 20 });
    p.end_video(false, 20.0, 1.0);
    assert_eq!(p.headline(false), "20/20 frames");
}

#[test]
fn the_bar_reads_100_percent_only_once_the_job_ended_and_says_finishing_meanwhile() {
    let mut p = JobProgress::new(&ranks(2));
    assert_eq!(p.headline(false), "starting", "nothing handed out yet: not 0/0 strips");
    p.apply(&Progress::RowsAssigned { rank: 0, start: 0, end: 100 });
    p.apply(&Progress::RowsAssigned { rank: 1, start: 100, end: 200 });
    // Every rank reports its whole strip computed; the rows are not back yet.
    p.apply(&Progress::StripProgress { rank: 0, fraction: 1.0 });
    p.apply(&Progress::StripProgress { rank: 1, fraction: 1.0 });
    p.started -= Duration::from_secs(2);
    assert_eq!(p.fraction(), RUNNING_CAP);
    assert!(p.summary(false).starts_with("99 % · 0/2 strips · 2.0 s · finishing"), "{}", p.summary(false));
    p.apply(&Progress::RowsDone { rank: 0, secs: 1.0, error: None });
    p.apply(&Progress::RowsDone { rank: 1, secs: 1.0, error: None });
    assert_eq!(p.fraction(), RUNNING_CAP, "every strip back, but the job has not said it ended");
    p.end(false);
    assert_eq!((p.fraction(), p.headline(false)), (1.0, "2/2 strips".to_string()));
}

#[test]
fn a_cancel_is_neither_a_failure_nor_a_success_for_an_image_a_batch_and_a_video() {
    let mut p = JobProgress::new(&ranks(3));
    for (rank, (start, end)) in [(0, 100), (100, 200), (200, 300)].into_iter().enumerate() {
        p.apply(&Progress::RowsAssigned { rank, start, end });
    }
    p.apply(&Progress::RowsDone { rank: 2, secs: 0.5, error: None });
    p.cancel_asked();
    p.apply(&Progress::RowsDone { rank: 1, secs: 0.5, error: Some("cancelled".into()) });
    p.end(true);
    assert_eq!((p.failed, p.stopped), (0, 1));
    assert_eq!(p.headline(false), "cancelled · 1/3 strips done");
    assert!(p.summary(false).starts_with("cancelled · 1/3 strips done, after "), "{}", p.summary(false));
    let work: Vec<&str> = p.ranks.iter().map(|r| r.work.as_str()).collect();
    assert_eq!(work, ["rows 0..100: cancelled", "rows 100..200: cancelled", "rows 200..300"]);
    assert!(p.fraction() < 1.0);

    let mut b = JobProgress::new(&ranks(2));
    b.planned(&[false, false, false]);
    b.apply(&Progress::ItemDone { rank: 0, index: 0, secs: 0.1, error: None });
    b.cancel_asked();
    b.apply(&Progress::ItemDone { rank: 1, index: 1, secs: 0.1, error: Some("cancelled".into()) });
    b.end(true);
    assert_eq!(b.headline(true), "cancelled · 1/3 images done");
    assert_eq!(b.items[1], ItemState::Waiting, "a stopped image is still to do, not failed");

    use crate::video::Chunk;
    let mut v = JobProgress::new(&ranks(1));
    v.video_planned(20);
    let chunk = Chunk { index: 0, start: 0, frames: 20 };
    v.apply_video(&VideoEvent::ChunkAssigned { rank: 0, chunk });
    v.apply_video(&VideoEvent::Frames { rank: 0, index: 0, frames: 5 });
    v.cancel_asked();
    v.apply_video(&VideoEvent::ChunkDone { rank: 0, chunk, secs: 1.0, error: Some("cancelled".into()) });
    v.end_video(true, 5.0, 1.0);
    assert_eq!(v.failed, 0);
    assert!(
        v.summary(false).starts_with("cancelled · 0/20 frames done"),
        "a stopped chunk is not kept: {}",
        v.summary(false)
    );
}
