//! A full MDM server assembled from the workspace's crates.

fn main() {
    eprintln!("mdm-server: not yet implemented");
    std::process::exit(2);
}
