//! The SDK's ABI fingerprint: a hash of everything in `src/` that a plugin compiles into itself.
//!
//! Shared by `build.rs` (which bakes the fingerprint into `abi::SDK_FINGERPRINT`) and by the
//! snapshot test `tests/abi_snapshot.rs` (which compares it with `abi-snapshot.txt`).
//!
//! **What is hashed.** Every `src/**/*.rs` file, after `normalize`: comments and doc comments
//! removed, whitespace runs collapsed to one space (string, char and raw-string literals are
//! kept verbatim). Doc edits do not change the fingerprint; any code change does.
//!
//! **Why all items and not only `pub` ones.** A plugin and the gateway exchange SDK values by
//! reference and by value, so the *layout* of every type that crosses matters, and it depends on
//! private fields too. Generic and inlined code (`Guarded`, `PluginOutput::attr`, the
//! `export_plugin!` macro) is instantiated inside the plugin from the plugin's copy of the SDK,
//! so function bodies are part of the contract as well. Hashing the normalized token text of
//! every file covers all of that without a Rust parser in the build.
//!
//! **The one exception.** A file that holds nothing but `pub const NAME: &str = "…";` items
//! (today `semconv.rs`, the attribute names) is listed but not hashed: names are not layout or
//! code, and a plugin built before a name was added still agrees with the gateway on every
//! value it can see. Anything else in such a file makes it hashed like the rest.

#![allow(dead_code)]

use std::path::Path;

/// One source file of the SDK as the fingerprint sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to `src/`, with `/` separators.
    pub path: String,
    /// FNV-1a 64 of the normalized text.
    pub hash: u64,
    /// False for files of string constants only (see the module docs).
    pub hashed: bool,
}

/// The fingerprint and the files behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    /// Every `.rs` file under `src/`, sorted by path.
    pub files: Vec<SourceFile>,
    /// FNV-1a 64 over `path \0 normalized \0` of the hashed files, in order.
    pub fingerprint: u64,
}

impl Surface {
    /// The fingerprint as 16 lowercase hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }
}

/// FNV-1a, 64 bits: stable across compilers and platforms (unlike `DefaultHasher`).
pub fn fnv1a(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a's initial state.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Reads and fingerprints every `.rs` file under `src_dir`.
pub fn surface(src_dir: &Path) -> std::io::Result<Surface> {
    let mut paths = Vec::new();
    collect(src_dir, src_dir, &mut paths)?;
    paths.sort();
    let mut files = Vec::new();
    let mut fingerprint = FNV_OFFSET;
    for rel in paths {
        let text = normalize(&std::fs::read_to_string(src_dir.join(&rel))?);
        let hashed = !names_only(&text);
        if hashed {
            fingerprint = fnv1a(fingerprint, rel.as_bytes());
            fingerprint = fnv1a(fingerprint, b"\0");
            fingerprint = fnv1a(fingerprint, text.as_bytes());
            fingerprint = fnv1a(fingerprint, b"\0");
        }
        let hash = fnv1a(FNV_OFFSET, text.as_bytes());
        files.push(SourceFile {
            path: rel,
            hash,
            hashed,
        });
    }
    Ok(Surface { files, fingerprint })
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Source text without comments, whitespace runs as one space, literals untouched.
pub fn normalize(src: &str) -> String {
    let s: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut space = false;
    let mut i = 0;
    let emit = |out: &mut String, space: &mut bool, text: &[char]| {
        if *space && !out.is_empty() {
            out.push(' ');
        }
        *space = false;
        out.extend(text.iter());
    };
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c.is_whitespace() {
            space = true;
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
            space = true;
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            space = true;
        } else if c == '"' {
            let end = string_end(&s, i + 1);
            emit(&mut out, &mut space, &s[i..end]);
            i = end;
        } else if c == '\'' {
            let end = char_end(&s, i);
            emit(&mut out, &mut space, &s[i..end]);
            i = end;
        } else if is_ident(c) {
            let start = i;
            while i < s.len() && is_ident(s[i]) {
                i += 1;
            }
            let ident: String = s[start..i].iter().collect();
            let raw =
                matches!(ident.as_str(), "r" | "br" | "cr") && matches!(s.get(i), Some('#' | '"'));
            if raw {
                i = raw_string_end(&s, i);
            }
            emit(&mut out, &mut space, &s[start..i]);
        } else {
            emit(&mut out, &mut space, &s[i..i + 1]);
            i += 1;
        }
    }
    out
}

/// Index just past the closing `"` of a string whose body starts at `i`.
fn string_end(s: &[char], mut i: usize) -> usize {
    while i < s.len() {
        match s[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

/// `'x'`, `'\n'`, `'\u{..}'` (char literals) or `'a` (a lifetime or label).
fn char_end(s: &[char], i: usize) -> usize {
    if s.get(i + 1) == Some(&'\\') {
        let mut j = i + 3;
        while j < s.len() && s[j] != '\'' {
            j += 1;
        }
        return (j + 1).min(s.len());
    }
    if s.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i + 1
}

/// Index just past a raw string whose `#`s or `"` start at `i`.
fn raw_string_end(s: &[char], mut i: usize) -> usize {
    let mut hashes = 0;
    while s.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    if s.get(i) != Some(&'"') {
        return i;
    }
    i += 1;
    while i < s.len() {
        if s[i] == '"' && (1..=hashes).all(|k| s.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    s.len()
}

/// True when normalized text is only `pub const NAME: &str = "…";` items (and not empty).
pub fn names_only(normalized: &str) -> bool {
    let mut rest = normalized.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix("pub const ") else {
            return false;
        };
        let name_len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        let Some(value) = after[name_len..].strip_prefix(": &str = \"") else {
            return false;
        };
        let chars: Vec<char> = value.chars().collect();
        let end = string_end(&chars, 0);
        let consumed: usize = chars[..end].iter().map(|c| c.len_utf8()).sum();
        let Some(tail) = value[consumed..].strip_prefix(';') else {
            return false;
        };
        if name_len == 0 {
            return false;
        }
        rest = tail.trim_start();
    }
    true
}
