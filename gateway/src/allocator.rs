//! glibc malloc settings for the gateway process, applied once at startup.
//!
//! The gateway allocates through the system allocator (plugins share its heap, see
//! `gateway_plugin_host`), which on Linux is glibc's malloc. Left at its defaults it keeps what
//! a burst freed: each of up to 8 arenas per core grows to the burst's size and gives little
//! back, and after the first large buffer is freed the mmap threshold rises to 32 MiB, so later
//! request bodies come from (and stay in) the arenas. Measured with a flood of 20,000 requests
//! with 1 KB model names: 15 arenas holding 587 MB for 54 MB in use (docs/faults.md). So:
//!
//! - at most [`ARENA_MAX`] arenas (`M_ARENA_MAX`);
//! - allocations of [`MMAP_THRESHOLD`] or more always mapped on their own (`M_MMAP_THRESHOLD`,
//!   fixed, which also stops the threshold from rising): a freed body buffer goes back at once;
//! - a `malloc-trim` thread that every [`TRIM_EVERY`] reads the resident size and, when it is
//!   more than [`TRIM_ABOVE_KIB`] above the lowest seen, calls `malloc_trim(0)` to return the
//!   free pages inside the arenas. Off the request path, and never while the process is near
//!   its floor (an idle gateway never trims). A gateway that holds more for good (a full queue)
//!   trims every 2 s; each trim walks the free lists of two arenas, holding each arena's lock
//!   meanwhile, which costs little when little is free.
//!
//! Another allocator (jemalloc, mimalloc) is not an option: plugin libraries free what the
//! gateway allocates and the other way round, so both use the system allocator (see
//! `gateway_plugin_host`, which makes a second global allocator fail to link).

use std::time::Duration;

/// Most malloc arenas.
pub const ARENA_MAX: i32 = 2;
/// Allocations at least this large are mapped on their own and unmapped when freed.
pub const MMAP_THRESHOLD: i32 = 1 << 20;
/// How often the trim thread looks at the resident size.
pub const TRIM_EVERY: Duration = Duration::from_secs(2);
/// Resident size above the lowest seen that makes the trim thread trim.
pub const TRIM_ABOVE_KIB: u64 = 32 * 1024;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod glibc {
    use std::ffi::c_int;

    const M_MMAP_THRESHOLD: c_int = -3;
    const M_ARENA_MAX: c_int = -8;

    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
        fn malloc_trim(pad: usize) -> c_int;
    }

    pub fn configure(arena_max: i32, mmap_threshold: i32) -> bool {
        // SAFETY: mallopt only changes malloc's parameters; it is called before the runtime
        // starts its threads.
        unsafe {
            mallopt(M_ARENA_MAX, arena_max) == 1 && mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim is thread-safe and only returns free memory to the system.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The resident size of this process in KiB (`VmRSS`), if readable.
fn rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Applies the malloc settings and starts the trim thread (glibc only; elsewhere nothing).
/// Call first thing in `main`, before any thread starts.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if !glibc::configure(ARENA_MAX, MMAP_THRESHOLD) {
            tracing::warn!(
                "malloc settings were refused; memory freed after bursts may stay held."
            );
        }
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(|| {
                let mut floor = rss_kib().unwrap_or(0);
                loop {
                    std::thread::sleep(TRIM_EVERY);
                    let Some(now) = rss_kib() else { return };
                    floor = floor.min(now);
                    if now > floor + TRIM_ABOVE_KIB {
                        let t = std::time::Instant::now();
                        glibc::trim();
                        tracing::debug!(
                            before_kib = now,
                            after_kib = rss_kib().unwrap_or(now),
                            took_us = t.elapsed().as_micros() as u64,
                            "malloc_trim"
                        );
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "No malloc-trim thread; memory freed after bursts may stay held.");
        }
    }
}
