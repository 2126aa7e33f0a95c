//! The process's allocator: mimalloc in place of glibc's malloc, for the gateway, SQLite and
//! every plugin library alike.
//!
//! The gateway allocates through [`std::alloc::System`] (plugins share its heap, see
//! `gateway_plugin_host`), that is through the C `malloc`. On Linux this binary links mimalloc
//! (v2) statically with its `malloc`/`free` family exported under the C names, so the dynamic
//! linker binds every `malloc` of the process to it: Rust's `System`, SQLite, and the plugin
//! libraries loaded later (their undefined `malloc` resolves to the executable first). One heap
//! for all, as the plugin ABI requires, and no second `#[global_allocator]`.
//!
//! Why not glibc's malloc: a proxy thread allocates a request's spans and the writer thread
//! frees them, the pattern glibc handles worst. Profiled under load (`bench/profile17.py`,
//! docs/benchmarks.md), about a third of the proxy threads' time and a fifth of the writer's
//! went to `malloc`/`free` (arena locks, fast-bin consolidation). Why not jemalloc, also tried
//! and as fast: its start-up reads the clock while holding its init lock, which deadlocks under
//! an `LD_PRELOAD` clock shim such as libfaketime (the price-date test uses it).
//!
//! Two options are set at start ([`configure`]) so that memory freed after a burst goes back to
//! the system (measured with `bench/mem_flood.py`, docs/faults.md): arenas are committed on
//! demand rather than eagerly (mimalloc's default commits them whole), and freed pages are
//! purged after 10 ms (mimalloc's default, written down here so the start-up log shows it). A
//! purge delay of 0 gave memory back no better in the flood (73 MB against 70 MB after 6 idle
//! seconds) and cost the SQLite writer a tenth of its samples in `madvise`, page faults and
//! TLB shootdowns, a fifth of its CPU per stored trace (docs/benchmarks.md). A `MIMALLOC_*`
//! variable in the environment for either option wins over these.

/// mimalloc's `mi_option_arena_eager_commit` (`mimalloc.h`, v2).
const ARENA_EAGER_COMMIT: i32 = 4;
/// mimalloc's `mi_option_purge_delay` (`mimalloc.h`, v2).
const PURGE_DELAY: i32 = 15;

/// The options [`configure`] sets: (option, value, environment variable that overrides it).
const OPTIONS: [(i32, i64, &std::ffi::CStr); 2] = [
    (ARENA_EAGER_COMMIT, 0, c"MIMALLOC_ARENA_EAGER_COMMIT"),
    (PURGE_DELAY, 10, c"MIMALLOC_PURGE_DELAY"),
];

/// The allocator's name and version, e.g. `mimalloc 2.3.2`, for the start-up log.
pub fn describe() -> String {
    #[cfg(target_os = "linux")]
    {
        // Major, then two digits of minor and two of patch: 20302 is 2.3.2.
        let v = sys::version();
        format!("mimalloc {}.{}.{}", v / 10_000, (v / 100) % 100, v % 100)
    }
    #[cfg(not(target_os = "linux"))]
    {
        "the system allocator".to_owned()
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // three calls into the allocator's C API, none with preconditions
mod sys {
    pub(super) fn version() -> i32 {
        // SAFETY: `mi_version` returns a constant. Referencing mimalloc's API also makes the
        // linker keep the object that defines the exported `malloc` family.
        unsafe { libmimalloc_sys::mi_version() }
    }

    pub(super) fn set(option: i32, value: i64) {
        // SAFETY: setting an option is allowed at any time; both options are read on each use.
        unsafe { libmimalloc_sys::mi_option_set(option, value as std::ffi::c_long) }
    }

    #[allow(clippy::useless_conversion)] // `c_long` is 32 bits on some Linux targets
    pub(super) fn get(option: i32) -> i64 {
        // SAFETY: reading an option has no preconditions.
        i64::from(unsafe { libmimalloc_sys::mi_option_get(option) })
    }
}

/// Sets [`OPTIONS`] before anything allocates: from the executable's `.preinit_array`, which
/// the dynamic loader runs before any library's initialisers and before Rust's runtime, since
/// mimalloc reserves its first arena at the first allocation. The environment is read from the
/// `envp` the loader passes (glibc calls preinit functions with `argc, argv, envp`): libc's own
/// `environ` is not set up yet at this point, so `getenv` would find nothing.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
extern "C" fn set_options_before_any_allocation(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
    envp: *const *const std::ffi::c_char,
) {
    let set_by_user = |name: &std::ffi::CStr| -> bool {
        let name = name.to_bytes();
        let mut at = envp;
        // SAFETY: `envp` is the loader's NULL-terminated array of NUL-terminated strings
        // (or NULL), alive for the whole process; nothing here allocates.
        unsafe {
            while !at.is_null() && !(*at).is_null() {
                let entry = std::ffi::CStr::from_ptr(*at).to_bytes();
                if entry.len() > name.len() && entry.starts_with(name) && entry[name.len()] == b'='
                {
                    return true;
                }
                at = at.add(1);
            }
        }
        false
    };
    for (option, value, var) in OPTIONS {
        if !set_by_user(var) {
            sys::set(option, value);
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
#[used]
#[unsafe(link_section = ".preinit_array")]
static SET_OPTIONS: extern "C" fn(
    std::ffi::c_int,
    *const *const std::ffi::c_char,
    *const *const std::ffi::c_char,
) = set_options_before_any_allocation;

/// Logs which allocator serves the process and with which options. Call first thing in `main`.
pub fn configure() {
    #[cfg(target_os = "linux")]
    tracing::info!(
        allocator = %describe(),
        arena_eager_commit = sys::get(ARENA_EAGER_COMMIT),
        purge_delay_ms = sys::get(PURGE_DELAY),
        "Allocator."
    );
    #[cfg(not(target_os = "linux"))]
    tracing::info!(allocator = %describe(), "Allocator.");
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The option numbers are mimalloc's: what is set is read back from the same option.
    #[test]
    fn options_are_set_and_read_back() {
        let before = super::sys::get(super::PURGE_DELAY);
        super::sys::set(super::PURGE_DELAY, 7);
        assert_eq!(super::sys::get(super::PURGE_DELAY), 7);
        super::sys::set(super::PURGE_DELAY, before);
        assert!(
            super::describe().starts_with("mimalloc 2."),
            "{}",
            super::describe()
        );
    }
}
