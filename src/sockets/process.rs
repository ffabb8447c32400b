//! Describing the owning processes with sysinfo: name, user, command line and start time.
//! Only the processes that own a socket are refreshed, not the whole process table.

use std::collections::{HashMap, HashSet};

use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind, Users};

use crate::sockets::{ProcessInfo, Snapshot, Socket};

/// Builds a [`Snapshot`] from sockets (with owners applied) by describing their processes.
pub fn describe(sockets: Vec<Socket>) -> Snapshot {
    let pids: HashSet<u32> = sockets
        .iter()
        .flat_map(|s| s.owners.pids().iter().copied())
        .collect();
    let users = Users::new_with_refreshed_list().ok();
    let user_name = |uid: u32| -> Option<String> {
        let users = users.as_ref()?;
        users
            .iter()
            .find(|u| **u.id() == uid)
            .map(|u| u.name().to_string())
    };
    let mut processes = HashMap::new();
    if !pids.is_empty() {
        let sys_pids: Vec<sysinfo::Pid> = pids.iter().map(|&p| sysinfo::Pid::from_u32(p)).collect();
        if let Ok(mut system) = System::new() {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&sys_pids),
                true,
                ProcessRefreshKind::nothing()
                    .with_cmd(UpdateKind::Always)
                    .with_user(UpdateKind::Always),
            );
            for &pid in &pids {
                let info = match system.process(sysinfo::Pid::from_u32(pid)) {
                    Some(p) => {
                        let uid = p.user_id().map(|u| **u);
                        ProcessInfo {
                            pid,
                            name: p.name().to_string_lossy().into_owned(),
                            user: uid
                                .map(|u| user_name(u).unwrap_or_else(|| u.to_string()))
                                .unwrap_or_else(|| "?".into()),
                            uid,
                            cmdline: join_cmd(p.cmd()),
                            start_time: Some(p.start_time()).filter(|&t| t > 0),
                        }
                    }
                    // It exited between the scan and now.
                    None => ProcessInfo {
                        pid,
                        name: "?".into(),
                        user: "?".into(),
                        uid: None,
                        cmdline: String::new(),
                        start_time: None,
                    },
                };
                processes.insert(pid, info);
            }
        }
    }
    let mut names = HashMap::new();
    for uid in sockets.iter().filter_map(|s| s.uid) {
        names
            .entry(uid)
            .or_insert_with(|| user_name(uid).unwrap_or_else(|| uid.to_string()));
    }
    Snapshot {
        sockets,
        processes,
        users: names,
    }
}

/// Whether `name` is a user of this system.
pub fn user_exists(name: &str) -> bool {
    Users::new_with_refreshed_list()
        .map(|users| users.iter().any(|u| u.name() == name))
        .unwrap_or(false)
}

fn join_cmd(parts: &[std::ffi::OsString]) -> String {
    parts
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
