//! A standalone SCEP CA server built on scep-proto.

fn main() {
    eprintln!("scep-server: not yet implemented");
    std::process::exit(2);
}
