//! A real `imgproc serve` for the HTTP tests: started alone or under real `mpirun` on a free
//! loopback port with its own data folder, reached with real `curl`, stopped by its guard.

use super::{s, BIN};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub base: String,
    pub data: PathBuf,
    child: Option<Child>,
}

/// A free loopback port (bound and released: another process could take it, none does here).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// `imgproc serve --data DATA EXTRA...` on `ranks` ranks (1: alone, no mpirun).
    pub fn start(ranks: usize, data: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = if ranks == 1 {
            Command::new(BIN)
        } else {
            let mut c = Command::new("mpirun");
            c.args(["--oversubscribe", "-np", &ranks.to_string(), BIN]);
            c.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
            c
        };
        cmd.args(["serve", "--listen", &listen, "--data", s(data)]).args(extra);
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("imgproc serve starts");
        let server = Server { base: format!("http://{listen}"), data: data.to_path_buf(), child: Some(child) };
        let started = Instant::now();
        while server.get("/healthz").0 != 200 {
            assert!(started.elapsed() < Duration::from_secs(60), "the server did not come up on {listen}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Stops the server with SIGTERM and waits for every rank to end.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let started = Instant::now();
            while child.try_wait().unwrap().is_none() {
                if started.elapsed() > Duration::from_secs(30) {
                    // SAFETY: as above.
                    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                    panic!("the server did not stop within 30 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `curl ARGS URL`: the status and the body.
    pub fn curl(&self, args: &[&str], path: &str) -> (u16, Vec<u8>) {
        curl(args, &self.url(path))
    }

    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        self.curl(&[], path)
    }

    pub fn get_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let auth = token.map(|t| format!("Authorization: Bearer {t}"));
        let mut args = Vec::new();
        if let Some(a) = &auth {
            args.extend(["-H", a.as_str()]);
        }
        let (status, body) = self.curl(&args, path);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// POST /api/jobs with `files` and `chain` (and more form fields); the status and JSON.
    pub fn submit(&self, files: &[&Path], chain: &str, token: Option<&str>, fields: &[&str]) -> (u16, Value) {
        let mut args: Vec<String> = vec!["-F".into(), format!("chain={chain}")];
        for f in fields {
            args.extend(["-F".into(), f.to_string()]);
        }
        for f in files {
            args.extend(["-F".into(), format!("files=@{}", s(f))]);
        }
        if let Some(t) = token {
            args.extend(["-H".into(), format!("Authorization: Bearer {t}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, body) = self.curl(&args, "/api/jobs");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Waits (bounded) until job `id` is final; returns it.
    pub fn wait_final(&self, id: &str, token: Option<&str>) -> Value {
        let started = Instant::now();
        loop {
            let (status, job) = self.get_json(&format!("/api/jobs/{id}"), token);
            assert_eq!(status, 200, "job {id}: {job}");
            if ["succeeded", "failed", "canceled"].contains(&job["status"].as_str().unwrap_or_default()) {
                return job;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "job {id} did not end: {job}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill has no memory preconditions; the group is the server's own.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}

/// `curl -s ARGS URL` with a bound on its time: the status and the body.
pub fn curl(args: &[&str], url: &str) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "60", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    let text = out.stdout;
    let cut = text.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let status = String::from_utf8_lossy(&text[cut + 1..]).trim().parse().unwrap_or(0);
    (status, text[..cut].to_vec())
}

/// The events of an SSE stream read until the server ends it (or `secs` pass), as
/// `(event, id, data)`.
pub fn sse(url: &str, headers: &[&str], secs: u32) -> Vec<(String, u64, String)> {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-N", "--max-time", &secs.to_string()]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().expect("curl runs");
    let mut events = Vec::new();
    for block in String::from_utf8_lossy(&out.stdout).split("\n\n") {
        let (mut event, mut id, mut data) = (String::new(), 0, String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_string();
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = v.to_string();
            }
        }
        if !event.is_empty() {
            events.push((event, id, data));
        }
    }
    events
}
