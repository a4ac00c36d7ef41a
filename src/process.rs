//! Facts about this process that any layer may ask for: whether an MPI launcher started it, when
//! it started, its memory, the host's name. Nothing here starts or talks to MPI.

use std::time::Instant;

/// True when this process was started by `mpirun` (or another MPI launcher) rather than alone.
pub fn launched_by_mpirun() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].iter().any(|v| std::env::var_os(v).is_some())
}

/// This process's rank as its MPI launcher names it (`OMPI_COMM_WORLD_RANK`, `PMIX_RANK`), before
/// MPI starts; `None` when started alone.
pub fn launcher_rank() -> Option<usize> {
    ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].iter().find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// When this process started, as an `Instant` (from /proc; now, if that cannot be read).
pub fn process_start() -> Instant {
    let age = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let start_ticks: f64 = fields.get(19)?.parse().ok()?;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Some((uptime - start_ticks / hz).max(0.0))
    };
    let now = Instant::now();
    age().and_then(|a| now.checked_sub(std::time::Duration::from_secs_f64(a))).unwrap_or(now)
}

/// The host's name from the kernel (`localhost` where it cannot be read): a rank's name when MPI
/// is not running.
pub fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Peak and current resident set size of this process, from /proc (0 where unavailable).
pub fn rss_bytes() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
