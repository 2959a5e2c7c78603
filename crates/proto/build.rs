//! Generates the gRPC code from `proto/` at build time. protoc comes from the
//! `protoc-bin-vendored` crate, so a fresh machine needs no system package.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // The run-time variable, not `env!`: cargo reuses a compiled build
    // script for a checkout at another path (its hash leaves the path
    // out), and a path baked in at compile time would point at the first
    // checkout, which may be gone.
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        root.join("jobctl/v1/jobctl.proto"),
        root.join("store/admin/v1/admin.proto"),
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure().compile_with_config(config, &files, &[root])?;
    Ok(())
}
