//! The Debian package (`.ci/package.sh`, cargo-deb): built (unoptimised, profile package-test,
//! to keep CI short), installed on this machine with dpkg, looked at as a user would (man page, bash
//! completion, no file capabilities), then removed again, also when an assertion fails.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use common::{privileged, tool};

fn sh(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = sh(program, args);
    assert!(
        out.status.success(),
        "{program} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn installed() -> bool {
    sh("dpkg-query", &["-W", "-f=${Status}", "sockscope"])
        .stdout
        .starts_with(b"install ok installed")
}

/// Removes the package on drop, so a failed assertion does not leave it installed.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let out = sh("dpkg", &["-r", "sockscope"]);
        if !out.status.success() {
            eprintln!(
                "dpkg -r sockscope: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn debian_package_installs_binary_man_pages_and_completions_and_removes_cleanly() {
    if !privileged("dpkg -i of the built package") {
        return;
    }
    for program in ["cargo-deb", "dpkg", "dpkg-shlibdeps", "man"] {
        if !tool(program) {
            return;
        }
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if installed() && !in_ci {
        eprintln!("SKIPPED: sockscope is installed as a package here; this test would remove it");
        return;
    }
    let completion_lib = "/usr/share/bash-completion/bash_completion";
    if !Path::new(completion_lib).is_file() {
        assert!(
            !in_ci,
            "{completion_lib} missing: .ci/deps.sh installs bash-completion"
        );
        eprintln!("SKIPPED: bash-completion is not installed (bash .ci/deps.sh installs it)");
        return;
    }
    let start = Instant::now();
    let root = env!("CARGO_MANIFEST_DIR");
    let script = format!("{root}/.ci/package.sh");
    let out = ok("bash", &[&script, "--profile", "package-test"]);
    let deb = out.lines().last().expect("package.sh prints the .deb");
    let deb = if Path::new(deb).is_absolute() {
        deb.to_string()
    } else {
        format!("{root}/{deb}")
    };
    let built = start.elapsed();

    // What the package holds, before it touches the system.
    let contents = ok("dpkg-deb", &["-c", &deb]);
    for path in [
        "./usr/bin/sockscope",
        "./usr/share/man/man1/sockscope.1.gz",
        "./usr/share/man/man1/sockscope-list.1.gz",
        "./usr/share/bash-completion/completions/sockscope",
        "./usr/share/zsh/vendor-completions/_sockscope",
        "./usr/share/fish/vendor_completions.d/sockscope.fish",
        "./usr/share/doc/sockscope/copyright",
    ] {
        assert!(
            contents.lines().any(|l| l.ends_with(path)),
            "{path} missing from the package:\n{contents}"
        );
    }
    let man_pages = std::fs::read_dir(format!("{root}/man"))
        .expect("man/")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "1"))
        })
        .count();
    let packaged = contents
        .lines()
        .filter(|l| l.contains("/man1/") && l.ends_with(".1.gz"))
        .count();
    assert_eq!(packaged, man_pages, "every man/*.1, gzipped:\n{contents}");
    let depends = ok("dpkg-deb", &["-f", &deb, "Depends"]);
    assert!(depends.contains("libc6"), "Depends: {depends}");

    let _installed = Installed;
    ok("dpkg", &["-i", &deb]);
    assert!(installed());
    let version = ok("/usr/bin/sockscope", &["--version"]);
    assert!(
        version.starts_with(&format!("sockscope {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );

    // No file capabilities: granting them is the admin's choice (README, PRIVILEGES).
    let mut buf = [0u8; 64];
    // SAFETY: both strings are NUL-terminated and buf is as long as we say.
    let n = unsafe {
        libc::getxattr(
            c"/usr/bin/sockscope".as_ptr(),
            c"security.capability".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(n, -1, "/usr/bin/sockscope has file capabilities");

    // man finds the page and it shows how to grant the capabilities.
    let path = ok("man", &["-w", "sockscope"]);
    assert_eq!(path.trim(), "/usr/share/man/man1/sockscope.1.gz");
    let page = Command::new("man")
        .arg("sockscope")
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "200")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("man sockscope");
    // Lines may break anywhere between words.
    let page = String::from_utf8_lossy(&page.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(page.contains("PRIVILEGES"), "{page}");
    assert!(page.contains("INSTALL"), "{page}");
    assert!(
        page.contains("setcap cap_net_raw,cap_net_admin+ep /usr/bin/sockscope"),
        "{page}"
    );
    assert!(ok("man", &["-w", "sockscope-list"]).contains("sockscope-list.1.gz"));

    // bash completes `sockscope li<TAB>` through bash-completion's own functions and the
    // installed script (clap_complete names its function _sockscope).
    let complete = format!(
        "source {completion_lib}; source /usr/share/bash-completion/completions/sockscope; \
         COMP_WORDS=(sockscope li); COMP_CWORD=1; COMP_LINE='sockscope li'; COMP_POINT=12; \
         _sockscope sockscope li sockscope; echo \"${{COMPREPLY[@]}}\""
    );
    let reply = ok("bash", &["-c", &complete]);
    assert_eq!(
        reply.split_whitespace().collect::<Vec<_>>(),
        ["list"],
        "{reply}"
    );

    drop(_installed);
    assert!(!installed(), "dpkg -r left the package installed");
    assert!(!Path::new("/usr/bin/sockscope").exists());
    assert!(!Path::new("/usr/share/man/man1/sockscope.1.gz").exists());
    eprintln!(
        "package test: built in {:.1?}, whole test {:.1?}",
        built,
        start.elapsed()
    );
}
