//! The command line around the commands: help, version, completions, unbuilt commands.

mod common;

use common::*;

#[test]
fn help_lists_every_subcommand_and_exit_codes() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for sub in [
        "list",
        "who",
        "check",
        "capture",
        "ping",
        "echo",
        "stats",
        "completions",
    ] {
        assert!(out.contains(sub), "{sub} missing from --help");
    }
    assert!(out.contains("Exit status"));
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("sockscope "));
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    let line = out.trim();
    let expected = format!("sockscope {} (", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&expected), "{line}");
    assert!(line.ends_with(')'), "{line}");
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match git {
        Ok(o) if o.status.success() => {
            let hash = String::from_utf8_lossy(&o.stdout).trim().to_string();
            let inner = &line[expected.len()..line.len() - 1];
            // "a1b2c3d 2026-12-01" or "a1b2c3d-dirty 2026-12-01".
            let built = inner.split([' ', '-']).next().unwrap_or("");
            assert_eq!(built, hash, "{line}");
            let date = inner.rsplit(' ').next().unwrap_or("");
            assert!(
                date.len() == 10 && date.chars().filter(|c| *c == '-').count() == 2,
                "commit date in {line}"
            );
        }
        _ => assert!(line.ends_with("(unknown commit)"), "{line}"),
    }
    // -V and every subcommand's --version say the same.
    let (_, short, _) = run(&["-V"]);
    assert_eq!(short.trim(), line);
    let (_, sub, _) = run(&["list", "--version"]);
    assert!(sub.contains(&line[expected.len() - 1..]), "{sub}");
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains("sockscope"), "{shell}");
        assert!(
            out.contains("listening"),
            "{shell} completes list's options"
        );
    }
    let (code, _, _) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2);
}

#[test]
fn bash_completion_script_is_valid_bash() {
    let (_, out, _) = run(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.bash");
    std::fs::write(&f, out).unwrap();
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&f)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn color_never_and_no_color() {
    let (code, out, _) = run(&["--color", "never", "list", "-t", "-l"]);
    assert_eq!(code, 0);
    assert!(!out.contains('\x1b'));
    let out = sockscope()
        .args(["--color", "always", "list", "--summary"])
        .output()
        .unwrap();
    assert!(out.status.success());
}
