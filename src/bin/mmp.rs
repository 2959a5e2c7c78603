//! `mmp`: the IMAP/POP proxy.

fn main() -> std::process::ExitCode {
    mail_core::service::main_not_built("mmp", "the IMAP/POP proxy")
}
