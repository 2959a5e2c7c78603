//! IMAP under a realistic command mix, and memory per idle connection:
//! Tiermail's `mailstore` against Dovecot's IMAP, side by side in one run.
//!
//! ```text
//! cargo build --release --workspace --bins --examples --locked
//! target/release/examples/imap_bench [--seconds 30] [--clients 20] [--messages 200]
//!     [--idle 500] [--per-command 3] [--dir /var/tmp] [--mbox FILE] [--proxies]
//! ```
//!
//! Both servers run as real processes so that their memory can be read
//! from /proc: the release `mailstore` binary next to this example (or
//! `$MAILSTORE_BIN`) with its own configuration (`[imap]` on a loopback
//! port, plaintext login allowed, a file directory with testuser1..N,
//! store under DIR), and `/usr/sbin/dovecot -F` from a private
//! configuration (imap on a loopback port, passwd-file users, Maildir,
//! Debian `dovecot-imapd`'s defaults otherwise). Without Dovecot only
//! Tiermail is measured.
//!
//! 1. Populate: every client's user gets the same MESSAGES messages by
//!    APPEND (a generated corpus like `gen_mbox.py`'s: 60 % short
//!    text/plain, 20 % text+HTML, 12 % with a 20-200 KiB attachment, 8 %
//!    long text; or the messages of `--mbox FILE`).
//! 2. Mix: CLIENTS connections, each logged in as its own user with INBOX
//!    selected, run a weighted mix for SECONDS per server (the servers take
//!    turns in 5 s slices, so background load falls on both): SELECT, UID
//!    FETCH 1:* (FLAGS), UID FETCH of 20 ENVELOPEs, UID FETCH BODY[] of one
//!    message, UID STORE +/-FLAGS, UID SEARCH (UNSEEN, FLAGGED, FROM),
//!    APPEND, EXPUNGE (UID STORE +FLAGS.SILENT (\Deleted) then EXPUNGE,
//!    timed together), IDLE (enter, `+`, DONE). Any NO/BAD stops the run.
//!    Also printed: the server's CPU time during the mix (all its
//!    processes, from /proc) per operation.
//! 3. Each command alone (`--per-command` seconds per command and server,
//!    0 to skip): ops/s, p50 and server CPU per operation.
//! 4. Idle memory: each server is restarted, then IDLE connections log in
//!    (users testuser1..IDLE), SELECT INBOX and enter IDLE. The server's
//!    resident memory (Dovecot: every process under its master, it forks
//!    one imap process per connection) is read before, at half and at all
//!    connections; per connection = (after - before) / IDLE.
//!
//! With `--proxies` (issue 12) the same phases run against the store
//! three ways instead: straight, through the release `mmp` (or `$MMP_BIN`;
//! plain IMAP, a file directory with the same users, trusted-proxy login
//! to the store) and through Dovecot's own `imap-login` proxy (`proxy=y
//! host= port=` in a passwd-file passdb, high-performance mode; no local
//! mail). `--backend dovecot` puts Dovecot's IMAP behind both proxies
//! instead of Tiermail's store (`mmp` logs in as a Dovecot master user).
//! The store is populated once. CPU per operation counts the store's and
//! the proxy's processes (the proxy's alone is printed too), and the
//! idle-memory rows measure the proxy's processes only, Dovecot's proxy
//! also in its default one-process-per-connection mode.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_testkit::dovecot::{Dovecot, DovecotConfig, Protocol};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DOMAIN: &str = "example.test";
/// The mix alternates between the servers in slices this long.
const SLICE_SECONDS: u64 = 5;
const PASSWORD: &str = "pass";
/// The MMP's trusted-proxy secret (the store's `[proxy]` identity `mmp`).
const MMP_SECRET: &str = "imap-bench-mmp-secret";

struct Args {
    seconds: u64,
    clients: usize,
    messages: usize,
    idle: usize,
    per_command: u64,
    dir: PathBuf,
    mbox: Option<PathBuf>,
    /// Measure the store straight, through `mmp` and through Dovecot's
    /// proxy instead of against Dovecot's own mail store.
    proxies: bool,
    /// With `--proxies`: put Dovecot's own IMAP (Maildir) behind the
    /// proxies instead of Tiermail's store (`--backend dovecot`); `mmp`
    /// then logs in there as a Dovecot master user.
    dovecot_backend: bool,
}

fn args() -> Result<Args, BoxError> {
    let mut a = Args {
        seconds: 30,
        clients: 20,
        messages: 200,
        idle: 500,
        per_command: 3,
        dir: PathBuf::from("/var/tmp"),
        mbox: None,
        proxies: false,
        dovecot_backend: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--seconds" => a.seconds = v()?.parse()?,
            "--clients" => a.clients = v()?.parse()?,
            "--messages" => a.messages = v()?.parse()?,
            "--idle" => a.idle = v()?.parse()?,
            "--per-command" => a.per_command = v()?.parse()?,
            "--dir" => a.dir = v()?.into(),
            "--mbox" => a.mbox = Some(v()?.into()),
            "--proxies" => a.proxies = true,
            "--backend" => match v()?.as_str() {
                "tiermail" => a.dovecot_backend = false,
                "dovecot" => a.dovecot_backend = true,
                other => return Err(format!("--backend {other}: tiermail or dovecot").into()),
            },
            _ => {
                return Err(format!(
                    "unknown argument {k}; usage: imap_bench [--seconds N] [--clients N] \
                     [--messages N] [--idle N] [--per-command SECS] [--dir DIR] [--mbox FILE] [--proxies [--backend tiermail|dovecot]]"
                )
                .into());
            }
        }
    }
    a.seconds = a.seconds.max(1);
    a.clients = a.clients.max(1);
    a.messages = a.messages.max(30);
    Ok(a)
}

fn main() -> Result<(), BoxError> {
    let a = args()?;
    let corpus = Arc::new(match &a.mbox {
        Some(p) => read_mbox(p)?,
        None => generate_corpus(a.messages),
    });
    let users = a.clients.max(a.idle);
    let work = tempfile::Builder::new()
        .prefix("imap-bench-")
        .tempdir_in(&a.dir)?;
    // Dovecot's imap processes run as its MAIL_UID and must reach their
    // Maildirs.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))?;
    }
    let secret = work.path().join("mmp.secret");
    std::fs::write(&secret, format!("{MMP_SECRET}\n"))?;
    let store = if a.proxies && a.dovecot_backend {
        Server::dovecot(&work.path().join("dovecot"), users, Some(MMP_SECRET))?
    } else {
        Server::tiermail(&work.path().join("tiermail"), users, &secret)?
    };
    let store_addr = store.addr;
    let mut servers = vec![store];
    // Only for the idle-memory rows: Dovecot's proxy in its default
    // one-process-per-connection mode.
    let mut idle_only = Vec::new();
    if a.proxies {
        let mmp = Server::mmp(&work.path().join("mmp"), store_addr, users, &secret)?;
        servers.push(mmp);
        match Server::dovecot_proxy(
            &work.path().join("dovecot-proxy"),
            store_addr,
            users,
            ProxyMode::Performance,
        ) {
            Ok(d) => servers.push(d),
            Err(e) => println!("dovecot proxy: not measured ({e})"),
        }
    } else {
        match Server::dovecot(&work.path().join("dovecot"), users, None) {
            Ok(d) => servers.push(d),
            Err(e) => println!("dovecot: not measured ({e})"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let avg = corpus.iter().map(Vec::len).sum::<usize>() / corpus.len();
    println!(
        "IMAP benchmark: {} clients (one user each), {} messages per INBOX ({} KiB average), \
         {} s of mix per server, {} idle connections, data in {}",
        a.clients,
        a.messages,
        avg / 1024,
        a.seconds,
        a.idle,
        a.dir.display()
    );
    for s in &servers {
        println!("{:<9} {} ({})", s.name, s.version, s.addr);
    }
    if a.proxies {
        println!(
            "(mmp and dovproxy relay to the {} store above; their CPU per operation \
             counts the store's and the proxy's processes)",
            servers[0].name
        );
    }

    // Behind the proxies is the same store: it is populated once.
    let stores = if a.proxies { 1 } else { servers.len() };
    println!("\npopulate (APPEND over {} connections):", a.clients);
    for s in &servers[..stores] {
        let (n, t) = rt.block_on(populate(s.addr, a.clients, a.messages, users, &corpus))?;
        println!(
            "{:<9} {n} APPENDs in {:.1} s = {:.0}/s",
            s.name,
            t.as_secs_f64(),
            n as f64 / t.as_secs_f64()
        );
    }

    // The servers take turns in slices of a few seconds, so background load
    // on a shared machine falls on both alike.
    let rounds = a.seconds.div_ceil(SLICE_SECONDS);
    let slice = Duration::from_secs(a.seconds.min(SLICE_SECONDS));
    let mut results: Vec<MixResult> = servers.iter().map(|_| MixResult::default()).collect();
    for round in 0..rounds {
        for (i, into) in results.iter_mut().enumerate() {
            let s = &servers[i];
            let ready = rt.block_on(mix_setup(s.addr, a.clients))?;
            let cpu = cpu_of(&servers, i);
            let seed = 1 + round * 1000;
            let open = rt.block_on(mix_run(ready, None, seed, slice, &corpus, into))?;
            let used = cpu_of(&servers, i);
            into.cpu += used.total.saturating_sub(cpu.total);
            into.proxy_cpu += used.proxy.saturating_sub(cpu.proxy);
            rt.block_on(async {
                for mut imap in open {
                    let _ = imap.cmd("LOGOUT").await;
                }
            });
        }
    }
    print_mix(&servers, &results, a.proxies);

    if a.per_command > 0 {
        println!(
            "\neach command alone: {} clients, {} s per command and server",
            a.clients, a.per_command
        );
        let mut head = format!("{:<21}", "command");
        for s in &servers {
            head.push_str(&format!(
                " {:>9} {:>7} {:>8}",
                format!("{} /s", short(s.name)),
                "p50 ms",
                "CPU us"
            ));
        }
        if servers.len() == 2 {
            head.push_str(&format!(" {:>7}", "ratio"));
        }
        println!("{head}  (CPU us = server (+ proxy) CPU per operation)");
        for (op, _) in MIX {
            let mut row = format!("{:<21}", op.label());
            let mut rates = Vec::new();
            for (i, s) in servers.iter().enumerate() {
                let mut r = MixResult::default();
                let ready = rt.block_on(mix_setup(s.addr, a.clients))?;
                let cpu = cpu_of(&servers, i);
                let run = Duration::from_secs(a.per_command);
                let open = rt.block_on(mix_run(ready, Some(op), 7, run, &corpus, &mut r))?;
                r.cpu = cpu_of(&servers, i).total.saturating_sub(cpu.total);
                rt.block_on(async {
                    for mut imap in open {
                        let _ = imap.cmd("LOGOUT").await;
                    }
                });
                let mut l = r.by_op.remove(&op).unwrap_or_default();
                l.sort_unstable();
                let n = l.len();
                let rate = n as f64 / r.elapsed.as_secs_f64();
                rates.push(rate);
                row.push_str(&format!(
                    " {:>9.1} {:>7.2} {:>8.0}",
                    rate,
                    l.get(n.saturating_sub(1) / 2)
                        .map_or(0.0, |d| d.as_secs_f64() * 1e3),
                    r.cpu.as_secs_f64() * 1e6 / n.max(1) as f64
                ));
            }
            if let [t, d] = rates[..]
                && d > 0.0
            {
                row.push_str(&format!(" {:>6.2}x", t / d));
            }
            println!("{row}");
        }
    }

    if a.proxies {
        match Server::dovecot_proxy(
            &work.path().join("dovecot-proxy-1"),
            store_addr,
            users,
            ProxyMode::Security,
        ) {
            Ok(d) => idle_only.push(d),
            Err(e) => println!("dovecot proxy (one process per connection): not measured ({e})"),
        }
    }
    println!(
        "\nidle connections: {} (LOGIN, SELECT INBOX, IDLE), each server (proxy) freshly restarted",
        a.idle
    );
    if a.proxies {
        println!(
            "(for mmp and the Dovecot proxies: the proxy's memory alone; the store behind \
             holds the same sessions as in the tiermail row)"
        );
    }
    println!(
        "{:<9} {:>10} {:>10} {:>10} {:>14} {:>16} {:>10}",
        "server",
        "before MiB",
        "half MiB",
        "after MiB",
        "KiB/conn RSS",
        "KiB/conn 2nd half",
        "processes"
    );
    for s in servers.iter_mut().chain(idle_only.iter_mut()) {
        s.restart()?;
        std::thread::sleep(Duration::from_secs(1));
        let before = s.memory();
        let conns = rt.block_on(open_idle(s.addr, 1, a.idle / 2))?;
        std::thread::sleep(Duration::from_secs(1));
        let half = s.memory();
        let more = rt.block_on(open_idle(s.addr, a.idle / 2 + 1, a.idle))?;
        std::thread::sleep(Duration::from_secs(1));
        let after = s.memory();
        let k = a.idle.max(1) as f64;
        let second = (a.idle - a.idle / 2).max(1) as f64;
        println!(
            "{:<9} {:>10.1} {:>10.1} {:>10.1} {:>14.1} {:>16.1} {:>10}",
            s.name,
            before.rss_kib as f64 / 1024.0,
            half.rss_kib as f64 / 1024.0,
            after.rss_kib as f64 / 1024.0,
            (after.rss_kib as f64 - before.rss_kib as f64) / k,
            (after.rss_kib as f64 - half.rss_kib as f64) / second,
            after.processes
        );
        if s.name != "tiermail" || s.proxy {
            println!(
                "{:<9} proportional set size (shared pages split between processes): \
                 {:.1} -> {:.1} MiB = {:.1} KiB/conn, 2nd half {:.1} KiB/conn",
                "",
                before.pss_kib as f64 / 1024.0,
                after.pss_kib as f64 / 1024.0,
                (after.pss_kib as f64 - before.pss_kib as f64) / k,
                (after.pss_kib as f64 - half.pss_kib as f64) / second
            );
        }
        rt.block_on(async {
            for c in conns.into_iter().chain(more) {
                drop(c);
            }
        });
    }
    drop(idle_only);
    drop(servers);
    Ok(())
}

// ---------------------------------------------------------------- the mix

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Op {
    Select,
    FetchFlags,
    FetchEnvelope,
    FetchBody,
    Store,
    Search,
    Append,
    Expunge,
    Idle,
}

/// The mix: operation and weight (out of 100).
const MIX: [(Op, u32); 9] = [
    (Op::Select, 5),
    (Op::FetchFlags, 15),
    (Op::FetchEnvelope, 20),
    (Op::FetchBody, 20),
    (Op::Store, 15),
    (Op::Search, 10),
    (Op::Append, 5),
    (Op::Expunge, 5),
    (Op::Idle, 5),
];

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::Select => "SELECT",
            Op::FetchFlags => "FETCH 1:* (FLAGS)",
            Op::FetchEnvelope => "FETCH 20 (ENVELOPE)",
            Op::FetchBody => "FETCH 1 BODY[]",
            Op::Store => "STORE +/-FLAGS",
            Op::Search => "UID SEARCH",
            Op::Append => "APPEND",
            Op::Expunge => "EXPUNGE (+\\Deleted)",
            Op::Idle => "IDLE + DONE",
        }
    }
}

#[derive(Default)]
struct MixResult {
    elapsed: Duration,
    /// Server CPU time (user + system, all its processes; for a proxy,
    /// the proxy's and the store's behind it) during the mix.
    cpu: Duration,
    /// The proxy's share of `cpu` (zero for a server measured straight).
    proxy_cpu: Duration,
    by_op: HashMap<Op, Vec<Duration>>,
}

/// A logged-in client with INBOX selected and the UIDs it holds.
struct Ready {
    imap: Imap,
    uids: Vec<u32>,
}

/// Logs every client in and selects INBOX, before any clock starts.
async fn mix_setup(addr: SocketAddr, clients: usize) -> Result<Vec<Ready>, BoxError> {
    let mut ready = Vec::new();
    for c in 0..clients {
        let mut imap = Imap::connect(addr).await?;
        imap.login(&format!("testuser{}", c + 1)).await?;
        imap.cmd("SELECT INBOX").await?;
        let uids = search_uids(&imap.cmd("UID SEARCH ALL").await?);
        ready.push(Ready { imap, uids });
    }
    Ok(ready)
}

/// Runs the mix on every client until `run_for` has passed; returns the
/// latencies and the sessions (still logged in).
async fn mix_run(
    clients: Vec<Ready>,
    only: Option<Op>,
    seed: u64,
    run_for: Duration,
    corpus: &Arc<Vec<Vec<u8>>>,
    into: &mut MixResult,
) -> Result<Vec<Imap>, BoxError> {
    let started = Instant::now();
    let deadline = started + run_for;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, r)| tokio::spawn(client(r, only, seed + c as u64, deadline, corpus.clone())))
        .collect();
    let mut sessions = Vec::new();
    for t in tasks {
        let (imap, lat) = t.await??;
        sessions.push(imap);
        for (op, mut l) in lat {
            into.by_op.entry(op).or_default().append(&mut l);
        }
    }
    into.elapsed += started.elapsed();
    Ok(sessions)
}

async fn client(
    ready: Ready,
    only: Option<Op>,
    seed: u64,
    deadline: Instant,
    corpus: Arc<Vec<Vec<u8>>>,
) -> Result<(Imap, HashMap<Op, Vec<Duration>>), BoxError> {
    let Ready {
        imap: mut s,
        mut uids,
    } = ready;
    let mut rng = Rng::new(seed);
    let mut lat: HashMap<Op, Vec<Duration>> = HashMap::new();
    let total: u32 = MIX.iter().map(|(_, w)| w).sum();
    while Instant::now() < deadline {
        let mut pick = rng.below(total as u64) as u32;
        let op = MIX
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map_or(Op::Select, |(op, _)| *op);
        let op = only.unwrap_or(op);
        if uids.is_empty() && !matches!(op, Op::Append | Op::Select | Op::Idle) {
            continue;
        }
        let any_uid = if uids.is_empty() {
            0
        } else {
            uids[rng.below(uids.len() as u64) as usize]
        };
        let t = Instant::now();
        match op {
            Op::Select => {
                s.cmd("SELECT INBOX").await?;
            }
            Op::FetchFlags => {
                s.cmd("UID FETCH 1:* (FLAGS)").await?;
            }
            Op::FetchEnvelope => {
                let i = rng.below(uids.len() as u64) as usize;
                let j = (i + 19).min(uids.len() - 1);
                s.cmd(&format!("UID FETCH {}:{} (ENVELOPE)", uids[i], uids[j]))
                    .await?;
            }
            Op::FetchBody => {
                s.cmd(&format!("UID FETCH {any_uid} (BODY[])")).await?;
            }
            Op::Store => {
                let sign = if rng.below(2) == 0 { '+' } else { '-' };
                s.cmd(&format!("UID STORE {any_uid} {sign}FLAGS (\\Flagged)"))
                    .await?;
            }
            Op::Search => {
                let q = match rng.below(3) {
                    0 => "UNSEEN",
                    1 => "FLAGGED",
                    _ => "FROM \"alice\"",
                };
                s.cmd(&format!("UID SEARCH {q}")).await?;
            }
            Op::Append => {
                let m = &corpus[rng.below(corpus.len() as u64) as usize];
                let tagged = s.append("INBOX", m).await?;
                match appenduid(&tagged) {
                    Some(u) => uids.push(u),
                    None => return Err(format!("no APPENDUID in {tagged}").into()),
                }
            }
            Op::Expunge => {
                // Keep the mailbox around its populated size.
                if uids.len() < 30 {
                    continue;
                }
                s.cmd(&format!("UID STORE {any_uid} +FLAGS.SILENT (\\Deleted)"))
                    .await?;
                s.cmd("EXPUNGE").await?;
                uids.retain(|&u| u != any_uid);
            }
            Op::Idle => {
                s.idle().await?;
            }
        }
        lat.entry(op).or_default().push(t.elapsed());
    }
    Ok((s, lat))
}

fn print_mix(servers: &[Server], results: &[MixResult], proxies: bool) {
    println!(
        "\nmix: {} s per server, in alternating {SLICE_SECONDS} s slices; ops/s and latency per command",
        results
            .first()
            .map_or(0.0, |r| r.elapsed.as_secs_f64().round())
    );
    let mut head = format!("{:<21}", "command");
    for s in servers {
        head.push_str(&format!(
            " {:>9} {:>7} {:>7}",
            format!("{} /s", short(s.name)),
            "p50 ms",
            "p99 ms"
        ));
    }
    if servers.len() == 2 && !proxies {
        head.push_str(&format!(" {:>7}", "ratio"));
    }
    println!("{head}");
    let rate = |r: &MixResult, op: Option<Op>| -> f64 {
        let n: usize = match op {
            Some(op) => r.by_op.get(&op).map_or(0, Vec::len),
            None => r.by_op.values().map(Vec::len).sum(),
        };
        n as f64 / r.elapsed.as_secs_f64()
    };
    for op in MIX.iter().map(|(op, _)| Some(*op)).chain([None]) {
        let mut row = format!("{:<21}", op.map_or("total mix", Op::label));
        for r in results {
            let mut all: Vec<Duration> = match op {
                Some(op) => r.by_op.get(&op).cloned().unwrap_or_default(),
                None => r.by_op.values().flatten().copied().collect(),
            };
            all.sort_unstable();
            let pick = |q: f64| {
                all.get(((all.len().max(1) - 1) as f64 * q) as usize)
                    .map_or(0.0, |d| d.as_secs_f64() * 1e3)
            };
            row.push_str(&format!(
                " {:>9.1} {:>7.2} {:>7.1}",
                rate(r, op),
                pick(0.5),
                pick(0.99)
            ));
        }
        if let [t, d] = results
            && !proxies
        {
            let dr = rate(d, op);
            if dr > 0.0 {
                row.push_str(&format!(" {:>6.2}x", rate(t, op) / dr));
            }
        }
        println!("{row}");
    }
    if results.len() == 2 && !proxies {
        println!("ratio = tiermail ops/s / dovecot ops/s (above 1: Tiermail ahead)");
    }
    for (s, r) in servers.iter().zip(results) {
        let ops: usize = r.by_op.values().map(Vec::len).sum();
        let proxy = if s.proxy {
            format!(
                " (proxy alone {:.1} s, {:.0} us per operation)",
                r.proxy_cpu.as_secs_f64(),
                r.proxy_cpu.as_secs_f64() * 1e6 / ops.max(1) as f64
            )
        } else {
            String::new()
        };
        println!(
            "{:<9} {} CPU {:.1} s in {:.0} s of mix ({:.0} % of one core), {:.0} us per operation{proxy}",
            s.name,
            if s.proxy { "store+proxy" } else { "server" },
            r.cpu.as_secs_f64(),
            r.elapsed.as_secs_f64(),
            100.0 * r.cpu.as_secs_f64() / r.elapsed.as_secs_f64().max(1e-9),
            r.cpu.as_secs_f64() * 1e6 / ops.max(1) as f64
        );
    }
    if proxies && let Some(direct) = results.first() {
        let all = |r: &MixResult| -> Vec<Duration> {
            let mut v: Vec<Duration> = r.by_op.values().flatten().copied().collect();
            v.sort_unstable();
            v
        };
        let pick = |v: &[Duration], q: f64| {
            v.get(((v.len().max(1) - 1) as f64 * q) as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let base = all(direct);
        let base_rate = rate(direct, None);
        for (s, r) in servers.iter().zip(results).skip(1) {
            let v = all(r);
            println!(
                "{:<9} against the store straight: throughput {:+.1} %, p50 {:+.2} ms, p99 {:+.2} ms",
                s.name,
                100.0 * (rate(r, None) / base_rate.max(1e-9) - 1.0),
                pick(&v, 0.5) - pick(&base, 0.5),
                pick(&v, 0.99) - pick(&base, 0.99)
            );
        }
    }
}

/// CPU time so far of server `i`: its own processes (`proxy`, when it is
/// a proxy) plus, for a proxy, the store behind it (`servers[0]`).
struct CpuTime {
    total: Duration,
    proxy: Duration,
}

fn cpu_of(servers: &[Server], i: usize) -> CpuTime {
    let own = servers[i].cpu();
    if servers[i].proxy {
        CpuTime {
            total: own + servers[0].cpu(),
            proxy: own,
        }
    } else {
        CpuTime {
            total: own,
            proxy: Duration::ZERO,
        }
    }
}

fn short(name: &str) -> &str {
    match name {
        "tiermail" => "tierm.",
        "dovecot" => "dovec.",
        "dovproxy" => "dovpx.",
        other => other,
    }
}

// ---------------------------------------------------------------- populate, idle

/// Appends the corpus to each client's INBOX and logs every other user in
/// once (so their INBOX exists); returns APPENDs and the time taken.
async fn populate(
    addr: SocketAddr,
    clients: usize,
    messages: usize,
    users: usize,
    corpus: &Arc<Vec<Vec<u8>>>,
) -> Result<(usize, Duration), BoxError> {
    let started = Instant::now();
    let tasks: Vec<_> = (1..=clients)
        .map(|u| {
            let corpus = corpus.clone();
            tokio::spawn(async move {
                let mut s = Imap::connect(addr).await?;
                s.login(&format!("testuser{u}")).await?;
                for i in 0..messages {
                    s.append("INBOX", &corpus[i % corpus.len()]).await?;
                }
                s.cmd("LOGOUT").await?;
                Ok::<_, BoxError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let took = started.elapsed();
    let mut next = clients + 1;
    while next <= users {
        let last = (next + 49).min(users);
        let batch: Vec<_> = (next..=last)
            .map(|u| {
                tokio::spawn(async move {
                    let mut s = Imap::connect(addr).await?;
                    s.login(&format!("testuser{u}")).await?;
                    s.cmd("SELECT INBOX").await?;
                    s.cmd("LOGOUT").await?;
                    Ok::<_, BoxError>(())
                })
            })
            .collect();
        for t in batch {
            t.await??;
        }
        next = last + 1;
    }
    Ok((clients * messages, took))
}

/// Connections for users `first..=last`, logged in, INBOX selected, in IDLE.
async fn open_idle(addr: SocketAddr, first: usize, last: usize) -> Result<Vec<Imap>, BoxError> {
    let mut out = Vec::new();
    let mut next = first;
    while next <= last {
        let end = (next + 49).min(last);
        let batch: Vec<_> = (next..=end)
            .map(|u| {
                tokio::spawn(async move {
                    let mut s = Imap::connect(addr).await?;
                    s.login(&format!("testuser{u}")).await?;
                    s.cmd("SELECT INBOX").await?;
                    s.start_idle().await?;
                    Ok::<_, BoxError>(s)
                })
            })
            .collect();
        for t in batch {
            out.push(t.await??);
        }
        next = end + 1;
    }
    Ok(out)
}

// ---------------------------------------------------------------- a small IMAP client

/// Just enough IMAP: tagged commands, literals in responses, LITERAL+
/// APPEND, IDLE.
struct Imap {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    tag: u64,
}

impl Imap {
    async fn connect(addr: SocketAddr) -> Result<Self, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut s = Self {
            r: BufReader::with_capacity(64 * 1024, r),
            w,
            tag: 0,
        };
        let greeting = s.response_line().await?;
        if !greeting.starts_with("* OK") {
            return Err(format!("greeting: {greeting}").into());
        }
        Ok(s)
    }

    async fn login(&mut self, user: &str) -> Result<(), BoxError> {
        self.cmd(&format!("LOGIN {user} {PASSWORD}")).await?;
        Ok(())
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("A{}", self.tag)
    }

    /// Sends one command and reads up to its tagged reply; returns
    /// everything received (untagged data with literals, then the tagged
    /// line). A NO or BAD is an error.
    async fn cmd(&mut self, command: &str) -> Result<String, BoxError> {
        let tag = self.next_tag();
        self.w
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        self.until_tagged(&tag, command).await
    }

    /// APPEND with a non-synchronizing literal (LITERAL+, both servers
    /// announce it); returns the tagged line.
    async fn append(&mut self, mailbox: &str, message: &[u8]) -> Result<String, BoxError> {
        let tag = self.next_tag();
        let mut out = format!("{tag} APPEND {mailbox} {{{}+}}\r\n", message.len()).into_bytes();
        out.extend_from_slice(message);
        out.extend_from_slice(b"\r\n");
        self.w.write_all(&out).await?;
        let all = self.until_tagged(&tag, "APPEND").await?;
        Ok(all.lines().last().unwrap_or_default().to_string())
    }

    async fn start_idle(&mut self) -> Result<String, BoxError> {
        let tag = self.next_tag();
        self.w
            .write_all(format!("{tag} IDLE\r\n").as_bytes())
            .await?;
        loop {
            let line = self.response_line().await?;
            if line.starts_with('+') {
                return Ok(tag);
            }
            if line.starts_with(&format!("{tag} ")) {
                return Err(format!("IDLE refused: {line}").into());
            }
        }
    }

    async fn idle(&mut self) -> Result<(), BoxError> {
        let tag = self.start_idle().await?;
        self.w.write_all(b"DONE\r\n").await?;
        self.until_tagged(&tag, "IDLE").await?;
        Ok(())
    }

    async fn until_tagged(&mut self, tag: &str, command: &str) -> Result<String, BoxError> {
        let mut all = String::new();
        loop {
            let line = self.response_line().await?;
            all.push_str(&line);
            all.push('\n');
            if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                if rest.starts_with("OK") {
                    return Ok(all);
                }
                return Err(format!("{command}: {line}").into());
            }
        }
    }

    /// One response line with its literals inlined (lossy UTF-8).
    async fn response_line(&mut self) -> Result<String, BoxError> {
        let mut line = Vec::new();
        loop {
            let start = line.len();
            if self.r.read_until(b'\n', &mut line).await? == 0 {
                return Err("connection closed".into());
            }
            let part = &line[start..];
            let Some(n) = literal_size(part) else { break };
            let mut lit = vec![0u8; n];
            self.r.read_exact(&mut lit).await?;
            line.extend_from_slice(&lit);
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }
}

/// `{123}\r\n` at the end of a line announces a literal of 123 octets.
fn literal_size(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n").or(line.strip_suffix(b"\n"))?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

fn search_uids(resp: &str) -> Vec<u32> {
    let mut uids: Vec<u32> = resp
        .lines()
        .filter_map(|l| l.strip_prefix("* SEARCH"))
        .flat_map(|l| l.split_whitespace().filter_map(|w| w.parse().ok()))
        .collect();
    uids.sort_unstable();
    uids
}

/// The new UID from `OK [APPENDUID <validity> <uid>]`.
fn appenduid(tagged: &str) -> Option<u32> {
    let rest = &tagged[tagged.find("[APPENDUID ")? + 11..];
    let rest = rest.split(']').next()?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------- servers

/// A file directory with testuser1..`users` (`{SSHA}` of [`PASSWORD`]) at
/// `dir/directory.toml`.
fn write_directory(dir: &Path, users: usize) -> Result<PathBuf, BoxError> {
    use mail_directory::file::{Data, FileDirectory, FileUser};
    let password =
        mail_directory::password::hash(PASSWORD, mail_directory::password::Scheme::Ssha)?;
    let data_path = dir.join("directory.toml");
    let data = Data::single_domain(
        DOMAIN,
        (1..=users)
            .map(|i| FileUser {
                uid: format!("testuser{i}"),
                mail: format!("testuser{i}@{DOMAIN}"),
                password: Some(password.clone()),
                ..FileUser::default()
            })
            .collect(),
    );
    FileDirectory::create(&data_path, &data)?;
    Ok(data_path)
}

#[derive(Default, Clone, Copy)]
struct Memory {
    rss_kib: u64,
    pss_kib: u64,
    processes: usize,
}

enum Kind {
    /// One of Tiermail's binaries (`mailstore` or `mmp`).
    Tiermail {
        binary: PathBuf,
        config: PathBuf,
        child: Child,
    },
    Dovecot(Dovecot),
}

struct Server {
    name: &'static str,
    version: String,
    addr: SocketAddr,
    dir: PathBuf,
    kind: Kind,
    /// A proxy in front of the first server (the store).
    proxy: bool,
}

/// How Dovecot's login processes serve proxied connections.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ProxyMode {
    /// Dovecot's default ("high-security mode"): one `imap-login` process
    /// per connection, proxying it for its whole life.
    Security,
    /// "High-performance mode", the one Dovecot's documentation
    /// recommends for proxies: `service_count = 0`, two long-lived
    /// `imap-login` processes (one per core here) serving every
    /// connection.
    Performance,
}

/// `NAME` next to this example (`target/release/NAME`), or `$ENV`.
fn sibling_binary(name: &str, env: &str) -> Result<PathBuf, BoxError> {
    let binary = match std::env::var_os(env) {
        Some(b) => PathBuf::from(b),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join(name))
            .ok_or_else(|| format!("cannot locate the {name} binary; set {env}"))?,
    };
    if !binary.exists() {
        return Err(format!(
            "{} not found: cargo build --release --workspace --bins --examples --locked",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}

fn wait_listening(addr: SocketAddr, what: &str) -> Result<(), BoxError> {
    mail_testkit::wait_listening(addr, Duration::from_secs(30))
        .map_err(|_| format!("{what} did not listen on {addr}").into())
}

impl Server {
    /// The release `mailstore` with `[imap]` on a fixed loopback port,
    /// trusting an MMP on loopback with `secret` (`[proxy]`).
    fn tiermail(dir: &Path, users: usize, secret: &Path) -> Result<Self, BoxError> {
        let binary = sibling_binary("mailstore", "MAILSTORE_BIN")?;
        std::fs::create_dir_all(dir)?;
        let data_path = write_directory(dir, users)?;
        let port = mail_testkit::free_port()?;
        let config = dir.join("mailstore.toml");
        std::fs::write(
            &config,
            format!(
                "host = \"localhost\"\n\
                 [service]\nadmin_listen = \"127.0.0.1:0\"\ndrain_timeout = \"2s\"\n\
                 [telemetry]\n\
                 [store]\nsystem_path = {sys:?}\n[store.partitions]\nprimary = {part:?}\n\
                 [directory]\nbackend = \"file\"\npath = {data:?}\n\
                 [lmtp.listener]\nlisten = \"127.0.0.1:0\"\n\
                 [imap]\nallow_plaintext_login = true\n\
                 [imap.listener]\nlisten = \"127.0.0.1:{port}\"\ntls = \"none\"\nmax_connections = {max}\n\
                 [proxy]\nnetworks = [\"127.0.0.1/32\"]\n[[proxy.identities]]\nname = \"mmp\"\nsecret_file = {secret:?}\n",
                secret = secret.display().to_string(),
                sys = dir.join("system").display().to_string(),
                part = dir.join("primary").display().to_string(),
                data = data_path.display().to_string(),
                max = users + 100,
            ),
        )?;
        let version = format!(
            "{} (release mailstore {})",
            env!("CARGO_PKG_VERSION"),
            binary.display()
        );
        let child = Self::spawn_tiermail(&binary, &config, dir)?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let me = Self {
            name: "tiermail",
            version,
            addr,
            dir: dir.to_path_buf(),
            kind: Kind::Tiermail {
                binary,
                config,
                child,
            },
            proxy: false,
        };
        wait_listening(addr, "mailstore")
            .map_err(|e| format!("{e}; see {}", dir.join("service.log").display()))?;
        Ok(me)
    }

    /// The release `mmp` in front of the store at `store`: plain IMAP on
    /// a loopback port (plaintext logins allowed, as at the store), a
    /// file directory with the store's users and passwords, every user
    /// routed to the store (`default_host`), the trusted-proxy login with
    /// `secret`, no TLS on either hop and no per-address connection limit
    /// (every client is 127.0.0.1).
    fn mmp(dir: &Path, store: SocketAddr, users: usize, secret: &Path) -> Result<Self, BoxError> {
        let binary = sibling_binary("mmp", "MMP_BIN")?;
        std::fs::create_dir_all(dir)?;
        let data_path = write_directory(dir, users)?;
        let port = mail_testkit::free_port()?;
        let config = dir.join("mmp.toml");
        std::fs::write(
            &config,
            format!(
                "[service]\nadmin_listen = \"127.0.0.1:0\"\ndrain_timeout = \"2s\"\n\
                 [telemetry]\n\
                 [directory]\nbackend = \"file\"\npath = {data:?}\n\
                 [imap]\nallow_plaintext_login = true\n\
                 [imap.listener]\nlisten = \"127.0.0.1:{port}\"\ntls = \"none\"\nmax_connections = {max}\n\
                 [backend]\nidentity = \"mmp\"\nsecret_file = {secret:?}\ndefault_host = \"localhost\"\n\
                 [backend.hosts.\"localhost\"]\naddress = \"127.0.0.1\"\nimap_port = {store_port}\n\
                 [backend.dns]\nenabled = false\n\
                 [limits]\nmax_connections_per_ip = 0\n",
                data = data_path.display().to_string(),
                secret = secret.display().to_string(),
                store_port = store.port(),
                max = users + 100,
            ),
        )?;
        let version = format!(
            "{} (release mmp {}, trusted-proxy login)",
            env!("CARGO_PKG_VERSION"),
            binary.display()
        );
        let child = Self::spawn_tiermail(&binary, &config, dir)?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let me = Self {
            name: "mmp",
            version,
            addr,
            dir: dir.to_path_buf(),
            kind: Kind::Tiermail {
                binary,
                config,
                child,
            },
            proxy: true,
        };
        wait_listening(addr, "mmp")
            .map_err(|e| format!("{e}; see {}", dir.join("service.log").display()))?;
        Ok(me)
    }

    /// Dovecot as an IMAP proxy in front of the store at `store`: every
    /// user's passdb entry says `proxy=y host= port=`, so `imap-login`
    /// checks the password (passwd-file) and then logs in at the store
    /// with the user's own password and relays; no local mail.
    fn dovecot_proxy(
        dir: &Path,
        store: SocketAddr,
        users: usize,
        mode: ProxyMode,
    ) -> Result<Self, BoxError> {
        let limit = users + 100;
        let login = match mode {
            ProxyMode::Security => format!("  process_limit = {limit}\n"),
            ProxyMode::Performance => {
                format!("  service_count = 0\n  process_min_avail = 2\n  client_limit = {limit}\n")
            }
        };
        let config = DovecotConfig::new("tiermail-imap-bench-proxy")
            .protocol(Protocol::Imap)
            .test_users(users)
            .password(PASSWORD)
            .domain(DOMAIN)
            .user_fields(&format!(
                "proxy=y host={} port={}",
                store.ip(),
                store.port()
            ))
            .extra(&format!(
                "disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
                 default_client_limit = {client_limit}\n\
                 service imap-login {{\n{login}}}\n",
                client_limit = 4 * limit,
            ));
        let dovecot = Dovecot::start(dir, &config)?;
        let addr = dovecot
            .addr(Protocol::Imap)
            .ok_or("dovecot serves no IMAP")?;
        let (name, how) = match mode {
            ProxyMode::Performance => ("dovproxy", "high-performance mode"),
            ProxyMode::Security => ("dovproxy1", "one process per connection"),
        };
        Ok(Self {
            name,
            version: format!(
                "{} (imap-login proxy, {how})",
                mail_testkit::dovecot::version()
            ),
            addr,
            dir: dir.to_path_buf(),
            kind: Kind::Dovecot(dovecot),
            proxy: true,
        })
    }

    fn spawn_tiermail(binary: &Path, config: &Path, dir: &Path) -> Result<Child, BoxError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("service.log"))?;
        Ok(Command::new(binary)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?)
    }

    /// Dovecot's IMAP from a private configuration (mail_testkit's, as
    /// lmtp_bench's and smtp_bench's), with limits for `users` connections.
    ///
    /// With `master_secret`, `mmp` may log in as a Dovecot master user with
    /// that password: SASL PLAIN with the user as authorization identity,
    /// the MMP's trusted-proxy login (docs/mmp.md).
    fn dovecot(dir: &Path, users: usize, master_secret: Option<&str>) -> Result<Self, BoxError> {
        let limit = users + 100;
        let master = match master_secret {
            Some(secret) => {
                std::fs::create_dir_all(dir)?;
                let masters = dir.join("masters");
                std::fs::write(&masters, format!("mmp:{{PLAIN}}{secret}\n"))?;
                format!(
                    "passdb {{\n  driver = passwd-file\n  master = yes\n  args = scheme=PLAIN {}\n}}\n",
                    masters.display()
                )
            }
            None => String::new(),
        };
        let config = DovecotConfig::new("tiermail-imap-bench")
            .protocol(Protocol::Imap)
            .test_users(users)
            .password(PASSWORD)
            .domain(DOMAIN)
            .extra(&format!(
                "disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
                 mail_max_userip_connections = {limit}\n\
                 default_client_limit = {client_limit}\n\
                 service imap {{\n  process_limit = {limit}\n}}\n{master}",
                client_limit = 4 * limit,
            ));
        let dovecot = Dovecot::start(dir, &config)?;
        let addr = dovecot
            .addr(Protocol::Imap)
            .ok_or("dovecot serves no IMAP")?;
        Ok(Self {
            name: "dovecot",
            version: format!(
                "{} (Maildir, passwd-file)",
                mail_testkit::dovecot::version()
            ),
            addr,
            dir: dir.to_path_buf(),
            kind: Kind::Dovecot(dovecot),
            proxy: false,
        })
    }

    /// Stops Tiermail's process (Dovecot stops when dropped).
    fn stop_tiermail(child: &mut Child) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > until => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Stops and starts the server over the same data (fresh memory).
    fn restart(&mut self) -> Result<(), BoxError> {
        match &mut self.kind {
            Kind::Tiermail {
                binary,
                config,
                child,
            } => {
                Self::stop_tiermail(child);
                // Let the kernel release the port of the old process.
                std::thread::sleep(Duration::from_millis(300));
                *child = Self::spawn_tiermail(binary, config, &self.dir)?;
                wait_listening(self.addr, self.name)
            }
            Kind::Dovecot(d) => Ok(d.restart()?),
        }
    }

    /// CPU time used by the server's processes, live ones and reaped
    /// children alike (Dovecot's exited imap processes).
    fn cpu(&self) -> Duration {
        let ticks: u64 = self
            .processes()
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .filter_map(|stat| {
                let fields: Vec<u64> = stat
                    .rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .skip(11)
                    .take(4)
                    .filter_map(|f| f.parse().ok())
                    .collect();
                Some(fields.iter().sum::<u64>())
            })
            .sum();
        // USER_HZ is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }

    /// Resident memory of the server: the process and all its descendants.
    fn memory(&self) -> Memory {
        let mut m = Memory::default();
        for pid in self.processes() {
            m.processes += 1;
            m.rss_kib += proc_kib(&format!("/proc/{pid}/status"), "VmRSS:");
            m.pss_kib += proc_kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:");
        }
        m
    }

    /// The server process and all its descendants.
    fn processes(&self) -> Vec<u32> {
        match &self.kind {
            Kind::Tiermail { child, .. } => mail_testkit::process::tree(child.id()),
            Kind::Dovecot(d) => d.processes(),
        }
    }
}

fn proc_kib(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Kind::Tiermail { child, .. } = &mut self.kind {
            Self::stop_tiermail(child);
        }
    }
}

// ---------------------------------------------------------------- messages

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
}

const FIRST: [&str; 16] = [
    "Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Olivia", "Peggy", "Rupert", "Trent", "Walter",
];
const LAST: [&str; 10] = [
    "Smith", "Jones", "Garcia", "Nguyen", "Kowalski", "Tanaka", "Rossi", "Dubois", "Virtanen",
    "Novak",
];
const DOMAINS: [&str; 4] = [
    "example.com",
    "example.org",
    "example.net",
    "mail.example.test",
];
const TOPICS: [&str; 12] = [
    "Quarterly report",
    "Lunch on Friday?",
    "Build failure on main",
    "Meeting notes",
    "Holiday schedule",
    "Server migration plan",
    "Code review request",
    "Your order has shipped",
    "Weekly newsletter",
    "Security advisory",
    "Conference travel",
    "Budget approval",
];
const WORDS: &str = "the of and to in is that for it as with was on be at by this had not are \
    but from or have an they which one you were her all she there would their we him been has \
    when who will more no if out so said what up its about into than them can only other new \
    some could time these two may then do first any my now such like our over man me even most \
    made after also did many before must through back years where much your way well down \
    should because each just those people how too little state good very make world still own \
    see men work long get here between both life being under never day same another know while \
    last might us great old year off come since against go came right used take three mailbox \
    server message delivery queue index cache protocol latency throughput";

fn person(rng: &mut Rng) -> String {
    let f = rng.pick(&FIRST);
    let l = rng.pick(&LAST);
    let d = rng.pick(&DOMAINS);
    format!("{f} {l} <{}.{}@{d}>", f.to_lowercase(), l.to_lowercase())
}

/// Wrapped text of about `n` octets, CRLF line ends.
fn text(rng: &mut Rng, n: usize) -> String {
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut out = String::with_capacity(n + 80);
    let mut line = 0;
    while out.len() < n {
        let w = rng.pick(&words);
        if line + w.len() + 1 > 72 {
            out.push_str("\r\n");
            line = 0;
            if rng.below(8) == 0 {
                out.push_str("\r\n");
            }
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(w);
        line += w.len();
    }
    out.push_str("\r\n");
    out
}

fn base64_lines(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 4);
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= c.len() {
                out.push(T[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.push_str("\r\n");
    out
}

/// A deterministic corpus in the spirit of gen_mbox.py: 60 % short
/// text/plain (1-8 KiB), 20 % multipart/alternative text+HTML, 12 % with a
/// base64 attachment (20-200 KiB), 8 % long text (30-120 KiB); a third are
/// replies.
fn generate_corpus(count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(20240601);
    let mut sent: Vec<(String, String)> = Vec::new();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut h = String::new();
        h.push_str(&format!("From: {}\r\n", person(&mut rng)));
        let to: Vec<String> = (0..rng.range(1, 3)).map(|_| person(&mut rng)).collect();
        h.push_str(&format!("To: {}\r\n", to.join(", ")));
        if rng.below(10) < 3 {
            h.push_str(&format!("Cc: {}\r\n", person(&mut rng)));
        }
        let subject = if !sent.is_empty() && rng.below(3) == 0 {
            let (s, mid) = sent[rng.below(sent.len() as u64) as usize].clone();
            h.push_str(&format!("In-Reply-To: {mid}\r\nReferences: {mid}\r\n"));
            format!("Re: {}", s.trim_start_matches("Re: "))
        } else {
            rng.pick(&TOPICS).to_string()
        };
        let mid = format!("<{i}.{:016x}@bench.example.test>", rng.next());
        // One message every 37 minutes from 2024-01-01 00:00 UTC.
        let sent_at = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(1_704_067_200 + 37 * 60 * i as u64);
        h.push_str(&format!(
            "Subject: {subject}\r\nDate: {}\r\nMessage-ID: {mid}\r\n\
             X-Mailer: Tiermail imap_bench\r\nMIME-Version: 1.0\r\n",
            mail_core::date::rfc5322(sent_at)
        ));
        sent.push((subject, mid));
        let r = rng.below(100);
        let boundary = format!("=_bench_{i}_{:08x}", rng.next() as u32);
        let body = if r < 60 {
            let n = rng.range(1024, 8192);
            format!(
                "Content-Type: text/plain; charset=utf-8\r\n\r\n{}",
                text(&mut rng, n)
            )
        } else if r < 80 {
            let n = rng.range(1024, 6144);
            let t = text(&mut rng, n);
            let html = format!(
                "<html><body><p>{}</p></body></html>\r\n",
                t.replace("\r\n\r\n", "</p>\r\n<p>")
            );
            format!(
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
                 --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{t}\
                 --{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\
                 --{boundary}--\r\n"
            )
        } else if r < 92 {
            let n = rng.range(512, 3072);
            let t = text(&mut rng, n);
            let size = rng.range(20 * 1024, 200 * 1024);
            let blob: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
            let (ty, name) = match rng.below(3) {
                0 => ("application/pdf", "report.pdf"),
                1 => ("image/png", "photo.png"),
                _ => ("application/octet-stream", "data.bin"),
            };
            format!(
                "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
                 --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{t}\
                 --{boundary}\r\nContent-Type: {ty}\r\nContent-Transfer-Encoding: base64\r\n\
                 Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{}\
                 --{boundary}--\r\n",
                base64_lines(&blob)
            )
        } else {
            let n = rng.range(30 * 1024, 120 * 1024);
            format!(
                "Content-Type: text/plain; charset=utf-8\r\n\r\n{}",
                text(&mut rng, n)
            )
        };
        h.push_str(&body);
        out.push(h.into_bytes());
    }
    out
}

/// Messages of an mbox file (e.g. gen_mbox.py's), with CRLF line ends.
fn read_mbox(path: &Path) -> Result<Vec<Vec<u8>>, BoxError> {
    let data = std::fs::read(path)?;
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(m) = cur.take() {
                out.push(m);
            }
            cur = Some(Vec::new());
            continue;
        }
        let Some(m) = cur.as_mut() else { continue };
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        // mboxrd/mboxo quoting of "From " lines.
        let unquoted = match body.iter().position(|&b| b != b'>') {
            Some(n) if n > 0 && body[n..].starts_with(b"From ") => &body[1..],
            _ => body,
        };
        m.extend_from_slice(unquoted);
        m.extend_from_slice(b"\r\n");
    }
    if let Some(m) = cur {
        out.push(m);
    }
    for m in &mut out {
        // The blank line mbox puts between messages.
        while m.ends_with(b"\r\n\r\n") {
            m.truncate(m.len() - 2);
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no messages", path.display()).into());
    }
    Ok(out)
}
