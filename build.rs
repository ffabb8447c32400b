//! Build script: records the git commit the binary is built from, for `sockscope --version`
//! (`sockscope 0.1.0 (a1b2c3d 2026-12-01)`, `a1b2c3d-dirty` when tracked files differ from it).
//! Outside a git checkout (a crates tarball, `cargo install` from the registry) or without git
//! it says "unknown commit"; it never fails the build.

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // A changed source makes the tree dirty (git's own files below do not see edits that are
    // not staged).
    for p in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-env-changed=SOCKSCOPE_BUILD_COMMIT");
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = dir.as_path();
    let desc = std::env::var("SOCKSCOPE_BUILD_COMMIT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| describe(dir))
        .unwrap_or_else(|| "unknown commit".to_string());
    println!("cargo:rustc-env=SOCKSCOPE_BUILD_COMMIT={desc}");
}

/// `a1b2c3d 2026-12-01` (commit date), `-dirty` after the hash when tracked files were changed;
/// None when this crate is not a tracked part of a git checkout.
fn describe(dir: &Path) -> Option<String> {
    // Only our own checkout: a tarball unpacked inside some other repository is not one.
    git(dir, &["ls-files", "--error-unmatch", "Cargo.toml"])?;
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it points to (a commit),
    // packed refs, and the index (staging and committing change what "dirty" means). Paths come
    // from git, so linked worktrees (.git is a file there) work too.
    let mut watch = vec![
        "HEAD".to_string(),
        "index".to_string(),
        "packed-refs".to_string(),
    ];
    if let Some(r) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch.push(r);
    }
    for w in &watch {
        let path = git(
            dir,
            &["rev-parse", "--path-format=absolute", "--git-path", w],
        );
        if let Some(p) = path.filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    let hash = git(dir, &["rev-parse", "--short", "HEAD"])?;
    let date = git(dir, &["log", "-1", "--format=%cs", "HEAD"]).unwrap_or_default();
    let dirty = git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some();
    let mut s = hash;
    if dirty {
        s.push_str("-dirty");
    }
    if !date.is_empty() {
        s.push(' ');
        s.push_str(&date);
    }
    Some(s)
}
