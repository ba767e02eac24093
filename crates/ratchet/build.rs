//! Compiles `proto/encryption.proto` with protox (no `protoc` needed) into prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/encryption.proto");
    let descriptors = protox::compile(["proto/encryption.proto"], ["proto"])?;
    prost_build::Config::new()
        // Deterministic map order (installation ids sorted), so encodings are reproducible.
        .btree_map(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
