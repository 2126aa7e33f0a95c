//! The allocator's options through the real binary: the shipped values apply, and a
//! `MIMALLOC_*` variable in the environment wins over them (read before anything allocates).

#![allow(clippy::unwrap_used)]

#[cfg(target_os = "linux")]
/// The start-up log line that names the allocator, from a run that stops at once (no config).
fn allocator_line(env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--config", "/nonexistent/gateway.toml"])
        .env_remove("MIMALLOC_PURGE_DELAY")
        .env_remove("MIMALLOC_ARENA_EAGER_COMMIT")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    log.lines()
        .find(|l| l.contains("Allocator."))
        .unwrap_or_else(|| panic!("no allocator line in:\n{log}"))
        .to_owned()
}

#[cfg(target_os = "linux")]
#[test]
fn shipped_options_apply_and_the_environment_wins() {
    let line = allocator_line(&[]);
    assert!(line.contains("allocator=mimalloc 2."), "{line}");
    assert!(line.contains("arena_eager_commit=0"), "{line}");
    assert!(line.contains("purge_delay_ms=10"), "{line}");
    let line = allocator_line(&[("MIMALLOC_PURGE_DELAY", "5")]);
    assert!(line.contains("purge_delay_ms=5"), "{line}");
    assert!(line.contains("arena_eager_commit=0"), "{line}");
    let line = allocator_line(&[("MIMALLOC_ARENA_EAGER_COMMIT", "2")]);
    assert!(line.contains("arena_eager_commit=2"), "{line}");
    assert!(line.contains("purge_delay_ms=10"), "{line}");
}
