//! Command-line tool: offline inspection of MDM payloads and the server's admin API.

fn main() {
    eprintln!("mdmctl: not yet implemented");
    std::process::exit(2);
}
