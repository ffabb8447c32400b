//! The committed man pages in man/ must match what the clap definitions generate.
//! Regenerate with: SOCKSCOPE_UPDATE_MAN=1 cargo test --test man

use std::path::Path;

#[test]
fn committed_man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = sockscope::man::pages().expect("render man pages");
    assert!(pages.iter().any(|(name, _)| name == "sockscope.1"));
    if std::env::var_os("SOCKSCOPE_UPDATE_MAN").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &pages {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let mut stale = Vec::new();
    for (name, text) in &pages {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(committed) if committed == *text => {}
            _ => stale.push(name.clone()),
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date: {stale:?}; run SOCKSCOPE_UPDATE_MAN=1 cargo test --test man and commit man/"
    );
}

#[test]
fn main_page_documents_exit_codes_and_privileges() {
    let pages = sockscope::man::pages().unwrap();
    let main = &pages.iter().find(|(n, _)| n == "sockscope.1").unwrap().1;
    for needle in [
        "EXIT STATUS",
        "PRIVILEGES",
        "CAP_SYS_PTRACE",
        "owners_hidden",
        "EXAMPLES",
        "CHECK",
        "ECHO",
        "PING",
        "waits for",
        "resets connections beyond",
        "CAP_NET_RAW",
        "ping_group_range",
        "CAPTURE",
        "PACKET_STATISTICS",
        "SYN/ACK but no ACK",
        "received_by_filter",
        "pcapng",
        "no_new_privs",
        "STATS",
        "TcpExtListenOverflows",
        "textfile collector",
        "INSTALL",
        "sudo setcap cap_net_raw,cap_net_admin+ep /usr/bin/sockscope",
        "every local user",
        r"cargo install \-\-locked \-\-path .",
    ] {
        assert!(main.contains(needle), "{needle} missing from sockscope.1");
    }
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
        assert!(
            pages
                .iter()
                .any(|(n, _)| *n == format!("sockscope-{sub}.1")),
            "no page for {sub}"
        );
    }
}
