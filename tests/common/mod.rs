//! What the integration tests share: launching the real binary alone or under real `mpirun`
//! with a deadline, sample pictures, the one-process reference.
#![allow(dead_code)] // each test file uses its own subset

pub mod server;
pub mod video;

use imgproc::codec;
use imgproc::synth;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_imgproc");
/// Far above what any launch here needs; reaching it means a rank hung.
pub const DEADLINE: Duration = Duration::from_secs(120);
pub const RANKS: [usize; 4] = [1, 2, 3, 5];

/// Runs a command to completion or kills it at the deadline (and fails the test).
pub fn run(mut cmd: Command) -> Output {
    let what = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    // Own process group, so a hung mpirun and its ranks can be killed together.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let started = Instant::now();
    loop {
        if child.try_wait().expect("waitable").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > DEADLINE {
            let _ = Command::new("kill").arg("-KILL").arg(format!("-{}", child.id())).status();
            let out = child.wait_with_output().expect("output");
            panic!("{what} hung for {DEADLINE:?}; stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `imgproc ARGS` under `mpirun -np RANKS`.
pub fn mpirun(ranks: usize, args: &[&str]) -> Output {
    run(mpirun_command(ranks, args))
}

fn mpirun_command(ranks: usize, args: &[&str]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "-np", &ranks.to_string(), BIN]).args(args);
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    cmd
}

/// `imgproc ARGS` alone, one rank, no mpirun.
pub fn alone(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run(cmd)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed ({:?}):\n{}", out.status, stderr(out));
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp paths")
}

pub fn write_picture(path: &Path, w: usize, h: usize, channels: usize, seed: u64) {
    let ext = path.extension().unwrap().to_str().unwrap();
    let bytes = codec::encode(&synth::picture(w, h, channels, seed), ext).unwrap();
    std::fs::write(path, bytes).unwrap();
}

pub fn reference(op: &str, input: &Path, output: &Path) -> Vec<u8> {
    assert_ok(&alone(&["run", "--reference", "--op", op, s(input), "-o", s(output)]), "reference");
    std::fs::read(output).unwrap()
}

pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(codec::TMP_MARKER))
        .collect()
}

/// Starts `imgproc ARGS` under `mpirun -np RANKS` in its own process group without waiting.
pub fn spawn_mpirun(ranks: usize, args: &[&str]) -> Child {
    let mut cmd = mpirun_command(ranks, args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().expect("mpirun starts")
}

/// Waits up to `limit` for `ready()` to hold, polling every 20 ms; panics naming `what` if not.
pub fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// PIDs of the processes whose command line contains `needle` (the imgproc ranks of one job).
pub fn pids_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        if text.contains(needle) && exe.ends_with("imgproc") && !is_zombie(pid) {
            pids.push(pid);
        }
    }
    pids.sort();
    pids
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// The MPI rank of an imgproc process (from its environment), `None` when started alone.
pub fn rank_of(pid: u32) -> Option<usize> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|&b| b == 0)
        .find_map(|v| v.strip_prefix(b"OMPI_COMM_WORLD_RANK="))
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
}

/// The process among `pids` that is MPI rank `rank`; panics when none is.
pub fn pid_of_rank(pids: &[u32], rank: usize) -> u32 {
    *pids.iter().find(|&&p| rank_of(p) == Some(rank)).unwrap_or_else(|| panic!("no rank {rank} among {pids:?}"))
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0, "signal {signal} to {pid}");
}

/// Waits for a child with a deadline, killing its process group if it hangs.
pub fn finish(child: Child, what: &str) -> Output {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(format!("-{id}")).status();
            panic!("{what} hung for {DEADLINE:?}");
        }
    }
}

/// The events `event` ("done", "finish"...) a batch journal in `out_dir` holds so far.
pub fn journal_events(out_dir: &Path, event: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out_dir.join(imgproc::journal::JOURNAL_NAME)).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

/// Stops `pid` with SIGSTOP while it computes (its CPU time grows), not while it waits or sends.
pub fn stop_while_computing(pid: u32) {
    wait_until(Duration::from_secs(60), "the rank busy computing", || {
        let before = cpu_secs(pid);
        std::thread::sleep(Duration::from_millis(150));
        cpu_secs(pid) - before > 0.03
    });
    signal(pid, libc::SIGSTOP);
}
