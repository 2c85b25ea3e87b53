//! NNTP load generator (placeholder, being written).
fn main() {}
