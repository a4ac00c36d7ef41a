//! The job store: every job, its items and their state in one SQLite file under `--data`
//! (WAL; the HTTP side's commits synced: a job the API acknowledged is on disk). The files themselves live
//! beside it ([`Layout`]); this module owns only the rows.
//!
//! Every change to a job bumps its `seq`; an item remembers the `seq` at which it ended. That
//! pair is what lets an event stream resume exactly (`events.rs`): a client that saw `seq` k
//! asks for the items that ended after k and the job's current state, even across a restart.

use super::model::{ItemView, JobKind, JobStatus, JobView, Progress};
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Where a job's files are: `DIR/jobs/ID/in` (uploads) and `DIR/jobs/ID/out` (results and the
/// batch journal).
#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(id)
    }
    pub fn inputs(&self, id: &str) -> PathBuf {
        self.job_dir(id).join("in")
    }
    pub fn outputs(&self, id: &str) -> PathBuf {
        self.job_dir(id).join("out")
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("imgproc.sqlite")
    }
}

/// A job as it is submitted (its files are already on disk).
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: String,
    pub user: String,
    pub kind: JobKind,
    pub chain: String,
    pub format: Option<String>,
    /// Input names, in item order (also the names under `in/`).
    pub inputs: Vec<String>,
    pub bytes_in: u64,
}

/// One SQLite connection behind a lock: the HTTP side and the dispatcher each hold their own.
pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs(
    id TEXT PRIMARY KEY, user TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
    chain TEXT NOT NULL, format TEXT, created REAL NOT NULL, started REAL, finished REAL,
    error TEXT, total INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0, progress TEXT, runs INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs(user, created);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, created);
CREATE INDEX IF NOT EXISTS jobs_by_user_status ON jobs(user, status);
CREATE TABLE IF NOT EXISTS items(
    job TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, output TEXT,
    status TEXT NOT NULL, error TEXT, seq INTEGER NOT NULL DEFAULT 0, bytes INTEGER,
    PRIMARY KEY(job, idx));
";

impl Store {
    /// Opens (creating if needed) the database at `path`. With `durable`, every commit is
    /// synced before it returns (the HTTP side: a job is acknowledged once it is on disk);
    /// without, commits survive a crash of the process but may roll back on a power loss (the
    /// dispatcher's progress: the batch journal, synced, is what a resume trusts).
    pub fn open(path: &Path, durable: bool) -> Result<Store> {
        let conn = Connection::open(path).with_context(|| format!("{}: cannot open the job store", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Every statement below is prepared once per connection, not on each call (parsing the
        // SQL cost about as much as running it).
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(SCHEMA).with_context(|| format!("{}: cannot create the tables", path.display()))?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a new queued job and its items in one transaction.
    pub fn insert(&self, job: &NewJob, now: f64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO jobs(id, user, kind, status, chain, format, created, total, bytes_in)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            job.id,
            job.user,
            job.kind.as_str(),
            job.chain,
            job.format,
            now,
            job.inputs.len(),
            job.bytes_in
        ])?;
        for (i, name) in job.inputs.iter().enumerate() {
            tx.prepare_cached("INSERT INTO items(job, idx, name, status) VALUES (?1, ?2, ?3, 'queued')")?
                .execute(params![job.id, i, name])?;
        }
        tx.commit().context("recording the job")
    }

    /// One job, if it exists and belongs to `user` (`None` for anyone's).
    pub fn job(&self, id: &str, user: Option<&str>) -> Result<Option<JobView>> {
        let conn = self.conn();
        let job = conn
            .prepare_cached("SELECT * FROM jobs WHERE id = ?1")?
            .query_row([id], job_of)
            .optional()?
            .filter(|j| user.is_none_or(|u| u == j.user));
        Ok(job)
    }

    /// A job's items in index order.
    pub fn items(&self, id: &str) -> Result<Vec<ItemView>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT idx, name, output, status, error, seq, bytes FROM items WHERE job = ?1 ORDER BY idx",
        )?;
        let rows = stmt.query_map([id], item_of)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Items that ended after event `seq`, in the order they ended.
    pub fn items_after(&self, id: &str, seq: u64) -> Result<Vec<ItemView>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT idx, name, output, status, error, seq, bytes FROM items WHERE job = ?1 AND seq > ?2 ORDER BY seq, idx",
        )?;
        let rows = stmt.query_map(params![id, seq], item_of)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A user's jobs, newest first.
    pub fn jobs_of(&self, user: &str) -> Result<Vec<JobView>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT * FROM jobs WHERE user = ?1 ORDER BY created DESC")?;
        let rows = stmt.query_map([user], job_of)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Jobs that still have work: queued, or running when the server stopped or while paused
    /// for another user, oldest first.
    pub fn runnable(&self) -> Result<Vec<JobView>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created, id")?;
        let rows = stmt.query_map([], job_of)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// What `user` has waiting: jobs and bytes (for the per-user caps).
    pub fn queued_by(&self, user: &str) -> Result<(u64, u64)> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(bytes_in), 0) FROM jobs WHERE user = ?1 AND status IN ('queued', 'running')",
        )?;
        let waiting = stmt.query_row([user], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))?;
        Ok(waiting)
    }

    /// Counts of jobs by status, for `/metrics`.
    pub fn counts(&self) -> Result<Vec<(String, u64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Moves a job to `status`, bumping its seq; `started`/`finished` are set when given.
    pub fn set_status(&self, id: &str, status: JobStatus, error: Option<&str>, now: f64) -> Result<u64> {
        let conn = self.conn();
        let (started, finished) = match status {
            JobStatus::Running => (Some(now), None),
            s if s.is_final() => (None, Some(now)),
            _ => (None, None),
        };
        let mut stmt = conn.prepare_cached(
            "UPDATE jobs SET status = ?2, error = COALESCE(?3, error), started = COALESCE(started, ?4),
             finished = COALESCE(?5, finished), seq = seq + 1,
             runs = runs + (CASE WHEN ?2 = 'running' THEN 1 ELSE 0 END)
             WHERE id = ?1 RETURNING seq",
        )?;
        let seq = stmt
            .query_row(params![id, status.as_str(), error, started, finished], |r| r.get::<_, i64>(0).map(|s| s as u64))
            .with_context(|| format!("job {id}: setting {status:?}"))?;
        Ok(seq)
    }

    /// Ends a job that has not ended yet (a cancel that came first wins); returns whether it did.
    pub fn end_job(&self, id: &str, status: JobStatus, error: Option<&str>, now: f64) -> Result<bool> {
        let conn = self.conn();
        let changed = conn
            .prepare_cached(
                "UPDATE jobs SET status = ?2, error = COALESCE(?3, error), finished = ?4, seq = seq + 1
             WHERE id = ?1 AND status IN ('queued', 'running')",
            )?
            .execute(params![id, status.as_str(), error, now])?;
        Ok(changed > 0)
    }

    /// Stores the live progress (rate, time left, ranks) and bumps the seq.
    pub fn set_progress(&self, id: &str, progress: &Progress) -> Result<u64> {
        let conn = self.conn();
        let json = serde_json::to_string(progress)?;
        let mut stmt =
            conn.prepare_cached("UPDATE jobs SET progress = ?2, seq = seq + 1 WHERE id = ?1 RETURNING seq")?;
        let seq = stmt.query_row(params![id, json], |r| r.get::<_, i64>(0).map(|s| s as u64))?;
        Ok(seq)
    }

    /// Ends one item (succeeded or failed) unless it already ended (then returns `false`);
    /// recounts the job.
    pub fn end_item(
        &self,
        id: &str,
        idx: usize,
        ok: bool,
        output: Option<&str>,
        error: Option<&str>,
        bytes: u64,
    ) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let status = if ok { "succeeded" } else { "failed" };
        let changed = tx
            .prepare_cached(
                "UPDATE items SET status = ?3, output = ?4, error = ?5, bytes = ?6,
             seq = (SELECT seq + 1 FROM jobs WHERE id = ?1)
             WHERE job = ?1 AND idx = ?2 AND status IN ('queued', 'running')",
            )?
            .execute(params![id, idx, status, output, error, bytes])?;
        if changed > 0 {
            tx.prepare_cached(
                "UPDATE jobs SET seq = seq + 1,
                 done = (SELECT COUNT(*) FROM items WHERE job = ?1 AND status = 'succeeded'),
                 failed = (SELECT COUNT(*) FROM items WHERE job = ?1 AND status = 'failed'),
                 bytes_out = bytes_out + ?2 WHERE id = ?1",
            )?
            .execute(params![id, bytes])?;
        }
        tx.commit()?;
        Ok(changed > 0)
    }

    /// Marks a queued item as on a rank now (shown as `running`; still open for `end_item`).
    pub fn start_item(&self, id: &str, idx: usize) -> Result<()> {
        let conn = self.conn();
        conn.prepare_cached(
            "UPDATE items SET status = 'running', seq = (SELECT seq + 1 FROM jobs WHERE id = ?1)
             WHERE job = ?1 AND idx = ?2 AND status = 'queued'",
        )?
        .execute(params![id, idx])?;
        conn.prepare_cached("UPDATE jobs SET seq = seq + 1 WHERE id = ?1")?.execute([id])?;
        Ok(())
    }

    /// Marks the items that did not end as cancelled (the job was cancelled).
    pub fn cancel_open_items(&self, id: &str) -> Result<()> {
        let conn = self.conn();
        conn.prepare_cached(
            "UPDATE items SET status = 'canceled', seq = (SELECT seq + 1 FROM jobs WHERE id = ?1)
             WHERE job = ?1 AND status NOT IN ('succeeded', 'failed')",
        )?
        .execute([id])?;
        Ok(())
    }

    /// Removes a job's rows.
    pub fn delete(&self, id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.prepare_cached("DELETE FROM items WHERE job = ?1")?.execute([id])?;
        tx.prepare_cached("DELETE FROM jobs WHERE id = ?1")?.execute([id])?;
        tx.commit()?;
        Ok(())
    }

    /// Finished jobs that ended before `before` (for `--keep`).
    pub fn expired(&self, before: f64) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled') AND finished < ?1",
        )?;
        let rows = stmt.query_map([before], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    /// Every job id (to find job folders left without a row).
    pub fn all_ids(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT id FROM jobs")?;
        let rows = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }
}

fn job_of(r: &Row) -> rusqlite::Result<JobView> {
    let kind: String = r.get("kind")?;
    let status: String = r.get("status")?;
    let progress: Option<String> = r.get("progress")?;
    Ok(JobView {
        id: r.get("id")?,
        user: r.get("user")?,
        kind: JobKind::parse(&kind).unwrap_or(JobKind::Images),
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Failed),
        chain: r.get("chain")?,
        format: r.get("format")?,
        created: r.get("created")?,
        started: r.get("started")?,
        finished: r.get("finished")?,
        error: r.get("error")?,
        total: r.get::<_, i64>("total")? as u64,
        done: r.get::<_, i64>("done")? as u64,
        failed: r.get::<_, i64>("failed")? as u64,
        bytes_in: r.get::<_, i64>("bytes_in")? as u64,
        bytes_out: r.get::<_, i64>("bytes_out")? as u64,
        seq: r.get::<_, i64>("seq")? as u64,
        runs: r.get::<_, i64>("runs")? as u64,
        progress: progress.and_then(|p| serde_json::from_str(&p).ok()),
    })
}

fn item_of(r: &Row) -> rusqlite::Result<ItemView> {
    Ok(ItemView {
        index: r.get::<_, i64>(0)? as usize,
        name: r.get(1)?,
        output: r.get(2)?,
        status: r.get(3)?,
        error: r.get(4)?,
        seq: r.get::<_, i64>(5)? as u64,
        bytes: r.get::<_, Option<i64>>(6)?.map(|b| b as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, user: &str, n: usize) -> NewJob {
        NewJob {
            id: id.into(),
            user: user.into(),
            kind: JobKind::Images,
            chain: "gaussian".into(),
            format: None,
            inputs: (0..n).map(|i| format!("{i}.png")).collect(),
            bytes_in: 10,
        }
    }

    #[test]
    fn an_item_ends_once_and_a_resuming_stream_gets_exactly_the_items_after_its_seq() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite"), true).unwrap();
        store.insert(&job("a", "u", 3), 1.0).unwrap();
        store.set_status("a", JobStatus::Running, None, 2.0).unwrap();
        store.end_item("a", 1, true, Some("1.png"), None, 5).unwrap();
        let seen = store.job("a", None).unwrap().unwrap().seq;
        store.end_item("a", 0, false, None, Some("corrupt"), 0).unwrap();
        store.end_item("a", 0, true, Some("0.png"), None, 5).unwrap(); // already ended: ignored
        let after: Vec<usize> = store.items_after("a", seen).unwrap().iter().map(|i| i.index).collect();
        assert_eq!(after, vec![0]);
        let j = store.job("a", Some("u")).unwrap().unwrap();
        assert_eq!((j.done, j.failed, j.bytes_out, j.runs), (1, 1, 5, 1));
        assert!(store.job("a", Some("someone else")).unwrap().is_none());
    }

    #[test]
    fn jobs_survive_reopening_the_file_and_stay_runnable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            let store = Store::open(&path, true).unwrap();
            store.insert(&job("a", "u", 2), 1.0).unwrap();
            store.insert(&job("b", "v", 1), 2.0).unwrap();
            store.set_status("a", JobStatus::Running, None, 3.0).unwrap();
            store.set_status("b", JobStatus::Succeeded, None, 3.0).unwrap();
        }
        let store = Store::open(&path, true).unwrap();
        let ids: Vec<String> = store.runnable().unwrap().into_iter().map(|j| j.id).collect();
        assert_eq!(ids, vec!["a"]);
        assert_eq!(store.queued_by("u").unwrap(), (1, 10));
        assert_eq!(store.expired(10.0).unwrap(), vec!["b"]);
    }
}
