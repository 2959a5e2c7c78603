//! `mem`: the webmail multiplexor.

fn main() -> std::process::ExitCode {
    mail_core::service::main_not_built("mem", "the webmail multiplexor")
}
