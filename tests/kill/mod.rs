//! The crash-kill harness shared by `tests/crash_kills.rs` (bounded, run in CI) and
//! `benches/crash.rs` (a few hundred kills): real `cairn daemon` processes killed with SIGKILL
//! at random points during work, restarted on the same data dir, and checked.
//!
//! Four kinds of work are interrupted:
//! - `cairn add` of a multi-MiB file and `cairn car import` (one content node);
//! - a storage deal on the provider side: the provider daemon is killed while it pulls the DAG
//!   from a client (an in-process node, which stays up);
//! - receipt writes: an in-process payer sends signed receipts one after the other and the
//!   provider is killed while they flow; a receipt counts as acknowledged only once the payer
//!   has the provider's answer `stored` (or `duplicate`, for a resent one).
//!
//! Kill points are uniform over the measured length of one uninterrupted run of the same work,
//! drawn from a seeded ChaCha RNG; the seed is printed and `CAIRN_CRASH_SEED` replays it.
//!
//! After every restart [`check`] verifies, from outside the daemon (the data dir's files and
//! database, its HTTP API and CLI):
//! - every block row in the database has a file whose bytes hash to its CID;
//! - every file is counted (has a row) or was removed, and no temp file is left;
//! - the used bytes the daemon reports equal the sum of the rows' sizes and of the files';
//! - every pinned CID reads back byte-identical, and every add or import the CLI reported as
//!   done is still pinned;
//! - (receipts) every acknowledged receipt is in the payee's history;
//! - (deals) every deal the provider accepted resumes to `active` (see [`DealRule`]).
//!
//! A broken invariant is recorded as a [`Violation`] with the seed, the kill and what was
//! found; the caller decides whether to fail (the CI test) or to report and go on (the bench).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn::amount::Amount;
use cairn::content::Block;
use cairn::pay::wire::{PayRequest, PayResponse};
use cairn::pay::Receipt;
use cairn::signed::Signed;
use cid::Cid;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{bytes, sha256_hex, TestNode};

pub const BIN: &str = env!("CARGO_BIN_EXE_cairn");

/// 256 KiB chunks: a 4 MiB file is 16 leaves and a root, so a kill lands between blocks.
pub const CHUNKER: &str = "size-262144";

/// How long a restarted daemon may take to be ready.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a CLI command may run before it is taken as hung.
const CLI_LIMIT: Duration = Duration::from_secs(60);

/// What a deal interrupted by a provider kill must do after the restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealRule {
    /// Reach `active` within the limit.
    Active,
    /// Reach `active`, or still be `accepted`/`transferring` at the limit with no failure
    /// recorded (a transfer that retries later has lost nothing).
    ActiveOrTransferring,
}

/// The sizes of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub add_kills: usize,
    pub car_kills: usize,
    pub deal_kills: usize,
    pub receipt_kills: usize,
    /// Bytes of each file added or imported.
    pub file_bytes: usize,
    /// Bytes of each deal's DAG.
    pub deal_bytes: usize,
    pub deal_rule: DealRule,
    /// How long a resumed deal may take to become active.
    pub deal_limit: Duration,
}

/// One broken invariant.
#[derive(Debug, Clone)]
pub struct Violation {
    pub phase: &'static str,
    pub kill: usize,
    pub what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} kill {}] {}", self.phase, self.kill, self.what)
    }
}

/// Counts of one phase.
#[derive(Debug, Clone, Default)]
pub struct PhaseStats {
    pub kills: usize,
    /// Post-restart check rounds (each covers every invariant of the phase).
    pub checks: usize,
    /// Single invariant assertions made (a block verified, a pin read back, a receipt found,
    /// a deal's state, a count compared).
    pub assertions: usize,
    pub elapsed: Duration,
    /// One uninterrupted run of the phase's work (kill points fall within it).
    pub span: Duration,
    /// Deals that were still transferring at the limit (allowed by `ActiveOrTransferring`).
    pub deals_pending: usize,
    /// Deals the kill came too early for (the provider never recorded them).
    pub deals_unrecorded: usize,
    pub deals_active: usize,
    /// Active deals that were `transferring` when the provider was killed and activated by
    /// the restarted process (the kill hit the pull itself).
    pub deals_resumed_mid_transfer: usize,
    /// Receipts acknowledged to the payer.
    pub receipts_acked: usize,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Outcome {
    pub seed: u64,
    pub phases: Vec<(&'static str, PhaseStats)>,
    pub violations: Vec<Violation>,
}

impl Outcome {
    pub fn kills(&self) -> usize {
        self.phases.iter().map(|(_, s)| s.kills).sum()
    }
    pub fn checks(&self) -> usize {
        self.phases.iter().map(|(_, s)| s.checks).sum()
    }
    pub fn assertions(&self) -> usize {
        self.phases.iter().map(|(_, s)| s.assertions).sum()
    }
    pub fn elapsed(&self) -> Duration {
        self.phases.iter().map(|(_, s)| s.elapsed).sum()
    }
}

/// The seed from `CAIRN_CRASH_SEED`, else a fresh one; printed either way.
pub fn seed() -> u64 {
    let seed = std::env::var("CAIRN_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash suite seed: {seed} (CAIRN_CRASH_SEED={seed} replays the kill points)");
    seed
}

/// A `cairn daemon` in its own process on a data dir of its own, killed and restarted at will.
pub struct Proc {
    pub repo: PathBuf,
    child: Option<Child>,
    pub id: String,
    pub api: String,
    pub addresses: Vec<String>,
    pub token: String,
    starts: usize,
}

impl Proc {
    /// Initializes `repo` (loopback only, OS-picked ports) and starts a daemon on it.
    pub fn init_and_start(repo: PathBuf) -> Proc {
        let out = Command::new(BIN)
            .env("CAIRN_PATH", &repo)
            .env_remove("CAIRN_API")
            .args(["init", "--random-ports"])
            .output()
            .expect("cairn init");
        assert!(out.status.success(), "init: {}", stderr(&out));
        let config = repo.join("config.toml");
        let text = std::fs::read_to_string(&config)
            .expect("config")
            .replace("0.0.0.0", "127.0.0.1");
        std::fs::write(&config, text).expect("config");
        let mut proc = Proc {
            repo,
            child: None,
            id: String::new(),
            api: String::new(),
            addresses: Vec::new(),
            token: String::new(),
            starts: 0,
        };
        proc.start();
        proc
    }

    /// Starts the daemon and waits for its ready line (printed once the start-up reconcile
    /// is done and the API serves).
    pub fn start(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.repo.with_extension("log"))
            .expect("daemon log");
        let mut child = Command::new(BIN)
            .env("CAIRN_PATH", &self.repo)
            .env_remove("CAIRN_API")
            .args(["--json", "daemon"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("cairn daemon");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Drain until the process ends, so a later write never meets a closed pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(START_LIMIT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                let log =
                    std::fs::read_to_string(self.repo.with_extension("log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "daemon on {} did not become ready in {START_LIMIT:?} (start {}, {status:?}); \
                     its log ends:\n{}",
                    self.repo.display(),
                    self.starts,
                    tail.join("\n")
                );
            }
        };
        let info: serde_json::Value = serde_json::from_str(&line).expect("daemon ready line");
        assert_eq!(info["pid"], child.id(), "daemon.json of another process");
        self.id = info["id"].as_str().expect("id").to_string();
        self.api = info["api"].as_str().expect("api").to_string();
        self.addresses = info["addresses"]
            .as_array()
            .expect("addresses")
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        self.token = std::fs::read_to_string(self.repo.join("api.token"))
            .expect("token")
            .trim()
            .to_string();
        self.child = Some(child);
    }

    /// SIGKILL, as `kill -9` would: no shutdown code of the daemon runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // std's Child::kill sends SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn tcp_addr(&self) -> String {
        self.addresses
            .iter()
            .find(|a| a.contains("/tcp/"))
            .cloned()
            .expect("a TCP address")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .env("CAIRN_PATH", &self.repo)
            .env_remove("CAIRN_API")
            .args(args);
        command
    }

    /// Runs the CLI against this daemon and waits (bounded) for it.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_bounded(self.command(args), CLI_LIMIT)
    }

    /// Starts the CLI against this daemon without waiting.
    pub fn spawn_cli(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cairn")
    }

    /// The used-byte figure the daemon reports on `/metrics`.
    pub async fn reported_used_bytes(&self, http: &reqwest::Client) -> Result<u64, String> {
        let text = http
            .get(format!("{}/metrics", self.api))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| format!("GET /metrics: {e}"))?
            .text()
            .await
            .map_err(|e| format!("GET /metrics body: {e}"))?;
        text.lines()
            .find_map(|l| l.strip_prefix("cairn_store_used_bytes "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .ok_or_else(|| "no cairn_store_used_bytes on /metrics".to_string())
    }

    /// The pinned CIDs, as `pin ls --json` lists them.
    pub fn pins(&self) -> Result<BTreeSet<String>, String> {
        let out = self.cli(&["pin", "ls", "--json"]);
        if !out.status.success() {
            return Err(format!("pin ls failed: {}", stderr(&out)));
        }
        let list: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("pin ls --json: {e}"))?;
        Ok(list["pins"]
            .as_array()
            .map(|pins| {
                pins.iter()
                    .filter_map(|p| p["cid"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// Runs `command` to its end, or kills it after `limit` (its output then says so).
fn run_bounded(mut command: Command, limit: Duration) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_bounded(child, limit)
}

/// Waits for a spawned command, killing it after `limit`. Its output is read while it runs,
/// so a command that prints more than a pipe holds does not stall.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    fn drain(
        pipe: Option<impl std::io::Read + Send + 'static>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                break child.wait().expect("wait");
            }
        }
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// What the content checks expect of one node.
#[derive(Debug, Default)]
pub struct Expect {
    /// Every CID that may be pinned, with the SHA-256 of its file's bytes.
    pub readable: BTreeMap<String, String>,
    /// CIDs that must be pinned (an add or import the CLI reported as done).
    pub required: BTreeSet<String>,
    /// Pinned CIDs not to read back (a deal still transferring holds a pin on a partial DAG).
    pub partial: BTreeSet<String>,
}

/// The block rows in the database, by canonical CID text, with their sizes.
async fn block_rows(repo: &Path) -> Result<BTreeMap<String, u64>, String> {
    let url = format!("sqlite://{}", repo.join("cairn.db").display());
    let db = cairn::db::Db::connect(&url)
        .await
        .map_err(|e| format!("open the database: {e}"))?;
    let mut rows = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = db
            .blocks_page(after.as_deref(), 10_000)
            .await
            .map_err(|e| format!("read block rows: {e}"))?;
        let Some((last, _, _)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        for (_, cid, size) in &page {
            rows.insert(cairn::blockstore::canonical(cid).to_string(), *size);
        }
    }
    db.close().await;
    Ok(rows)
}

/// What the block files hold: intact files by CID text with their sizes, and problems.
#[derive(Debug, Default)]
struct Files {
    intact: BTreeMap<String, u64>,
    /// Files whose bytes do not hash to their CID, or could not be read.
    bad: BTreeMap<String, String>,
    /// Names under `blocks/` that are no block's file (strays, temp leftovers).
    strays: Vec<String>,
    bytes: u64,
}

fn block_files(root: &Path) -> Result<Files, String> {
    let mut files = Files::default();
    let shards = std::fs::read_dir(root).map_err(|e| format!("read {}: {e}", root.display()))?;
    for shard in shards.flatten() {
        let shard_path = shard.path();
        let shard_name = shard.file_name().to_string_lossy().to_string();
        if !shard_path.is_dir() {
            files.strays.push(shard_name);
            continue;
        }
        for entry in std::fs::read_dir(&shard_path)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            files.bytes += size;
            let Ok(cid) = Cid::try_from(name.as_str()) else {
                files.strays.push(format!("{shard_name}/{name}"));
                continue;
            };
            match std::fs::read(entry.path()) {
                Ok(data) => match Block::verified(cid, data) {
                    Ok(_) => {
                        files.intact.insert(name, size);
                    }
                    Err(e) => {
                        files.bad.insert(name, e.to_string());
                    }
                },
                Err(e) => {
                    files.bad.insert(name, e.to_string());
                }
            }
        }
    }
    Ok(files)
}

/// One check round's findings.
#[derive(Debug, Default)]
pub struct Checked {
    pub problems: Vec<String>,
    pub assertions: usize,
}

/// The store invariants: rows, files and the used-byte figures agree, every file verified.
async fn check_store(proc: &Proc, http: &reqwest::Client) -> Checked {
    let mut out = Checked::default();
    let rows = match block_rows(&proc.repo).await {
        Ok(rows) => rows,
        Err(e) => {
            out.problems.push(e);
            return out;
        }
    };
    let files = match block_files(&proc.repo.join("blocks")) {
        Ok(files) => files,
        Err(e) => {
            out.problems.push(e);
            return out;
        }
    };
    for (cid, size) in &rows {
        out.assertions += 1;
        match (files.intact.get(cid), files.bad.get(cid)) {
            (Some(file_size), _) if file_size == size => {}
            (Some(file_size), _) => out.problems.push(format!(
                "row {cid} says {size} bytes, its file has {file_size}"
            )),
            (None, Some(why)) => out
                .problems
                .push(format!("row {cid} has a file that does not verify: {why}")),
            (None, None) => out.problems.push(format!("row {cid} has no file")),
        }
    }
    for cid in files.intact.keys().chain(files.bad.keys()) {
        out.assertions += 1;
        if !rows.contains_key(cid) {
            out.problems
                .push(format!("file {cid} is neither counted nor removed"));
        }
    }
    let tmp_left: Vec<&String> = files
        .strays
        .iter()
        .filter(|s| s.as_str() != ".tmp")
        .collect();
    out.assertions += 1;
    if !tmp_left.is_empty() {
        out.problems.push(format!(
            "files under blocks/ that are no block: {tmp_left:?}"
        ));
    }
    let row_sum: u64 = rows.values().sum();
    out.assertions += 2;
    if row_sum != files.bytes {
        out.problems.push(format!(
            "the rows sum to {row_sum} bytes, the files to {}",
            files.bytes
        ));
    }
    match proc.reported_used_bytes(http).await {
        Ok(reported) if reported == row_sum => {}
        Ok(reported) => out.problems.push(format!(
            "the daemon reports {reported} used bytes, the rows sum to {row_sum}"
        )),
        Err(e) => out.problems.push(e),
    }
    out
}

/// The content invariants: every pin reads back byte-identical, every acknowledged add is
/// pinned.
async fn check_pins(proc: &Proc, http: &reqwest::Client, expect: &Expect) -> Checked {
    let mut out = Checked::default();
    let pins = match proc.pins() {
        Ok(pins) => pins,
        Err(e) => {
            out.problems.push(e);
            return out;
        }
    };
    for cid in &expect.required {
        out.assertions += 1;
        if !pins.contains(cid) {
            out.problems
                .push(format!("{cid} was reported added but is not pinned"));
        }
    }
    for cid in &pins {
        if expect.partial.contains(cid) {
            continue;
        }
        out.assertions += 1;
        let Some(want) = expect.readable.get(cid) else {
            out.problems
                .push(format!("{cid} is pinned but was never added"));
            continue;
        };
        let read = http
            .get(format!("{}/api/v1/cat/{cid}", proc.api))
            .bearer_auth(&proc.token)
            .timeout(Duration::from_secs(60))
            .send()
            .await;
        let body = match read {
            Ok(response) if response.status().is_success() => response.bytes().await,
            Ok(response) => {
                out.problems
                    .push(format!("cat {cid}: status {}", response.status()));
                continue;
            }
            Err(e) => {
                out.problems.push(format!("cat {cid}: {e}"));
                continue;
            }
        };
        match body {
            Ok(data) if &sha256_hex(&data) == want => {}
            Ok(data) => out.problems.push(format!(
                "cat {cid}: {} bytes that differ from what was added",
                data.len()
            )),
            Err(e) => out.problems.push(format!("cat {cid}: body cut: {e}")),
        }
    }
    out
}

/// Every invariant of a node's content, after a restart. With `settling`, a store that does
/// not agree yet is looked at again for a few seconds: fetched blocks are recorded in batches
/// up to a second after their files land, by design.
pub async fn check(
    proc: &Proc,
    http: &reqwest::Client,
    expect: &Expect,
    settling: bool,
) -> Checked {
    let deadline = Instant::now() + Duration::from_secs(if settling { 10 } else { 0 });
    let mut store = check_store(proc, http).await;
    while settling && !store.problems.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        store = check_store(proc, http).await;
    }
    let pins = check_pins(proc, http, expect).await;
    Checked {
        problems: store.problems.into_iter().chain(pins.problems).collect(),
        assertions: store.assertions + pins.assertions,
    }
}

/// Commands that do one piece of work (their arguments), each with the CID it pins.
type Jobs = Vec<(Vec<String>, String)>;

/// A run: the RNG, where its data lives, what it found.
pub struct Run {
    pub rng: ChaCha8Rng,
    pub work: PathBuf,
    pub plan: Plan,
    pub http: reqwest::Client,
    pub outcome: Outcome,
    /// Print a line per kill.
    pub verbose: bool,
}

impl Run {
    pub fn new(seed: u64, work: PathBuf, plan: Plan) -> Run {
        Run {
            rng: ChaCha8Rng::seed_from_u64(seed),
            work,
            plan,
            http: reqwest::Client::new(),
            outcome: Outcome {
                seed,
                ..Outcome::default()
            },
            verbose: false,
        }
    }

    fn violate(&mut self, phase: &'static str, kill: usize, what: String) {
        let v = Violation { phase, kill, what };
        eprintln!("INVARIANT BROKEN (seed {}): {v}", self.outcome.seed);
        self.outcome.violations.push(v);
    }

    fn record(
        &mut self,
        phase: &'static str,
        kill: usize,
        checked: Checked,
        stats: &mut PhaseStats,
    ) {
        stats.checks += 1;
        stats.assertions += checked.assertions;
        for problem in checked.problems {
            self.violate(phase, kill, problem);
        }
    }

    /// A delay uniform in `[0, 1.2 span]`: mostly while the work runs, sometimes just after
    /// it was acknowledged (which must then survive).
    fn kill_point(&mut self, span: Duration) -> Duration {
        let micros = (span.as_micros().max(1) as u64).saturating_mul(6) / 5;
        Duration::from_micros(self.rng.gen_range(0..=micros))
    }

    /// Every phase of the plan, in order.
    pub async fn all(&mut self) {
        self.content().await;
        self.deals_and_receipts().await;
    }

    /// Kills during `cairn add` and `cairn car import` on one content node.
    pub async fn content(&mut self) {
        let dir = self.work.join("content");
        std::fs::create_dir_all(&dir).expect("work dir");
        let mut node = Proc::init_and_start(dir.join("repo"));
        let mut expect = Expect::default();

        // Files to add (a few, so adds both write anew and meet blocks already stored).
        let mut files = Vec::new();
        for i in 0..3u64 {
            let path = dir.join(format!("file-{i}.bin"));
            let data = bytes(self.plan.file_bytes, 1000 + i);
            std::fs::write(&path, &data).expect("file");
            let cid = cid_of(&node, &path);
            expect.readable.insert(cid.clone(), sha256_hex(&data));
            files.push((path, cid));
        }
        // CARs to import: exported once from an add, then unpinned and collected.
        let mut cars = Vec::new();
        for i in 0..1u64 {
            let path = dir.join(format!("car-{i}.bin"));
            let data = bytes(self.plan.file_bytes, 2000 + i);
            std::fs::write(&path, &data).expect("file");
            let cid = ok_line(&node.cli(&["add", "-q", "--chunker", CHUNKER, path_str(&path)]));
            let car = dir.join(format!("car-{i}.car"));
            ok_line(&node.cli(&["car", "export", &cid, "-o", path_str(&car)]));
            ok_line(&node.cli(&["pin", "rm", &cid]));
            expect.readable.insert(cid.clone(), sha256_hex(&data));
            cars.push((car, cid));
        }
        ok_line(&node.cli(&["gc"]));

        let add_args = |path: &Path| -> Vec<String> {
            ["add", "-q", "--chunker", CHUNKER, path_str(path)]
                .map(str::to_string)
                .to_vec()
        };
        let import_args = |path: &Path| -> Vec<String> {
            ["car", "import", path_str(path)]
                .map(str::to_string)
                .to_vec()
        };
        let work: Vec<(&'static str, usize, Jobs)> = vec![
            (
                "add",
                self.plan.add_kills,
                files
                    .iter()
                    .map(|(p, c)| (add_args(p), c.clone()))
                    .collect(),
            ),
            (
                "car import",
                self.plan.car_kills,
                cars.iter()
                    .map(|(p, c)| (import_args(p), c.clone()))
                    .collect(),
            ),
        ];
        for (phase, kills, jobs) in work {
            let started = Instant::now();
            let mut stats = PhaseStats::default();
            // One uninterrupted run measures how long the work takes: kills fall within it.
            let (args, cid) = &jobs[0];
            let t0 = Instant::now();
            let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
            let first = node.cli(&args_ref);
            let span = t0.elapsed();
            stats.span = span;
            assert!(first.status.success(), "{phase}: {}", stderr(&first));
            expect.required.insert(cid.clone());
            for kill in 1..=kills {
                let (args, cid) = &jobs[self.rng.gen_range(0..jobs.len())];
                // Sometimes start from nothing stored, sometimes over what is there.
                if self.rng.gen_bool(0.5) && expect.required.contains(cid) {
                    ok_line(&node.cli(&["pin", "rm", cid]));
                    ok_line(&node.cli(&["gc"]));
                    expect.required.remove(cid);
                }
                let at = self.kill_point(span);
                let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
                let job = node.spawn_cli(&args_ref);
                std::thread::sleep(at);
                node.kill();
                let out = wait_bounded(job, CLI_LIMIT);
                let acked = out.status.success();
                if acked {
                    expect.required.insert(cid.clone());
                }
                node.start();
                stats.kills += 1;
                if self.verbose {
                    println!(
                        "{phase} kill {kill}: at {:?} of {:?}, acknowledged: {acked}",
                        at, span
                    );
                }
                let checked = check(&node, &self.http, &expect, false).await;
                self.record(phase, kill, checked, &mut stats);
            }
            stats.elapsed = started.elapsed();
            self.outcome.phases.push((phase, stats));
        }
        node.kill();
    }

    /// Kills of a provider while it pulls deals' DAGs, then while receipts flow to it.
    pub async fn deals_and_receipts(&mut self) {
        let dir = self.work.join("provider");
        std::fs::create_dir_all(&dir).expect("work dir");
        let mut provider = Proc::init_and_start(dir.join("repo"));
        ok_line(&provider.cli(&[
            "provider",
            "ask",
            "set",
            "--price-per-gib-month",
            "1",
            "--min-duration",
            "1s",
            "--max-duration",
            "365d",
            "--max-piece",
            "1GiB",
            "--capacity",
            "1GiB",
        ]));
        let client = TestNode::start().await;
        let expect = self.deals(&mut provider, &client).await;
        self.receipts(&mut provider, &client, &expect).await;
        provider.kill();
        client.stop().await;
    }

    /// Returns what the provider's content must be afterwards.
    async fn deals(&mut self, provider: &mut Proc, client: &TestNode) -> Expect {
        let phase = "deal transfer";
        let started = Instant::now();
        let mut stats = PhaseStats::default();
        let mut expect = Expect::default();
        // The uninterrupted deal: how long one takes, and that one works at all.
        let data = bytes(self.plan.deal_bytes, 5000);
        let cid = client
            .add_cid(data.clone(), &format!("?chunker={CHUNKER}"))
            .await;
        expect.readable.insert(cid.clone(), sha256_hex(&data));
        let t0 = Instant::now();
        let first = make_deal(client, provider, &cid);
        let first = wait_bounded(first, Duration::from_secs(120));
        let span = t0.elapsed();
        stats.span = span;
        assert!(
            first.status.success(),
            "an uninterrupted deal failed: {}",
            stderr(&first)
        );
        for kill in 1..=self.plan.deal_kills {
            let data = bytes(self.plan.deal_bytes, 5000 + kill as u64);
            let cid = client
                .add_cid(data.clone(), &format!("?chunker={CHUNKER}"))
                .await;
            expect.readable.insert(cid.clone(), sha256_hex(&data));
            let at = self.kill_point(span);
            let job = make_deal(client, provider, &cid);
            std::thread::sleep(at);
            let killed_at = unix_ms();
            provider.kill();
            provider.start();
            stats.kills += 1;
            // The client's `deal make` may wait for a provider that went away; it is not
            // what this checks.
            let mut job = job;
            let _ = job.kill();
            let _ = job.wait();

            let state = self.await_deal(provider, &cid).await;
            stats.assertions += 1;
            match &state {
                DealSeen::Unrecorded => stats.deals_unrecorded += 1,
                DealSeen::Active => {
                    stats.deals_active += 1;
                    if resumed_mid_transfer(provider, &cid, killed_at) {
                        stats.deals_resumed_mid_transfer += 1;
                    }
                }
                DealSeen::Failed(reason) => {
                    self.violate(
                        phase,
                        kill,
                        format!("the deal of {cid} failed after the restart: {reason}"),
                    );
                }
                DealSeen::Pending(state) => {
                    expect.partial.insert(cid.clone());
                    match self.plan.deal_rule {
                        DealRule::ActiveOrTransferring => stats.deals_pending += 1,
                        DealRule::Active => self.violate(
                            phase,
                            kill,
                            format!(
                                "the deal of {cid} is still {state} {:?} after the restart \
                                 (no failure recorded): it did not resume to active",
                                self.plan.deal_limit
                            ),
                        ),
                    }
                }
            }
            if self.verbose {
                println!("deal kill {kill}: at {at:?} of {span:?}: {state:?}");
            }
            let checked = check(provider, &self.http, &expect, true).await;
            self.record(phase, kill, checked, &mut stats);
        }
        stats.elapsed = started.elapsed();
        self.outcome.phases.push((phase, stats));
        expect
    }

    /// Polls the provider's view of the deal on `root` until it settles or the limit passes.
    async fn await_deal(&mut self, provider: &Proc, root: &str) -> DealSeen {
        let deadline = Instant::now() + self.plan.deal_limit;
        loop {
            let seen = provider_deal(provider, root);
            let settled = matches!(
                seen,
                DealSeen::Active | DealSeen::Failed(_) | DealSeen::Unrecorded
            );
            // An unrecorded deal stays so: the provider never accepted it, and nothing after a
            // restart brings it back (the client's `deal make` was stopped).
            if settled || Instant::now() >= deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn receipts(&mut self, provider: &mut Proc, client: &TestNode, expect: &Expect) {
        let phase = "receipt writes";
        let started = Instant::now();
        let mut stats = PhaseStats::default();
        ok_line(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
        // The connection to the provider's previous process may still be closing: the first
        // stream can fail on it, so the open is tried again on a fresh dial.
        let open = || {
            client.cli(&[
                "pay",
                "channel",
                "open",
                &provider.id,
                "--deposit",
                "1000000000000",
                "--json",
            ])
        };
        let mut opened = open();
        for _ in 0..10 {
            if opened.status.success() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = client.cli(&["swarm", "connect", &provider.tcp_addr()]);
            opened = open();
        }
        let opened = ok_line(&opened);
        let opened: serde_json::Value = serde_json::from_str(&opened).expect("channel json");
        let channel = opened["id"].as_str().expect("channel id").to_string();
        let row = client
            .daemon
            .node()
            .db()
            .get_channel(&channel)
            .await
            .expect("channel row")
            .expect("the channel is recorded");
        let payee: [u8; 32] = hex::decode(&row.payee)
            .expect("payee hex")
            .try_into()
            .expect("32 bytes");
        let payer = client.daemon.node().key().verifying_key().to_bytes();
        let channel_cid: Cid = channel.parse().expect("channel cid");
        let key = client.daemon.node().key().clone();
        let net = client.daemon.node().net().running().expect("client net");
        let mut acked: BTreeSet<u64> = BTreeSet::new();
        let mut next_seq = 1u64;
        // One uninterrupted burst: how long ten receipts take.
        let span = {
            let t0 = Instant::now();
            let peer: libp2p::PeerId = provider.id.parse().expect("peer id");
            for _ in 0..10 {
                let receipt = Signed::sign(
                    Receipt {
                        channel: channel_cid.into(),
                        payer,
                        payee,
                        amount: Amount(next_seq * 10),
                        seq: next_seq,
                        deal: None,
                        at: next_seq,
                        voucher: None,
                    },
                    &key,
                )
                .expect("sign");
                let answer = net
                    .pay(
                        peer,
                        &PayRequest::Pay(vec![receipt]),
                        Duration::from_secs(5),
                    )
                    .await;
                match answer {
                    Ok(PayResponse::Acks(acks))
                        if acks.first().map(|a| a.status.as_str()) == Some("stored") =>
                    {
                        acked.insert(next_seq);
                        next_seq += 1;
                    }
                    other => panic!("an uninterrupted receipt was not stored: {other:?}"),
                }
            }
            t0.elapsed()
        };
        stats.span = span;
        for kill in 1..=self.plan.receipt_kills {
            let peer: libp2p::PeerId = provider.id.parse().expect("peer id");
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let sender = tokio::spawn(send_receipts(
                net.clone(),
                peer,
                key.clone(),
                (channel_cid, payer, payee),
                next_seq,
                stop.clone(),
            ));
            let at = self.kill_point(span);
            tokio::time::sleep(at).await;
            provider.kill();
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let sent = sender.await.expect("sender task");
            stats.kills += 1;
            stats.receipts_acked += sent.acked.len();
            acked.extend(&sent.acked);
            // The next round starts with the receipt whose answer was lost, if any: the payee
            // answers `duplicate` if it stored it.
            next_seq = sent.next_seq;
            for refused in sent.refused {
                self.violate(phase, kill, refused);
            }
            provider.start();
            ok_line(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
            if self.verbose {
                println!(
                    "receipt kill {kill}: at {at:?} of {span:?}, {} acknowledged",
                    sent.acked.len()
                );
            }
            let mut checked = check(provider, &self.http, expect, true).await;
            match stored_receipts(provider, &channel) {
                Ok(stored) => {
                    for seq in &acked {
                        checked.assertions += 1;
                        if !stored.contains(seq) {
                            checked.problems.push(format!(
                                "acknowledged receipt seq {seq} of {channel} is gone"
                            ));
                        }
                    }
                }
                Err(e) => checked.problems.push(e),
            }
            self.record(phase, kill, checked, &mut stats);
        }
        stats.elapsed = started.elapsed();
        self.outcome.phases.push((phase, stats));
    }
}

/// The seqs of the channel's receipts the payee holds.
fn stored_receipts(provider: &Proc, channel: &str) -> Result<BTreeSet<u64>, String> {
    let out = provider.cli(&["pay", "receipts", channel, "--json"]);
    if !out.status.success() {
        return Err(format!(
            "pay receipts failed ({}): {}",
            out.status,
            stderr(&out)
        ));
    }
    let history: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("pay receipts --json: {e}"))?;
    Ok(history["receipts"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["seq"].as_u64()).collect())
        .unwrap_or_default())
}

/// What one sender round saw.
struct Sent {
    acked: Vec<u64>,
    next_seq: u64,
    refused: Vec<String>,
}

/// Sends receipts `from..` one at a time until `stop`, each answered before the next.
async fn send_receipts(
    net: cairn::net::NetHandle,
    peer: libp2p::PeerId,
    key: ed25519_dalek::SigningKey,
    (channel, payer, payee): (Cid, [u8; 32], [u8; 32]),
    from: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Sent {
    let mut sent = Sent {
        acked: Vec::new(),
        next_seq: from,
        refused: Vec::new(),
    };
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let seq = sent.next_seq;
        let receipt = match Signed::sign(
            Receipt {
                channel: channel.into(),
                payer,
                payee,
                amount: Amount(seq * 10),
                seq,
                deal: None,
                at: seq,
                voucher: None,
            },
            &key,
        ) {
            Ok(r) => r,
            Err(e) => {
                sent.refused.push(format!("cannot sign: {e}"));
                break;
            }
        };
        match net
            .pay(
                peer,
                &PayRequest::Pay(vec![receipt]),
                Duration::from_secs(2),
            )
            .await
        {
            Ok(PayResponse::Acks(acks)) => {
                let status = acks.first().map(|a| a.status.clone()).unwrap_or_default();
                if status == "stored" || status == "duplicate" {
                    sent.acked.push(seq);
                    sent.next_seq += 1;
                } else {
                    sent.refused
                        .push(format!("receipt seq {seq} answered {status:?}"));
                    break;
                }
            }
            Ok(other) => {
                sent.refused
                    .push(format!("receipt seq {seq} answered {other:?}"));
                break;
            }
            // The provider is gone (killed): the round ends at the next stop check.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    sent
}

/// A deal as the provider lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DealSeen {
    Unrecorded,
    Active,
    Failed(String),
    /// `accepted` or `transferring`, with no failure recorded.
    Pending(String),
}

fn provider_deal(provider: &Proc, root: &str) -> DealSeen {
    let out = provider.cli(&["provider", "deals", "--json"]);
    if !out.status.success() {
        return DealSeen::Failed(format!("provider deals failed: {}", stderr(&out)));
    }
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let Some(deal) = list["deals"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["root"] == root))
    else {
        return DealSeen::Unrecorded;
    };
    let state = deal["state"].as_str().unwrap_or("?").to_string();
    let failed_event = deal["events"].as_array().and_then(|events| {
        events
            .iter()
            .find(|e| e["state"] == "failed")
            .map(|e| e["reason"].as_str().unwrap_or("").to_string())
    });
    match (state.as_str(), failed_event) {
        ("active", _) => DealSeen::Active,
        (_, Some(reason)) => DealSeen::Failed(format!("{state}: {reason}")),
        ("accepted" | "transferring", None) => DealSeen::Pending(state),
        (other, None) => DealSeen::Failed(format!("unexpected state {other}")),
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Whether the provider's deal on `root` entered `transferring` before `killed_at` (Unix ms)
/// and `active` after it.
fn resumed_mid_transfer(provider: &Proc, root: &str, killed_at: i64) -> bool {
    let out = provider.cli(&["provider", "deals", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let events = list["deals"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["root"] == root))
        .and_then(|d| d["events"].as_array().cloned())
        .unwrap_or_default();
    let at = |state: &str| {
        events
            .iter()
            .filter(|e| e["state"] == state)
            .filter_map(|e| e["at"].as_i64())
            .collect::<Vec<_>>()
    };
    at("transferring").iter().any(|t| *t < killed_at) && at("active").iter().any(|t| *t > killed_at)
}

/// `cairn deal make` from the client to the provider, not waited for.
fn make_deal(client: &TestNode, provider: &Proc, cid: &str) -> Child {
    Command::new(BIN)
        .env("CAIRN_PATH", client.repo())
        .env_remove("CAIRN_API")
        .args([
            "deal",
            "make",
            cid,
            "--provider",
            &provider.tcp_addr(),
            "--duration",
            "1h",
            "--wait",
            "2m",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deal make")
}

/// The CID `cairn add -n` computes for a file (locally, nothing stored).
fn cid_of(node: &Proc, path: &Path) -> String {
    ok_line(&node.cli(&["add", "-n", "-q", "--chunker", CHUNKER, path_str(path)]))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A command's trimmed stdout after checking it succeeded.
#[track_caller]
pub fn ok_line(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}): {}",
        out.status,
        stderr(out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The per-phase table of an outcome.
pub fn report(outcome: &Outcome) -> String {
    let mut lines = vec![format!(
        "seed {}: {} kills, {} check rounds, {} assertions in {:.1} s; {} invariant(s) broken",
        outcome.seed,
        outcome.kills(),
        outcome.checks(),
        outcome.assertions(),
        outcome.elapsed().as_secs_f64(),
        outcome.violations.len()
    )];
    for (phase, s) in &outcome.phases {
        let mut line = format!(
            "  {phase}: {} kills, {} checks, {} assertions, {:.1} s",
            s.kills,
            s.checks,
            s.assertions,
            s.elapsed.as_secs_f64()
        );
        if phase.starts_with("deal") {
            line.push_str(&format!(
                "; deals active {} (of which killed mid-transfer and resumed {}), still \
                 transferring {}, never recorded {}",
                s.deals_active, s.deals_resumed_mid_transfer, s.deals_pending, s.deals_unrecorded
            ));
        }
        if phase.starts_with("receipt") {
            line.push_str(&format!("; receipts acknowledged {}", s.receipts_acked));
        }
        lines.push(line);
    }
    for v in &outcome.violations {
        lines.push(format!("  BROKEN {v}"));
    }
    lines.join("\n")
}
