//! Development tasks: the code generator from Apple's YAML schemas.

fn main() {
    eprintln!("xtask: not yet implemented");
    std::process::exit(2);
}
