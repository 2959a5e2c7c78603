//! `mta-outbound`: the SMTP submission relay (issue #6).

fn main() -> std::process::ExitCode {
    mail_core::service::main_not_built("mta-outbound", "the SMTP submission relay (issue #6)")
}
