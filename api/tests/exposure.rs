//! The `api` binary refuses to listen on a non-loopback address without a token (from
//! `[api] listen` or `--listen`), and starts with a loud warning under `allow_unauthenticated`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Stops the child when dropped (only the process this test started).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn api(config_text: &str, args: &[&str]) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("gateway.toml");
    let db = dir.path().join("gateway.db");
    let text = format!("[storage]\npath = {:?}\n{config_text}", db.display());
    std::fs::write(&config, text).expect("write config");
    let child = Command::new(env!("CARGO_BIN_EXE_api"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn api");
    (dir, Running(child))
}

/// Waits (with a deadline) for the process to exit and returns its stderr.
fn refused(config_text: &str, args: &[&str]) -> String {
    let (_dir, mut run) = api(config_text, args);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = run.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the api did not refuse to start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    if let Some(mut e) = run.0.stderr.take() {
        e.read_to_string(&mut stderr).expect("stderr");
    }
    stderr
}

/// Lines of `r`, sent as they come.
fn lines(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {needle:?}: {e}"),
        }
    }
}

#[test]
fn a_public_listen_without_a_token_is_refused() {
    for (config, args) in [
        ("[api]\nlisten = \"0.0.0.0:0\"\n", &[][..]),
        ("[api]\nlisten = \"[::]:0\"\n", &[][..]),
        ("[api]\n", &["--listen", "0.0.0.0:0"][..]),
        // The override gets the same rule as the file.
        (
            "[api]\nlisten = \"127.0.0.1:0\"\n",
            &["--listen", "0.0.0.0:0"][..],
        ),
    ] {
        let err = refused(config, args);
        assert!(
            err.contains("api.token")
                && err.contains("[api] token")
                && err.contains("allow_unauthenticated"),
            "{config} {args:?}: {err}"
        );
    }
}

#[test]
fn allow_unauthenticated_starts_with_a_warning() {
    let (_dir, mut run) = api(
        "[api]\nallow_unauthenticated = true\n",
        &["--listen", "0.0.0.0:0"],
    );
    let out = lines(run.0.stdout.take().expect("stdout"));
    let err = lines(run.0.stderr.take().expect("stderr"));
    wait_line(&out, "api listening on http://0.0.0.0:");
    let warning = wait_line(&err, "SECURITY");
    assert!(warning.contains("[api] token"), "{warning}");
}

#[test]
fn a_token_or_a_loopback_address_needs_nothing_else() {
    for (config, args) in [
        (
            "[api]\ntoken = \"s3cret\"\n",
            &["--listen", "0.0.0.0:0"][..],
        ),
        ("[api]\nlisten = \"127.0.0.1:0\"\n", &[][..]),
    ] {
        let (_dir, mut run) = api(config, args);
        let out = lines(run.0.stdout.take().expect("stdout"));
        wait_line(&out, "api listening on http://");
    }
}
