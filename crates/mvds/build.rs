//! Compiles `proto/mvds.proto` with protox (pure Rust, no `protoc`) and prost-build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/mvds.proto");
    let fds = protox::compile(["mvds.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
