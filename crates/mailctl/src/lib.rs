//! `mailctl`: one command line for the operator. Each subcommand lives in
//! its own module; `main` only parses arguments and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench;
pub mod cert;
pub mod dirconf;
pub mod domain;
pub mod group;
pub mod grpc;
pub mod http;
pub mod queue;
pub mod route;
pub mod store;
pub mod up;
pub mod user;

/// Tiermail administration.
#[derive(Debug, Parser)]
#[command(name = "mailctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the argument structs does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Start the whole system on loopback with embedded defaults.
    Up(up::UpArgs),
    /// Users: add, modify, delete, show, list (`--directory FILE`).
    User(user::UserArgs),
    /// Groups and distribution lists: add, members, delete.
    Group(group::GroupArgs),
    /// Hosted domains: add, list.
    Domain(domain::DomainArgs),
    /// Measurements, e.g. `mailctl bench directory`.
    Bench(bench::BenchArgs),
    /// List and steer the delivery queue (through the job controller).
    Queue(queue::QueueArgs),
    /// Routing dry runs: `mailctl route test ADDRESS`.
    Route(route::RouteArgs),
    /// The message store: quotas, mailboxes, reconstruct, snapshot/restore, export/import.
    Store(store::StoreArgs),
    /// The control plane's CA: create it, issue and show certificates.
    Cert(cert::CertArgs),
}

/// Entry point of the `mailctl` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mailctl: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let done = match cli.command {
            Command::Up(args) => up::run(args).await,
            Command::User(args) => user::run(args).await,
            Command::Group(args) => group::run(args).await,
            Command::Domain(args) => domain::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Queue(args) => queue::run(args).await,
            Command::Store(args) => store::run(args).await,
            Command::Cert(args) => cert::run(args).await,
            // Its exit status says whether the address routes.
            Command::Route(args) => return route::run(args).await,
        };
        done.map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
