//! `mailctl`: the administration command line (see `mailctl --help`).

fn main() -> std::process::ExitCode {
    mailctl::main()
}
