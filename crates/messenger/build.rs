//! Compiles `proto/status.proto` and `proto/pairing.proto` with protox (no `protoc` needed) into prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/status.proto");
    println!("cargo:rerun-if-changed=proto/pairing.proto");
    let descriptors = protox::compile(["status.proto", "pairing.proto"], ["proto"])?;
    prost_build::Config::new()
        // Deterministic map order (ChatIdentity images), so encodings are reproducible.
        .btree_map(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
