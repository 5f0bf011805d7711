//! The service files in `dist/` and the `Dockerfile`: the systemd unit verified by
//! `systemd-analyze` (Debian's `systemd` package; `./test.sh` installs it when missing, and
//! these tests fail rather than skip without it), the container's entrypoint and image shape.
//! Building the image needs a Docker daemon; `./test.sh` builds it when `CAIRN_TEST_DOCKER=1`.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../dist/cairn.service");
const DOCKERFILE: &str = include_str!("../Dockerfile");

/// The unit, with `ExecStart` pointing at this build's binary (verify checks it is executable).
fn unit_in(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("cairn.service");
    assert!(UNIT.contains("ExecStart=/usr/local/bin/cairn daemon"));
    let text = UNIT.replace("/usr/local/bin/cairn", env!("CARGO_BIN_EXE_cairn"));
    std::fs::write(&path, text).unwrap();
    path
}

fn systemd_analyze(args: &[&str], unit: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian's systemd package; ./test.sh installs it)")
}

#[test]
fn the_systemd_unit_verifies_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path());
    let out = systemd_analyze(&["verify"], &unit);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Unknown keys and bad values are warnings with exit 0: none is allowed.
    assert!(stderr.trim().is_empty(), "{stderr}");

    // A typo is caught, so the check above can fail.
    let broken = dir.path().join("broken.service");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&unit)
            .unwrap()
            .replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"),
    )
    .unwrap();
    let out = systemd_analyze(&["verify"], &broken);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NoNewPrivilege"),
        "{out:?}"
    );
}

#[test]
fn the_systemd_unit_is_hardened() {
    for option in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/cairn",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=\n",
        "User=cairn",
        "Environment=CAIRN_PATH=/var/lib/cairn",
        "KillSignal=SIGTERM",
    ] {
        assert!(UNIT.contains(option), "{option} missing");
    }
    // systemd's own exposure score (0 best, 10 worst, given as 0-100 to --threshold): it fails above 2.0.
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path());
    let out = systemd_analyze(&["security", "--offline=true", "--threshold=20"], &unit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Overall exposure level"), "{stdout}");
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_with_a_data_volume() {
    let stages = DOCKERFILE
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert_eq!(stages, 2, "a build stage and a runtime stage");
    let user = DOCKERFILE
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "{user}"
    );
    assert!(DOCKERFILE.contains("VOLUME [\"/data\"]"));
    assert!(DOCKERFILE.contains("ENV CAIRN_PATH=/data"));
    assert!(DOCKERFILE.contains("cargo build --release --locked"));
    // Every file the image copies from the repository exists.
    for line in DOCKERFILE
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
            assert!(path.exists(), "{line}: {} missing", path.display());
        }
    }
}

/// The entrypoint initializes a fresh data dir with the gateway on all interfaces and the API
/// on loopback, then runs the command it was given (here `id`, which needs no daemon: it
/// fails saying none runs, after the init).
#[test]
fn the_container_entrypoint_initializes_a_fresh_volume_and_execs_cairn() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/docker-entrypoint.sh");
    let check = Command::new("sh").arg("-n").arg(&script).output().unwrap();
    assert!(check.status.success(), "{check:?}");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = Path::new(env!("CARGO_BIN_EXE_cairn")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str]| {
        Command::new("sh")
            .arg(&script)
            .args(args)
            .env("CAIRN_PATH", &data)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    // Not `daemon`: nothing is initialized.
    let out = run(&["id"]);
    assert!(!out.status.success());
    assert!(!data.join("config.toml").exists());
    // `daemon` on a fresh volume: initialized first. Run `init` again after it to stop before
    // the daemon starts: it must refuse, since the entrypoint initialized the dir.
    let script_text = std::fs::read_to_string(&script).unwrap();
    let init_only = dir.path().join("init-only.sh");
    std::fs::write(
        &init_only,
        script_text.replace("exec cairn \"$@\"", "exit 0"),
    )
    .unwrap();
    let out = Command::new("sh")
        .arg(&init_only)
        .arg("daemon")
        .env("CAIRN_PATH", &data)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let config = cairn::config::DataDir::new(&data).load_config().unwrap();
    assert_eq!(config.gateway.listen.to_string(), "0.0.0.0:8701");
    assert_eq!(config.api.listen.to_string(), "127.0.0.1:5701");
    assert!(data.join("identity.key").exists());
}
