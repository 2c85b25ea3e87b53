#![allow(clippy::unwrap_used, missing_docs)]
//! CPU-time measurement of parse + transit validation + overview, for shared machines
//! where criterion wall-clock figures are disturbed: run under `/usr/bin/time` with an
//! argument of `all` (default), `parse`, `validate` or `overview`; 1,000,000 iterations
//! (or the count given as a second argument, e.g. a small one under callgrind), so user
//! seconds = microseconds per article.
use std::hint::black_box;
use tidings_article::{Headers, Overview, validate_transit};
include!("../benches/common/sample_article.rs");

fn main() {
    let art = article();
    let which = std::env::args().nth(1).unwrap_or_default();
    let n: u32 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let h0 = Headers::parse(&art).unwrap();
    for _ in 0..n {
        match which.as_str() {
            "parse" => {
                black_box(Headers::parse(black_box(&art)).unwrap());
            }
            "validate" => {
                validate_transit(black_box(&h0)).unwrap();
            }
            "overview" => {
                black_box(Overview::from_headers(black_box(&h0)));
            }
            _ => {
                let h = Headers::parse(black_box(&art)).unwrap();
                validate_transit(&h).unwrap();
                black_box(Overview::from_headers(&h));
            }
        }
    }
}
