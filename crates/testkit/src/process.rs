//! Processes of the servers tests and benchmarks start: a process tree
//! from /proc, signals by name.

use std::collections::HashMap;
use std::io;
use std::process::Command;

/// `root` and all its descendants (live processes from /proc; Linux only,
/// empty when `root` is gone).
pub fn tree(root: u32) -> Vec<u32> {
    let mut parent: HashMap<u32, u32> = HashMap::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                // pid (comm) state ppid ...: comm may contain spaces.
                if let Some(ppid) = stat
                    .rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1))
                    .and_then(|p| p.parse().ok())
                {
                    parent.insert(pid, ppid);
                }
            }
        }
    }
    let mut out = Vec::new();
    for &pid in parent.keys() {
        let mut p = pid;
        let mut ours = false;
        for _ in 0..64 {
            if p == root {
                ours = true;
                break;
            }
            match parent.get(&p) {
                Some(&pp) if pp != 0 => p = pp,
                _ => break,
            }
        }
        if ours {
            out.push(pid);
        }
    }
    out
}

/// Sends `SIG<sig>` (`"TERM"`, `"STOP"`, ...) to `pid` with kill(1).
pub fn signal(pid: u32, sig: &str) -> io::Result<()> {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()?;
    if st.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("kill -{sig} {pid} failed")))
    }
}
