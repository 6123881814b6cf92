//! Throughput of command encoding and typed report decoding.
fn main() {}
