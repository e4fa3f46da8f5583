//! Rebuilds the crate when a migration is added, changed or removed: `sqlx::migrate!` embeds
//! the migrations at compile time, and on stable Rust a proc macro cannot tell Cargo which
//! files it read.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
