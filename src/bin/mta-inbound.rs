//! `mta-inbound`: the inbound SMTP relay (issue #6).

fn main() -> std::process::ExitCode {
    mail_core::service::main_not_built("mta-inbound", "the inbound SMTP relay (issue #6)")
}
