//! `mailstore`: the message store (issues #4, #5).

fn main() -> std::process::ExitCode {
    mail_core::service::main_not_built("mailstore", "the message store (issues #4, #5)")
}
