//! The binary as a service manager runs it: `SIGTERM` (systemd, Docker) and `SIGINT` (Ctrl-C)
//! stop `cairn daemon` gracefully with exit 0 and no `daemon.json` left; a `daemon.json` left
//! by a killed daemon is reported as stale and replaced at the next start; `cairn devnet`
//! removes its temporary data on `SIGTERM` and when its stdout pipe closes.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn cairn(repo: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command
        .env("CAIRN_PATH", repo)
        .env_remove("CAIRN_API")
        .env_remove("CAIRN_LOG")
        .env_remove("RUST_LOG");
    command
}

fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid this test spawned and still owns (not yet reaped).
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `cairn daemon --random-ports` on `repo` and waits for its JSON line.
fn start_daemon(repo: &Path) -> (Child, serde_json::Value) {
    let mut child = cairn(repo)
        .args(["daemon", "--random-ports", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("daemon's first line {line:?}: {e}"));
    (child, info)
}

fn daemon_json(repo: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(repo.join("daemon.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// A daemon stopped by `sig` exits 0, removes `daemon.json` and closes SQLite cleanly (the
/// last connection's close checkpoints the WAL into the database and deletes it); the data
/// it held is there at the next start.
fn stops_cleanly_on(sig: i32) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let (mut child, info) = start_daemon(&repo);
    assert_eq!(info["pid"], child.id());
    assert_eq!(daemon_json(&repo).unwrap()["pid"], child.id());
    let file = repo.join("kept.txt");
    std::fs::write(&file, b"kept across a graceful stop").unwrap();
    let added = cairn(&repo)
        .args(["add", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let cid = serde_json::from_slice::<serde_json::Value>(&added.stdout).unwrap()["cid"]
        .as_str()
        .unwrap()
        .to_string();

    signal(&child, sig);
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(!repo.join("daemon.json").exists());
    assert!(
        !repo.join("cairn.db-wal").exists(),
        "the WAL was not checkpointed"
    );

    let (mut again, _) = start_daemon(&repo);
    let cat = cairn(&repo).args(["cat", &cid]).output().unwrap();
    assert_eq!(cat.stdout, b"kept across a graceful stop", "{cat:?}");
    signal(&again, libc::SIGTERM);
    assert_eq!(
        wait_bounded(&mut again, Duration::from_secs(30)).code(),
        Some(0)
    );
}

#[test]
fn sigterm_stops_the_daemon_gracefully_with_exit_0() {
    stops_cleanly_on(libc::SIGTERM);
}

#[test]
fn sigint_stops_the_daemon_gracefully_with_exit_0() {
    stops_cleanly_on(libc::SIGINT);
}

#[test]
fn a_killed_daemons_daemon_json_is_reported_stale_and_replaced_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let (mut child, _) = start_daemon(&repo);
    let old_pid = child.id();
    signal(&child, libc::SIGKILL);
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), None, "killed by a signal");
    assert_eq!(daemon_json(&repo).unwrap()["pid"], old_pid, "left behind");

    // The CLI does not try the dead daemon's address: it says what happened.
    let id = cairn(&repo).arg("id").output().unwrap();
    assert!(!id.status.success());
    let stderr = String::from_utf8_lossy(&id.stderr);
    assert!(
        stderr.contains(&format!("left by pid {old_pid}")) && stderr.contains("stopped without"),
        "{stderr}"
    );

    // The next daemon replaces it with its own, and the CLI reaches it.
    let (mut next, info) = start_daemon(&repo);
    assert_eq!(daemon_json(&repo).unwrap()["pid"], next.id());
    assert_eq!(daemon_json(&repo).unwrap()["api"], info["api"]);
    let id = cairn(&repo).args(["id", "--json"]).output().unwrap();
    assert!(id.status.success(), "{id:?}");
    let id: serde_json::Value = serde_json::from_slice(&id.stdout).unwrap();
    assert_eq!(id["id"], info["id"]);
    signal(&next, libc::SIGTERM);
    assert_eq!(
        wait_bounded(&mut next, Duration::from_secs(30)).code(),
        Some(0)
    );
}

/// Starts a small devnet with `--json` and returns it with its data dir (from the `started`
/// event) and the rest of its stdout's lines.
fn start_devnet() -> (
    Child,
    PathBuf,
    mpsc::Receiver<String>,
    std::thread::JoinHandle<()>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "devnet",
            "--nodes",
            "2",
            "--replicas",
            "1",
            "--period",
            "1s",
        ])
        .args(["--dataset-mib", "1", "--kill-after", "1h", "--json"])
        .env_remove("CAIRN_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                // The receiver is gone: drop stdout, closing the pipe's read end.
                return;
            }
        }
    });
    let line = received
        .recv_timeout(Duration::from_secs(60))
        .expect("devnet started");
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["event"], "started", "{event}");
    let data = PathBuf::from(event["data"].as_str().unwrap());
    assert!(data.join("client").join("config.toml").exists());
    (child, data, received, reader)
}

#[test]
fn devnet_removes_its_temporary_data_on_sigterm() {
    let (mut child, data, received, _reader) = start_devnet();
    // One summary: the network runs.
    let line = received.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(line.contains("\"summary\""), "{line}");
    signal(&child, libc::SIGTERM);
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(!data.exists(), "{} was left behind", data.display());
}

#[test]
fn devnet_removes_its_temporary_data_when_its_stdout_pipe_closes() {
    let (mut child, data, received, reader) = start_devnet();
    // The reader goes away (as `cairn devnet | head -1` does): the next summary fails to write.
    drop(received);
    // The reader thread ends at the next line, closing the pipe's read end.
    reader.join().unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(!data.exists(), "{} was left behind", data.display());
}

/// `cairn init --random-ports` on `repo`, with loopback-only swarm listeners.
fn init(repo: &Path, extra_config: &str) {
    let out = cairn(repo)
        .args(["init", "--random-ports"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let path = repo.join("config.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("/ip4/0.0.0.0/", "/ip4/127.0.0.1/");
    std::fs::write(&path, format!("{text}\n{extra_config}")).unwrap();
}

/// Runs a daemon on `repo` with `env`, stops it with SIGTERM, and returns its stderr (a file,
/// so not a terminal).
fn daemon_stderr(repo: &Path, env: &[(&str, &str)]) -> String {
    let log = repo.with_extension("stderr");
    let mut command = cairn(repo);
    command
        .args(["daemon", "--json"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("\"api\""), "{line}");
    signal(&child, libc::SIGTERM);
    assert_eq!(
        wait_bounded(&mut child, Duration::from_secs(30)).code(),
        Some(0)
    );
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn log_format_json_writes_one_json_object_per_line_and_text_has_no_colours_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("json");
    init(&json, "[log]\nformat = \"json\"\n");
    let stderr = daemon_stderr(&json, &[]);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let ready = events
        .iter()
        .find(|e| e["fields"]["message"] == "daemon ready")
        .unwrap_or_else(|| panic!("no ready event in {stderr}"));
    assert_eq!(ready["level"], "INFO");
    assert!(ready["fields"]["api"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(ready["timestamp"].is_string());
    assert!(events
        .iter()
        .any(|e| e["fields"]["message"] == "stopping" && e["fields"]["signal"] == "SIGTERM"));

    let text = dir.path().join("text");
    init(&text, "");
    let stderr = daemon_stderr(&text, &[]);
    assert!(stderr.contains("daemon ready"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes in a file: {stderr:?}"
    );
    assert!(serde_json::from_str::<serde_json::Value>(stderr.lines().next().unwrap()).is_err());
}

#[test]
fn rust_log_is_honoured_and_cairn_log_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    init(&repo, "");
    let quiet = daemon_stderr(&repo, &[("RUST_LOG", "off")]);
    assert!(!quiet.contains("daemon ready"), "{quiet}");
    // Per target: the CLI's lines, not the node's.
    let cli_only = daemon_stderr(&repo, &[("RUST_LOG", "off,cairn::cli=info")]);
    assert!(cli_only.contains("stopping"), "{cli_only}");
    assert!(!cli_only.contains("daemon ready"), "{cli_only}");
    let both = daemon_stderr(&repo, &[("RUST_LOG", "off"), ("CAIRN_LOG", "cairn=info")]);
    assert!(both.contains("daemon ready"), "{both}");
    assert!(both.contains("stopping"), "{both}");
}

#[test]
fn a_bad_log_format_stops_the_daemon_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    init(&repo, "[log]\nformat = \"xml\"\n");
    let out = cairn(&repo).args(["daemon"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("log.format (line"), "{stderr}");
    assert!(!repo.join("daemon.json").exists());
}
