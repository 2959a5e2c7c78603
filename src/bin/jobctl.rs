//! `jobctl`: the job controller (issue #6).

fn main() -> std::process::ExitCode {
    mail_core::service::main_not_built("jobctl", "the job controller (issue #6)")
}
